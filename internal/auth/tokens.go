package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// TokenPrefix starts every secret, so secret scanners (and people) recognise one.
const TokenPrefix = "remint_"

// secretBytes of randomness in a secret: 256 bits, so the SHA-256 of a secret is all that
// needs storing (no salt or slow hash: nothing to brute-force).
const secretBytes = 32

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// touchEvery limits how often a token's last use is written: once a minute per token is
// enough for `token list` and keeps SQLite's one writer free for jobs.
const touchEvery = time.Minute

// Tokens are the API's bearer tokens in the state store; Tokens is the daemon's
// Authenticator.
type Tokens struct {
	Store *store.Store
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (t *Tokens) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// BadNameError is a token name that is not allowed.
type BadNameError struct{ Name string }

func (e BadNameError) Error() string {
	return fmt.Sprintf("token name %q: want 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", e.Name)
}

// Create makes a token and returns its secret, the only time it is ever seen; the store
// keeps its SHA-256.
func (t *Tokens) Create(ctx context.Context, name string, readOnly bool, createdBy string) (string, store.APIToken, error) {
	if !tokenName.MatchString(name) {
		return "", store.APIToken{}, BadNameError{name}
	}
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", store.APIToken{}, fmt.Errorf("create token %s: random secret: %w", name, err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	rec := store.APIToken{Name: name, Hash: hashSecret(secret), ReadOnly: readOnly, CreatedBy: createdBy, Created: t.now().UTC()}
	if err := t.Store.CreateToken(ctx, rec); err != nil {
		return "", store.APIToken{}, err
	}
	return secret, rec, nil
}

// List returns every token (never a secret: the store has none).
func (t *Tokens) List(ctx context.Context) ([]store.APIToken, error) { return t.Store.Tokens(ctx) }

// Revoke revokes the named token: it is refused from then on.
func (t *Tokens) Revoke(ctx context.Context, name string) (store.APIToken, error) {
	return t.Store.RevokeToken(ctx, name, t.now().UTC())
}

// Authenticate verifies a secret: ErrUnauthorized (wrapped with why) for a malformed,
// unknown or revoked one.
func (t *Tokens) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return Principal{}, fmt.Errorf("%w (not a remint token)", ErrUnauthorized)
	}
	h := hashSecret(secret)
	rec, err := t.Store.TokenByHash(ctx, h)
	if errors.Is(err, store.ErrTokenNotFound) {
		return Principal{}, fmt.Errorf("%w (unknown token)", ErrUnauthorized)
	}
	if err != nil {
		return Principal{}, err
	}
	// The row was found by its hash; compare again in constant time so that a lookup
	// that matched loosely (collation, trailing bytes) can never let a secret through.
	if subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(h)) != 1 {
		return Principal{}, fmt.Errorf("%w (unknown token)", ErrUnauthorized)
	}
	if !rec.Revoked.IsZero() {
		return Principal{}, fmt.Errorf("%w (token %s was revoked at %s)", ErrUnauthorized, rec.Name, rec.Revoked.Format(time.RFC3339))
	}
	if now := t.now(); now.Sub(rec.LastUsed) >= touchEvery {
		// Best effort: a failed write of the last-use time does not refuse the caller.
		_ = t.Store.TouchToken(context.WithoutCancel(ctx), rec.Name, now.UTC())
	}
	return Principal{Name: rec.Name, ReadOnly: rec.ReadOnly}, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
