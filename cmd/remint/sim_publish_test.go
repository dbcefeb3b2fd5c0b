package main

import (
	"bytes"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"

	"github.com/remint-dev/remint/internal/sim/aptrepo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runPublish(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// Through the root command, as the binary runs it: global flags (--log-level) and the
	// registration under `remint sim` are part of what is tested.
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"sim", "publish-package"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestSimPublishPackage(t *testing.T) {
	dir := t.TempDir()
	out, err := runPublish(t, "--repo-dir", dir, "--demo")
	require.NoError(t, err, out)
	assert.Contains(t, out, "published demo-libssl 1.0-1+deb12u1 (all) in bookworm-security: pool/main/d/demo-libssl/demo-libssl_1.0-1+deb12u1_all.deb\n")
	assert.Contains(t, out, "published demo-tool 2.0-1 (all) in bookworm-updates")

	local := filepath.Join(t.TempDir(), "fix.conf")
	require.NoError(t, os.WriteFile(local, []byte("fixed\n"), 0o640))
	out, err = runPublish(t, "--repo-dir", dir, "--suite", "bookworm-security", "--name", "demo-libssl",
		"--version", "1.0-1+deb12u2", "--postinst-reboot-required", "--depends", "libc6 (>= 2.36)",
		"--file", "/usr/share/demo-libssl/fix.conf="+local)
	require.NoError(t, err, out)
	assert.Contains(t, out, "published demo-libssl 1.0-1+deb12u2 (all) in bookworm-security")

	repo, err := aptrepo.Open(dir, aptrepo.Options{})
	require.NoError(t, err)
	pkgs, err := repo.Packages(aptrepo.SuiteBookwormSecurity)
	require.NoError(t, err)
	require.Len(t, pkgs, 2)
	deb := filepath.Join(dir, "debian", pkgs[1].Filename)
	info, err := exec("dpkg-deb", "-I", deb, "postinst")
	require.NoError(t, err)
	assert.Contains(t, info, "touch /var/run/reboot-required")
	assert.Contains(t, info, "demo-libssl >> /var/run/reboot-required.pkgs")
	contents, err := exec("dpkg-deb", "-c", deb)
	require.NoError(t, err)
	assert.Contains(t, contents, "-rw-r----- root/root         6 2023-06-10 00:00 ./usr/share/demo-libssl/fix.conf")

	// An existing .deb is published as is.
	out, err = runPublish(t, "--repo-dir", t.TempDir(), "--suite", "bookworm", "--deb", deb)
	require.NoError(t, err, out)
	assert.Contains(t, out, "published demo-libssl 1.0-1+deb12u2 (all) in bookworm")
}

func TestSimPublishPackageUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--demo"}, "--repo-dir is required"},
		{[]string{"--repo-dir", dir}, "exactly one of"},
		{[]string{"--repo-dir", dir, "--demo", "--deb", "x.deb"}, "exactly one of"},
		{[]string{"--repo-dir", dir, "--name", "demo", "--version", "1.0"}, "--suite is required"},
		{[]string{"--repo-dir", dir, "--suite", "sid", "--name", "demo", "--version", "1.0"}, `--suite "sid"`},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--name", "Demo$(id)", "--version", "1.0"}, `--name: package name "Demo$(id)"`},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--name", "demo", "--version", "1.0;reboot"}, `--version: version "1.0;reboot"`},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--name", "demo"}, "--name and --version go together"},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--name", "demo", "--version", "1", "--depends", "libc6 (=> 2)"}, `--depends "libc6 (=> 2)"`},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--name", "demo", "--version", "1", "--arch", "arm64"}, `--arch "arm64"`},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--name", "demo", "--version", "1", "--file", "/x"}, `--file "/x": want PATH=LOCALFILE`},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--deb", filepath.Join(dir, "nope.deb")}, "nope.deb"},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--deb", "x.deb", "--postinst-reboot-required"}, "apply only with --name"},
		{[]string{"--repo-dir", dir, "--suite", "bookworm", "--demo"}, "choose their own suites"},
	} {
		_, err := runPublish(t, tc.args...)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.want, tc.args)
		var ue usageError
		assert.True(t, errors.As(err, &ue), "%v: want a usage error (exit 2), got %v", tc.args, err)
	}
}

func exec(name string, args ...string) (string, error) {
	out, err := osexec.Command(name, args...).CombinedOutput()
	return string(out), err
}
