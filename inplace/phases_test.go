package inplace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/debian"
)

func TestSecurityPlan(t *testing.T) {
	t.Parallel()
	install, left := securityPlan([]debian.Upgrade{
		{Name: "demo-libssl", Installed: "1.0-1", Candidate: "1.0-1+deb12u1", Security: true, SecurityVersion: "1.0-1+deb12u1"},
		{Name: "demo-tool", Installed: "1.0-1", Candidate: "2.0-1"},
		// The candidate comes from -updates, a lower version from -security: the security one.
		{Name: "libfoo", Installed: "1.0", Candidate: "1.2", Security: true, SecurityVersion: "1.1"},
	})
	assert.Equal(t, []debian.Pin{{Name: "demo-libssl", Version: "1.0-1+deb12u1"}, {Name: "libfoo", Version: "1.1"}}, install)
	require.Len(t, left, 1)
	assert.Equal(t, "demo-tool", left[0].Name)
}

func TestRebootDecision(t *testing.T) {
	t.Parallel()
	wanted := debian.RebootRequired{Required: true, Packages: []string{"libc6"}}
	for _, tc := range []struct {
		policy string
		rr     debian.RebootRequired
		want   bool
	}{
		{RebootNever, wanted, false},
		{RebootIfRequired, wanted, true},
		{RebootIfRequired, debian.RebootRequired{}, false},
		{RebootAlways, debian.RebootRequired{}, true},
	} {
		assert.Equal(t, tc.want, rebootDecision(tc.policy, tc.rr), "%s %+v", tc.policy, tc.rr)
	}
}

func TestFetchScriptVerifiesChecksum(t *testing.T) {
	t.Parallel()
	body := []byte("#!/bin/sh\necho weave\n")
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()

	got, err := FetchScript(context.Background(), srv.Client(), WeaveSpec{ScriptURL: srv.URL + "/weave", SHA256: strings.ToUpper(good)})
	require.NoError(t, err)
	assert.Equal(t, body, got)

	bad := strings.Repeat("ab", 32)
	_, err = FetchScript(context.Background(), srv.Client(), WeaveSpec{ScriptURL: srv.URL + "/weave", SHA256: bad})
	var ce *ChecksumError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, good, ce.Actual)
	assert.Equal(t, bad, ce.Expected)
	assert.Contains(t, err.Error(), "refused, no server was touched")

	f := filepath.Join(t.TempDir(), "weave")
	require.NoError(t, os.WriteFile(f, body, 0o644))
	_, err = FetchScript(context.Background(), nil, WeaveSpec{ScriptURL: "file://" + f, SHA256: good})
	require.NoError(t, err)
	_, err = FetchScript(context.Background(), nil, WeaveSpec{ScriptURL: "ftp://x/weave", SHA256: good})
	assert.ErrorContains(t, err, "want https://")
}

func TestParseWeaveVersion(t *testing.T) {
	t.Parallel()
	// Weave 2.8.1's own output with the router running, and without.
	assert.Equal(t, "2.8.1", ParseWeaveVersion("weave script 2.8.1\nweave 2.8.1\n"))
	assert.Equal(t, "2.8.1", ParseWeaveVersion("weave script 2.8.1\nweave router not running\n"))
	assert.Equal(t, "", ParseWeaveVersion(""))
}

func TestClaimsGroupAndSelect(t *testing.T) {
	t.Parallel()
	assert.True(t, ClaimsGroup("db", "db-0", nil))
	assert.True(t, ClaimsGroup("db", "db-12-r3", nil))
	assert.False(t, ClaimsGroup("db", "dbx-0", nil))
	assert.False(t, ClaimsGroup("db", "db-0", map[string]string{"remint_group": "web"}))
	assert.True(t, ClaimsGroup("db", "primary", map[string]string{"remint_group": "db"}))

	all := []Server{{ID: "1", Name: "db-0"}, {ID: "2", Name: "db-1"}, {ID: "3", Name: "db-2"}}
	kept, unknown := Select(all, []string{"db-2", "1", "db-9", "db-2"})
	assert.Equal(t, []Server{{ID: "3", Name: "db-2"}, {ID: "1", Name: "db-0"}}, kept, "in the order given, once each")
	assert.Equal(t, []string{"db-9"}, unknown)
	kept, _ = Select(all, nil)
	assert.Equal(t, all, kept)
	assert.Equal(t, []string{"a", "b"}, SplitList(" a,,b ,"))
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Options{Security: true}.Validate())
	assert.ErrorContains(t, Options{}.Validate(), "nothing to do")
	assert.NoError(t, Options{Reboot: RebootAlways}.Validate())
	assert.ErrorContains(t, Options{Security: true, Reboot: "sometimes"}.Validate(), "want never, if-required or always")
	assert.ErrorContains(t, Options{Docker: true}.Validate(), "pins no Docker version")
	assert.ErrorContains(t, Options{Weave: true}.Validate(), "pins no Weave Net release")
}
