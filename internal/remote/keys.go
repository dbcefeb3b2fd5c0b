package remote

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// EnvPrivateKey names the environment variable holding the path of the private key remint
// logs in with when no key file is given.
const EnvPrivateKey = "REMINT_SSH_KEY"

// ErrNoPrivateKey is returned by LoadSigner when neither a key file nor $REMINT_SSH_KEY is given.
var ErrNoPrivateKey = errors.New("no private key: give the key file, or set " + EnvPrivateKey + " to its path")

// LoadSigner reads the OpenSSH or PEM private key at path, or at the path in $REMINT_SSH_KEY
// when path is "". Errors name the file (and the variable it came from) but never show its
// content. Keys protected by a passphrase are refused: remint runs unattended.
func LoadSigner(path string) (ssh.Signer, error) {
	from := "private key"
	if path == "" {
		path = os.Getenv(EnvPrivateKey)
		if path == "" {
			return nil, ErrNoPrivateKey
		}
		from = "private key " + EnvPrivateKey + "="
	} else {
		from += " "
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		// The *PathError already names the file.
		return nil, fmt.Errorf("read %s%s: %w", from, path, unwrapPath(err))
	}
	signer, err := ParseSigner(pem)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", from, path, err)
	}
	return signer, nil
}

// ParseSigner parses a private key held in memory, e.g. the one Nova returns when it
// creates a keypair. The error never quotes the key.
func ParseSigner(pem []byte) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing):
		return nil, errors.New("the key is protected by a passphrase; remint needs an unencrypted key (ssh-keygen -p -N '' changes it)")
	default:
		// x/crypto's parse errors describe the format ("ssh: no key found"), not the bytes.
		return nil, fmt.Errorf("not a private key: %w", err)
	}
}

// unwrapPath drops the path from an *os.PathError, which the caller already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
