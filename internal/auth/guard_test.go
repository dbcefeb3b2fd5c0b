package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
)

func TestTokensAndGuardSQLite(t *testing.T) {
	t.Parallel()
	testTokensAndGuard(t, filepath.Join(t.TempDir(), "state.db"))
}

func TestTokensAndGuardPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	testTokensAndGuard(t, pgtest.Start(t))
}

// Tokens are created (secret shown once, hash stored), listed, used and revoked; the
// guard answers 401 without a token, with a wrong or revoked one, 403 for a read-only
// token on a write, and passes the principal to the handler otherwise.
func testTokensAndGuard(t *testing.T, path string) {
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	tok := &auth.Tokens{Store: st, Now: func() time.Time { return now }}

	admin, rec, err := tok.Create(ctx, "admin", false, "test")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(admin, auth.TokenPrefix), admin)
	require.Greater(t, len(admin), 40)
	require.NotContains(t, rec.Hash, admin)
	ro, _, err := tok.Create(ctx, "viewer", true, "test")
	require.NoError(t, err)
	require.NotEqual(t, admin, ro)
	_, _, err = tok.Create(ctx, "admin", true, "test")
	require.ErrorIs(t, err, store.ErrTokenExists)
	_, _, err = tok.Create(ctx, "has space", true, "test")
	var bad auth.BadNameError
	require.ErrorAs(t, err, &bad)

	list, err := tok.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, l := range list {
		require.Len(t, l.Hash, 64)
		require.NotContains(t, []string{admin, ro}, l.Hash, "only the hash is stored")
		require.True(t, l.LastUsed.IsZero())
	}

	var seen auth.Principal
	logs := &lockedBuffer{}
	h := (&auth.Guard{Auth: tok, Log: slog.New(slog.NewTextHandler(logs, nil))}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = auth.FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(method, secret string) (int, string, http.Header) {
		req, err := http.NewRequest(method, srv.URL+"/v1/jobs", nil)
		require.NoError(t, err)
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error, resp.Header
	}

	code, msg, hdr := call("GET", "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
	require.Contains(t, msg, "bearer token is required")
	code, msg, _ = call("GET", admin+"x")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, msg, "unknown token")
	code, _, _ = call("GET", "not-a-token")
	require.Equal(t, http.StatusUnauthorized, code)

	code, _, _ = call("POST", admin)
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, auth.Principal{Name: "admin"}, seen)
	require.Equal(t, "token admin", seen.RequestedBy())
	require.Contains(t, logs.String(), `msg="api write" token=admin method=POST path=/v1/jobs status=204`, "every write is logged with who made it")
	require.NotContains(t, logs.String(), admin, "never the secret")

	code, _, _ = call("GET", ro)
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, auth.Principal{Name: "viewer", ReadOnly: true}, seen)
	code, _, _ = call("HEAD", ro)
	require.Equal(t, http.StatusNoContent, code)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		code, msg, _ = call(m, ro)
		require.Equal(t, http.StatusForbidden, code, m)
		require.Contains(t, msg, "read-only")
	}

	list, err = tok.List(ctx)
	require.NoError(t, err)
	require.Equal(t, now, list[0].LastUsed.UTC(), "admin's last use is recorded")

	revoked, err := tok.Revoke(ctx, "admin")
	require.NoError(t, err)
	require.Equal(t, now, revoked.Revoked.UTC())
	code, msg, _ = call("GET", admin)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, msg, "revoked")
	_, err = tok.Revoke(ctx, "nobody")
	require.ErrorIs(t, err, store.ErrTokenNotFound)
	n, err := st.CountValidTokens(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// lockedBuffer is a bytes.Buffer the server's goroutines may log into.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
