package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSSHInputErrors(t *testing.T) {
	dir := t.TempDir()
	badKey := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(badKey, []byte("not a key"), 0o600))
	t.Setenv("REMINT_SSH_KEY", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"ssh", "web-0", "-i", badKey}, "give the command after --"},
		{"no key", []string{"ssh", "web-0", "--", "true"}, "--identity: give the private key file"},
		{"missing key file", []string{"ssh", "web-0", "-i", filepath.Join(dir, "nope"), "--", "true"}, "no such file"},
		{"not a key", []string{"ssh", "web-0", "-i", badKey, "--", "true"}, "--identity: private key " + badKey + ": not a private key"},
		{"both trust flags", []string{"ssh", "web-0", "-i", badKey, "--known-hosts", badKey, "--insecure-ignore-host-key", "--", "true"}, "give one or the other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := validateRun(t, tt.args...)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, exitUsage, validateExitCode(err))
		})
	}
}

// Bad flags are reported before any cloud is contacted: the example manifest's cloud is
// not reachable here, yet the error is about the flag.
func TestTargetFlagsCheckedBeforeTheCloud(t *testing.T) {
	t.Setenv("OS_CLIENT_CONFIG_FILE", filepath.Join(t.TempDir(), "none.yaml"))
	manifestFile := filepath.Join("..", "..", "examples", "remint.yaml")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rebuild", "-f", manifestFile, "web", "--strategy", "sideways"}, `--strategy "sideways": want rolling or bluegreen`},
		{[]string{"rebuild", "-f", manifestFile, "web", "--image", "2026.13.1"}, `--image "2026.13.1": want latest or a version YYYY.MM.N`},
		{[]string{"plan", "-f", manifestFile, "web", "--image", "newest"}, `--image "newest"`},
		{[]string{"plan", "-f", filepath.Join(t.TempDir(), "remint.yaml"), "web"}, "not found: give one with -f FILE or $REMINT_MANIFEST"},
	}
	for _, tt := range tests {
		_, _, err := validateRun(t, tt.args...)
		require.ErrorContains(t, err, tt.want)
		require.Equal(t, exitUsage, validateExitCode(err))
	}
}
