package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"
	"sync"
)

// UploadOption changes how Upload writes a file.
type UploadOption func(*uploadOptions)

type uploadOptions struct {
	sudo bool
}

// WithSudo writes the file as root through "sudo -n", for paths the login user cannot
// write (/etc/apt/…). The file is then owned by root.
func WithSudo() UploadOption { return func(o *uploadOptions) { o.sudo = true } }

// The upload's two steps, run by sh with the paths and mode as positional arguments (never
// pasted into the script). The temporary file lives beside the target so the final mv is
// an atomic rename; noclobber refuses to reuse a name that already exists.
const (
	// $1 temporary path
	uploadWriteScript = `set -C; umask 077; cat > "$1"`
	// $1 temporary path, $2 expected SHA-256, $3 octal mode, $4 target path
	uploadCommitScript = `sum=$(sha256sum < "$1") || exit 1
sum=${sum%% *}
if [ "$sum" != "$2" ]; then echo "content arrived as sha256 $sum, sent $2" >&2; rm -f -- "$1"; exit 1; fi
chmod -- "$3" "$1" && mv -f -- "$1" "$4" || { rm -f -- "$1"; exit 1; }`
)

// Upload writes content to path on the server with the given permission bits, atomically:
// it is streamed into a temporary file beside path, checked against the SHA-256 of what
// was sent, then renamed over path. A failed upload leaves path as it was. It needs only
// sh and coreutils on the server (no scp or sftp).
func (c *Client) Upload(ctx context.Context, path string, mode fs.FileMode, content io.Reader, opts ...UploadOption) error {
	var o uploadOptions
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || strings.HasSuffix(path, "/") {
		return fmt.Errorf("upload to %s: %q is not a file path", c.addr, path)
	}
	if mode&^fs.ModePerm != 0 {
		return fmt.Errorf("upload %s to %s: mode %v: only permission bits can be set", path, c.addr, mode)
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	tmp := path + ".remint-upload-" + hex.EncodeToString(suffix)
	prefix := []string{}
	if o.sudo {
		prefix = []string{"sudo", "-n"}
	}
	cleanup := func() {
		// The server may be gone; a leftover temporary file is harmless and says what it is.
		_, _ = c.Run(context.WithoutCancel(ctx), append(prefix, "rm", "-f", "--", tmp))
	}

	in := &hashingReader{r: content, h: sha256.New()}
	res, err := c.Exec(ctx, Cmd{Argv: append(prefix, "sh", "-c", uploadWriteScript, "sh", tmp), Stdin: in})
	if rerr := in.readErr(); rerr != nil {
		cleanup()
		return fmt.Errorf("upload %s to %s: read the content: %w", path, c.addr, rerr)
	}
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		cleanup()
		return fmt.Errorf("upload %s to %s: %w", path, c.addr, err)
	}
	sum := hex.EncodeToString(in.h.Sum(nil))
	res, err = c.Run(ctx, append(prefix, "sh", "-c", uploadCommitScript, "sh", tmp, sum, fmt.Sprintf("%04o", mode.Perm()), path))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		var exit *ExitError
		if !errors.As(err, &exit) {
			cleanup() // the script did not get to clean up after itself
		}
		return fmt.Errorf("upload %s to %s: %w", path, c.addr, err)
	}
	return nil
}

// hashingReader hashes what is read and remembers a read error, so that a short read is
// never mistaken for the whole content. The SSH session reads it from its own goroutine.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	mu  sync.Mutex
	err error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	if err != nil && err != io.EOF {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
	}
	return n, err
}

func (h *hashingReader) readErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}
