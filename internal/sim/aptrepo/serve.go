package aptrepo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// URLPath is where Handler serves the repository, as Debian mirrors serve /debian.
const URLPath = "/debian"

// Handler serves the repository read-only under /debian/ (files only, no listings).
// The signing key's private part lives outside the served tree and cannot be reached.
func (r *Repo) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel, ok := strings.CutPrefix(path.Clean(req.URL.Path), URLPath+"/")
		if !ok || rel == "" || strings.HasPrefix(path.Base(rel), ".") {
			http.NotFound(w, req)
			return
		}
		root, err := os.OpenRoot(r.root) // refuses paths and symlinks that leave the tree
		if err != nil {
			http.Error(w, "repository unavailable", http.StatusInternalServerError)
			return
		}
		defer root.Close()
		f, err := root.Open(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				http.NotFound(w, req)
				return
			}
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", contentType(rel))
		// Pool files and by-hash indices never change once written; the rest (InRelease,
		// Packages, …) is replaced in place, possibly within the same second, where
		// If-Modified-Since would wrongly answer 304. Those go without Last-Modified.
		modTime := st.ModTime()
		if !immutable(rel) {
			modTime = time.Time{}
			w.Header().Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, req, "", modTime, f)
	})
}

func immutable(rel string) bool {
	return strings.HasPrefix(rel, "pool/") || strings.Contains(rel, "/by-hash/")
}

// contentType follows what Debian's mirrors send.
func contentType(name string) string {
	base := path.Base(name)
	switch {
	case strings.HasSuffix(base, ".deb"):
		return "application/vnd.debian.binary-package"
	case strings.HasSuffix(base, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(base, ".xz"):
		return "application/x-xz"
	case base == "Release.gpg" || strings.HasSuffix(base, ".asc"):
		return "application/pgp-signature"
	case strings.HasSuffix(base, ".gpg"):
		return "application/pgp-keys"
	case strings.Contains(name, "/by-hash/"):
		return "application/octet-stream" // may be Packages or Packages.gz
	}
	return "text/plain; charset=utf-8"
}

// Server is a running HTTP server for a Repo.
type Server struct {
	srv  *http.Server
	addr net.Addr
}

// Serve listens on listenAddr (e.g. "127.0.0.1:0", or the Docker bridge gateway
// "172.17.0.1:0" so containers reach it) and serves the repository until ctx ends or
// Close is called.
func (r *Repo) Serve(ctx context.Context, listenAddr string) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("serve apt repository %s on %s: %w", r.dir, listenAddr, err)
	}
	s := &Server{
		srv:  &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr(),
	}
	stop := context.AfterFunc(ctx, func() { _ = s.srv.Close() })
	go func() {
		_ = s.srv.Serve(ln) // returns ErrServerClosed after Close
		stop()
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// URL is the repository's base URL for sources.list, e.g. http://127.0.0.1:40123/debian.
func (s *Server) URL() string { return "http://" + s.addr.String() + URLPath }

// Close stops the server at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
