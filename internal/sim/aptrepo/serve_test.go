package aptrepo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	_, err := r.PublishDemo(t.Context())
	require.NoError(t, err)
	// A symlink out of the served tree must not be followed.
	require.NoError(t, os.Symlink(filepath.Join(r.Dir(), "key", "signing-key.asc"), filepath.Join(r.Dir(), "debian", "leak.asc")))
	ts := httptest.NewServer(r.Handler())
	defer ts.Close()

	for _, tc := range []struct {
		path, method string
		status       int
		ctype        string
		lastModified bool
	}{
		{"/debian/dists/bookworm-security/InRelease", "GET", 200, "text/plain; charset=utf-8", false},
		{"/debian/dists/bookworm/Release.gpg", "GET", 200, "application/pgp-signature", false},
		{"/debian/dists/bookworm/main/binary-amd64/Packages.gz", "GET", 200, "application/gzip", false},
		{"/debian/pool/main/d/demo-tool/demo-tool_2.0-1_all.deb", "GET", 200, "application/vnd.debian.binary-package", true},
		{"/debian/pool/main/d/demo-tool/demo-tool_2.0-1_all.deb", "HEAD", 200, "application/vnd.debian.binary-package", true},
		{"/debian/remint-archive-keyring.gpg", "GET", 200, "application/pgp-keys", false},
		{"/debian/remint-archive-keyring.asc", "GET", 200, "application/pgp-signature", false},
		{"/debian/dists/bookworm/", "GET", 404, "", false},
		{"/debian/", "GET", 404, "", false},
		{"/key/signing-key.asc", "GET", 404, "", false},
		{"/debian/../key/signing-key.asc", "GET", 404, "", false},
		{"/debian/leak.asc", "GET", 404, "", false},
		{"/debian/dists/bookworm/.Release.tmp123", "GET", 404, "", false},
		{"/debian/dists/bookworm/InRelease", "POST", 405, "", false},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, ts.URL+tc.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s: %s", tc.method, tc.path, body)
		if tc.status == 200 {
			assert.Equal(t, tc.ctype, resp.Header.Get("Content-Type"), tc.path)
			assert.Equal(t, tc.lastModified, resp.Header.Get("Last-Modified") != "", tc.path)
		}
		assert.NotContains(t, string(body), "PRIVATE KEY", tc.path)
	}
}
