package aptrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aptRoot is a throwaway apt configuration: its own sources, keyring, lists, cache and an
// empty dpkg status, so the host's apt state is never read or written.
type aptRoot struct {
	dir string
	env []string
}

func newAptRoot(t *testing.T, repoURL string, keyring []byte) *aptRoot {
	t.Helper()
	needTool(t, "apt-get", "apt")
	needTool(t, "apt-cache", "apt")
	needTool(t, "gpgv", "gpgv")
	dir := t.TempDir()
	for _, d := range []string{"etc/apt.conf.d", "etc/sources.list.d", "etc/preferences.d", "etc/trusted.gpg.d",
		"state/lists/partial", "cache/archives/partial", "log", "keyrings"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	keyPath := filepath.Join(dir, "keyrings", "remint-archive-keyring.gpg")
	require.NoError(t, os.WriteFile(keyPath, keyring, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/sources.list.d/remint.sources"), []byte(SourcesList(repoURL, keyPath)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state/status"), nil, 0o644))
	conf := fmt.Sprintf(`Dir::Etc "%[1]s/etc";
Dir::Etc::sourcelist "%[1]s/etc/sources.list";
Dir::State "%[1]s/state";
Dir::State::status "%[1]s/state/status";
Dir::Cache "%[1]s/cache";
Dir::Log "%[1]s/log";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Acquire::Retries "0";
`, dir)
	confPath := filepath.Join(dir, "apt.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o644))
	// APT_CONFIG is read before /etc/apt/apt.conf.d, and it moves Dir::Etc, so none of the
	// host's configuration applies.
	return &aptRoot{dir: dir, env: []string{"APT_CONFIG=" + confPath, "LC_ALL=C"}}
}

func (a *aptRoot) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	return run(t, a.env, name, args...)
}

var aptProblemRE = regexp.MustCompile(`(?m)^(W|E|N|Err):.*$`)

func TestRealAptAgainstServedRepo(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	_, err := r.PublishDemo(t.Context())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := r.Serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	keyring, err := r.PublicKeyring()
	require.NoError(t, err)
	apt := newAptRoot(t, srv.URL(), keyring)

	out := apt.run(t, "apt-get", "update")
	t.Logf("apt-get update:\n%s", out)
	assert.Empty(t, aptProblemRE.FindAllString(out, -1), "apt-get update must not warn: %s", out)
	for _, s := range Suites {
		assert.Contains(t, out, "Get:", s.Dist)
		assert.Contains(t, out, srv.URL()+" "+s.Dist+" InRelease")
	}
	assert.NotContains(t, out, "NO_PUBKEY")
	assert.NotContains(t, out, "not signed")

	policy := apt.run(t, "apt-cache", "policy", "demo-libssl", "demo-tool")
	t.Logf("apt-cache policy:\n%s", policy)
	assert.Regexp(t, `demo-libssl:\n  Installed: \(none\)\n  Candidate: 1.0-1\+deb12u1\n`, policy)
	assert.Regexp(t, `demo-tool:\n  Installed: \(none\)\n  Candidate: 2.0-1\n`, policy)
	for _, want := range []string{
		"     1.0-1+deb12u1 500\n        500 " + srv.URL() + " bookworm-security/main amd64 Packages\n",
		"     1.0-1 500\n        500 " + srv.URL() + " bookworm/main amd64 Packages\n",
		"     2.0-1 500\n        500 " + srv.URL() + " bookworm-updates/main amd64 Packages\n",
	} {
		assert.Contains(t, policy, want)
	}
	// The origins apt (and unattended-upgrades' Origins-Pattern) sees for each suite.
	sources := apt.run(t, "apt-cache", "policy")
	t.Logf("apt-cache policy:\n%s", sources)
	for _, want := range []string{
		" 500 " + srv.URL() + " bookworm-security/main amd64 Packages\n" +
			"     release o=Debian,a=stable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64\n",
		" 500 " + srv.URL() + " bookworm/main amd64 Packages\n" +
			"     release o=Debian,a=stable,n=bookworm,l=Debian,c=main,b=amd64\n",
		" 500 " + srv.URL() + " bookworm-updates/main amd64 Packages\n" +
			"     release o=Debian,a=stable-updates,n=bookworm-updates,l=Debian,c=main,b=amd64\n",
	} {
		assert.Contains(t, sources, want)
	}
	// Pinning by the security origin works as it does against Debian.
	show := apt.run(t, "apt-cache", "show", "demo-libssl=1.0-1+deb12u1")
	assert.Contains(t, show, "Filename: pool/main/d/demo-libssl/demo-libssl_1.0-1+deb12u1_all.deb")

	// apt downloads the pool file and checks it against the signed index.
	dl := t.TempDir()
	get := run(t, apt.env, "sh", "-c", `cd "$1" && shift && exec "$@"`, "sh", dl, "apt-get", "download", "demo-libssl=1.0-1+deb12u1")
	assert.Empty(t, aptProblemRE.FindAllString(get, -1), get)
	got := readFile(t, dl, "demo-libssl_1.0-1+deb12u1_all.deb")
	assert.Equal(t, readFile(t, r.Dir(), "debian", "pool/main/d/demo-libssl/demo-libssl_1.0-1+deb12u1_all.deb"), got)

	// A package added while serving shows up on the next update, still signed.
	deb, err := BuildPackage(t.Context(), PackageSpec{Name: "late-fix", Version: "3.1-2+deb12u1", OutDir: t.TempDir()})
	require.NoError(t, err)
	_, err = r.Add(t.Context(), SuiteBookwormSecurity, deb)
	require.NoError(t, err)
	out = apt.run(t, "apt-get", "update")
	assert.Empty(t, aptProblemRE.FindAllString(out, -1), out)
	assert.Contains(t, apt.run(t, "apt-cache", "policy", "late-fix"), "Candidate: 3.1-2+deb12u1")
}

func TestRealAptRejectsForeignKey(t *testing.T) {
	t.Parallel()
	needTool(t, "dpkg-deb", "dpkg")
	r := openTestRepo(t)
	other := openTestRepo(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := r.Serve(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	wrong, err := other.PublicKeyring()
	require.NoError(t, err)
	apt := newAptRoot(t, srv.URL(), wrong)
	// apt-get update exits 0 with a warning-free "Err" only for transient errors; an
	// unverifiable signature is an error line and a non-zero exit on apt 2.x.
	out, err := runErr(apt.env, "apt-get", "update")
	require.Error(t, err, out)
	assert.Contains(t, out, "NO_PUBKEY "+r.KeyFingerprint()[24:], out)
	assert.True(t, strings.Contains(out, "is not signed"), out)
}
