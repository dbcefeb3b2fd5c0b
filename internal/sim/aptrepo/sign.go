package aptrepo

import (
	"bytes"
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for the OpenPGP signatures
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/remint-dev/remint/internal/atomicfile"

	//lint:ignore SA1019 x/crypto/openpgp is frozen, not broken: it makes RSA keys and
	// SHA-256 signatures that gpgv accepts, which is all a test archive needs.
	"golang.org/x/crypto/openpgp"
	"golang.org/x/crypto/openpgp/armor"
	"golang.org/x/crypto/openpgp/clearsign"
	"golang.org/x/crypto/openpgp/packet"
)

const (
	keyDirName     = "key"
	privateKeyName = "signing-key.asc"
	// Published beside dists/ so servers and tools can fetch the public key.
	keyringGPGName = "remint-archive-keyring.gpg"
	keyringASCName = "remint-archive-keyring.asc"
)

// signer holds the repository's signing key.
type signer struct {
	entity *openpgp.Entity
	now    func() time.Time
}

func (s *signer) config() *packet.Config {
	// SHA-256: apt refuses SHA-1 signatures on Release files.
	return &packet.Config{DefaultHash: crypto.SHA256, Time: s.now}
}

// loadOrCreateKey reads <dir>/key/signing-key.asc or generates and stores a new key.
func loadOrCreateKey(dir string, bits int, now func() time.Time) (*signer, error) {
	keyDir := filepath.Join(dir, keyDirName)
	keyPath := filepath.Join(keyDir, privateKeyName)
	f, err := os.Open(keyPath)
	switch {
	case err == nil:
		defer f.Close()
		ents, err := openpgp.ReadArmoredKeyRing(f)
		if err != nil {
			return nil, fmt.Errorf("read repository signing key %s: %w", keyPath, err)
		}
		if len(ents) != 1 || ents[0].PrivateKey == nil || ents[0].PrivateKey.Encrypted {
			return nil, fmt.Errorf("repository signing key %s: want exactly one unencrypted private key", keyPath)
		}
		return &signer{entity: ents[0], now: now}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open repository signing key: %w", err)
	}

	s := &signer{now: now}
	cfg := s.config()
	cfg.RSABits = bits
	ent, err := openpgp.NewEntity("remint simulated archive", "", "archive@remint.invalid", cfg)
	if err != nil {
		return nil, fmt.Errorf("generate repository signing key: %w", err)
	}
	// NewEntity sets PreferredHash after signing the identity; SerializePrivate below
	// signs the identities again, so the stored self-signatures advertise SHA-256.
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("armor repository signing key: %w", err)
	}
	if err := ent.SerializePrivate(w, cfg); err != nil {
		return nil, fmt.Errorf("serialize repository signing key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("armor repository signing key: %w", err)
	}
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	if err := atomicfile.Write(keyPath, buf.Bytes(), 0o600); err != nil {
		return nil, fmt.Errorf("store repository signing key: %w", err)
	}
	s.entity = ent
	return s, nil
}

// publicKeyring is the public key as a binary OpenPGP keyring, the format of
// /usr/share/keyrings/*.gpg that apt's signed-by and gpgv --keyring accept.
func (s *signer) publicKeyring() ([]byte, error) {
	var buf bytes.Buffer
	if err := s.entity.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("serialize public key: %w", err)
	}
	return buf.Bytes(), nil
}

// publicKeyArmored is the public key in ASCII armour (.asc).
func (s *signer) publicKeyArmored() ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := s.entity.Serialize(w); err != nil {
		return nil, fmt.Errorf("serialize public key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// clearsign returns msg as an OpenPGP cleartext-signed message (InRelease).
func (s *signer) clearsign(msg []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, s.entity.PrivateKey, s.config())
	if err != nil {
		return nil, fmt.Errorf("clearsign: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return nil, fmt.Errorf("clearsign: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("clearsign: %w", err)
	}
	return buf.Bytes(), nil
}

// detachSign returns an armoured detached signature of msg (Release.gpg).
func (s *signer) detachSign(msg []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, s.entity, bytes.NewReader(msg), s.config()); err != nil {
		return nil, fmt.Errorf("detach-sign: %w", err)
	}
	return buf.Bytes(), nil
}

// fingerprint is the key's fingerprint in upper-case hex, as gpg prints it.
func (s *signer) fingerprint() string {
	return fmt.Sprintf("%X", s.entity.PrimaryKey.Fingerprint)
}
