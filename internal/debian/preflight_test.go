package debian

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// localRunner runs argv on this machine, dropping a leading "sudo -n" (tests run as the
// owner of the files they touch).
type localRunner struct{}

func (localRunner) Run(ctx context.Context, argv []string) (remote.Result, error) {
	if len(argv) > 2 && argv[0] == "sudo" && argv[1] == "-n" {
		argv = argv[2:]
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := remote.Result{Argv: argv, Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitStatus = ee.ExitCode()
		return res, nil
	}
	return res, err
}

// TestLockScriptSeesAHeldLock holds a real fcntl lock the way dpkg does in a child
// process, and the lock script names that process.
func TestLockScriptSeesAHeldLock(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is required by this test")
	}
	dir := t.TempDir()
	lock, free := filepath.Join(dir, "lock-frontend"), filepath.Join(dir, "lock")
	require.NoError(t, os.WriteFile(free, nil, 0o644))
	holder := exec.Command("python3", "-c", `import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)`, lock)
	stdout, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	buf := make([]byte, 7)
	_, err = stdout.Read(buf)
	require.NoError(t, err)

	res, err := localRunner{}.Run(t.Context(), []string{"python3", "-c", lockScript, lock, free, filepath.Join(dir, "missing")})
	require.NoError(t, err)
	require.NoError(t, res.Err(), res.Stderr)
	hs := ParseLockHolders(res.Stdout)
	require.Len(t, hs, 1, res.Stdout)
	assert.Equal(t, lock, hs[0].Path)
	assert.Equal(t, holder.Process.Pid, hs[0].PID)
	assert.Contains(t, hs[0].Command, "python3 -c import fcntl")

	e := &LockedError{Waited: 3 * time.Second, Holders: hs}
	assert.Contains(t, e.Error(), "still locked after waiting 3s: "+lock+" held by pid "+strconv.Itoa(holder.Process.Pid))
}

func TestParseDFAvailable(t *testing.T) {
	t.Parallel()
	n, err := ParseDFAvailable("Filesystem     1024-blocks      Used Available Capacity Mounted on\noverlay          102626232  61246736  36120236      63% /\n")
	require.NoError(t, err)
	assert.Equal(t, int64(36120236)*1024, n)
	n, err = ParseDFAvailable(readTestdata(t, "host-df.txt"))
	require.NoError(t, err)
	assert.Positive(t, n)
	_, err = ParseDFAvailable("Filesystem 1024-blocks\n")
	assert.Error(t, err)
}

func TestParseVersions(t *testing.T) {
	t.Parallel()
	got := ParseVersions(readTestdata(t, "host-dpkg-query.txt"), []string{"bash", "libc6", "nonexistent-pkg"})
	assert.Equal(t, "", got["nonexistent-pkg"])
	assert.Regexp(t, `^5\.2\.`, got["bash"])
	assert.Regexp(t, `^2\.36-`, got["libc6"])
	got = ParseVersions("demo-tool\tiU\t2.0-1\nlibssl3:amd64\tii\t3.0.15-1~deb12u1\n", []string{"demo-tool", "libssl3"})
	assert.Equal(t, map[string]string{"demo-tool": "", "libssl3": "3.0.15-1~deb12u1"}, got, "unpacked but not configured is not installed")
}

func TestParseRebootRequired(t *testing.T) {
	t.Parallel()
	assert.Equal(t, RebootRequired{}, ParseRebootRequired(""))
	assert.Equal(t, RebootRequired{Required: true}, ParseRebootRequired("reboot-required\n"))
	assert.Equal(t, RebootRequired{Required: true, Packages: []string{"demo-libssl", "libc6"}},
		ParseRebootRequired("reboot-required\nlibc6\ndemo-libssl\nlibc6\n"))
}

func TestWriteFileIdempotent(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "20auto-upgrades")
	changed, err := WriteFile(t.Context(), localRunner{}, p, AutoUpgradesConf, "0644")
	require.NoError(t, err)
	assert.True(t, changed)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, AutoUpgradesConf, string(b))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	changed, err = WriteFile(t.Context(), localRunner{}, p, AutoUpgradesConf, "0644")
	require.NoError(t, err)
	assert.False(t, changed, "the second write finds the content in place")
	// Content with quotes and shell metacharacters arrives byte for byte.
	odd := "a'b\"c $(id) `x` \\n %s\n"
	_, err = WriteFile(t.Context(), localRunner{}, p, odd, "0600")
	require.NoError(t, err)
	b, _ = os.ReadFile(p)
	assert.Equal(t, odd, string(b))
}
