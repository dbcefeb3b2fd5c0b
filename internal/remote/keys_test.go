package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func writeKey(t *testing.T, dir string, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	require.NoError(t, err)
	path := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return path, sshPub
}

// Not parallel: it sets $REMINT_SSH_KEY.
func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	path, pub := writeKey(t, dir, "")

	t.Setenv(EnvPrivateKey, "")
	_, err := LoadSigner("")
	require.ErrorIs(t, err, ErrNoPrivateKey)
	require.ErrorContains(t, err, "REMINT_SSH_KEY")

	s, err := LoadSigner(path)
	require.NoError(t, err)
	require.Equal(t, pub.Marshal(), s.PublicKey().Marshal())

	t.Setenv(EnvPrivateKey, path)
	s, err = LoadSigner("")
	require.NoError(t, err, "the variable names the file when no path is given")
	require.Equal(t, pub.Marshal(), s.PublicKey().Marshal())

	missing := filepath.Join(dir, "nope")
	t.Setenv(EnvPrivateKey, missing)
	_, err = LoadSigner("")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualError(t, err, "read private key REMINT_SSH_KEY="+missing+": no such file or directory")

	// A file that is not a key: the error names it but never shows what is in it.
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("hunter2 is not a key\n"), 0o600))
	_, err = LoadSigner(secret)
	require.ErrorContains(t, err, "private key "+secret+": not a private key")
	require.NotContains(t, err.Error(), "hunter2")

	// A key under a passphrase: refused, and its bytes are not in the message either.
	encrypted, _ := writeKey(t, t.TempDir(), "pw")
	raw, err := os.ReadFile(encrypted)
	require.NoError(t, err)
	_, err = LoadSigner(encrypted)
	require.ErrorContains(t, err, "protected by a passphrase")
	require.NotContains(t, err.Error(), string(raw[40:80]))
}
