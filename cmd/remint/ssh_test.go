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
		{"not a key", []string{"ssh", "web-0", "-i", badKey, "--", "true"}, "--identity " + badKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := validateRun(t, tt.args...)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, exitUsage, validateExitCode(err))
		})
	}
}
