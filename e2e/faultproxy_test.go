package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// faultProxy stands between remint and the simulator and fails chosen API calls, so a
// test can make one exact call fail (the builder's stop, the snapshot, the image update
// that promotes) without restarting the simulator. It rewrites the simulator's own URL in
// every answer (the Keystone catalog, version documents, Location headers) to its own, so
// every later call goes through it too.
type faultProxy struct {
	url        string
	cloudsYAML string // a clouds.yaml for the cloud remint-sim through this proxy

	mu    sync.Mutex
	rules []*faultRule
	hits  []string // the calls that were failed, for messages
}

// faultRule fails calls matching Method, Path (a regexp on the path) and Body (a
// substring of the request body): the first Skip matching calls pass, then Times calls
// (0: all) are answered 403.
type faultRule struct {
	Method string
	Path   string
	Body   string
	Skip   int
	Times  int

	re   *regexp.Regexp
	seen int
}

func newFaultProxy(t *testing.T, c *cloud, rules ...*faultRule) *faultProxy {
	t.Helper()
	raw, err := os.ReadFile(c.cloudsYAML)
	require.NoError(t, err)
	m := regexp.MustCompile(`auth_url: (http://[^/\s]+)`).FindSubmatch(raw)
	require.NotNil(t, m, "auth_url in %s", c.cloudsYAML)
	target, err := url.Parse(string(m[1]))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &faultProxy{url: "http://" + ln.Addr().String(), rules: rules}
	for _, r := range rules {
		r.re = regexp.MustCompile(r.Path)
	}
	simURL := []byte(target.String())
	rp := httputil.NewSingleHostReverseProxy(target)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("Accept-Encoding") // bodies are rewritten: keep them plain
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = bytes.ReplaceAll(body, simURL, []byte(p.url))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if loc := resp.Header.Get("Location"); loc != "" {
			resp.Header.Set("Location", strings.ReplaceAll(loc, string(simURL), p.url))
		}
		return nil
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if p.fails(r.Method, r.URL.Path, string(body)) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"forbidden": {"code": 403, "message": "Policy doesn't allow this (injected by the e2e fault proxy)."}}`))
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.cloudsYAML = filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(p.cloudsYAML, bytes.ReplaceAll(raw, simURL, []byte(p.url)), 0o600))
	return p
}

func (p *faultProxy) fails(method, path, body string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if r.Method != method || !r.re.MatchString(path) || !strings.Contains(body, r.Body) {
			continue
		}
		r.seen++
		if r.seen <= r.Skip || (r.Times > 0 && r.seen > r.Skip+r.Times) {
			continue
		}
		p.hits = append(p.hits, method+" "+path)
		return true
	}
	return false
}

func (p *faultProxy) failed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hits...)
}
