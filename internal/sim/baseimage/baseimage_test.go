package baseimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecipeHash(t *testing.T) {
	t.Parallel()
	base := Options{}.RecipeHash()
	assert.Len(t, base, 12)
	assert.Equal(t, base, Options{Suite: "bookworm", Mirror: "http://deb.debian.org/debian", Packages: DefaultPackages}.RecipeHash(),
		"the defaults spelled out are the same recipe")
	reversed := append([]string(nil), DefaultPackages...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	assert.Equal(t, base, Options{Packages: reversed}.RecipeHash(), "package order does not matter")
	for name, o := range map[string]Options{
		"suite":    {Suite: "trixie"},
		"mirror":   {Mirror: "http://127.0.0.1:9/debian"},
		"packages": {Packages: append([]string{"vim"}, DefaultPackages...)},
	} {
		assert.NotEqual(t, base, o.RecipeHash(), name)
	}
	assert.Equal(t, base, Options{WorkloadBinary: "/elsewhere", CacheDir: "/tmp"}.RecipeHash(),
		"the workload binary is its own layer, not part of the recipe")
}

func TestWorkloadBinaryMustBeStatic(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	_, err = workloadBinary(sh)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CGO_ENABLED=0")

	_, err = workloadBinary(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)

	notELF := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))
	_, err = workloadBinary(notELF)
	require.Error(t, err)
}

func TestStaticWorkloadBinaryAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a static binary")
	}
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module static\n"), 0o644))
	cmd := exec.Command("go", "build", "-o", "static", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := workloadBinary(filepath.Join(dir, "static"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "static"), got)
}

func TestInitScriptIsValidShell(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(string(initScript))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// The console block remote.HostKeysFromConsole reads, in cloud-init's words.
	for _, marker := range []string{"-----BEGIN SSH HOST KEY FINGERPRINTS-----", "-----END SSH HOST KEY FINGERPRINTS-----",
		"-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"} {
		assert.Contains(t, string(initScript), marker)
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	var tb tailBuffer
	_, _ = tb.Write([]byte(strings.Repeat("a", 5000)))
	_, _ = tb.Write([]byte("end"))
	assert.Len(t, tb.String(), 4096)
	assert.True(t, strings.HasSuffix(tb.String(), "aend"))
}

func TestLockBuildsWaitsForTheHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unlock, err := lockBuilds(context.Background(), dir)
	require.NoError(t, err)

	// A second taker (flock locks are per open file, so this stands for another process)
	// gives up when its context ends while the lock is held...
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err = lockBuilds(ctx, dir)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// ...and gets it once the holder lets go.
	got := make(chan error, 1)
	go func() {
		u, err := lockBuilds(context.Background(), dir)
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not taken after its release")
	}
}
