// Package auth names who is calling remint's HTTP surfaces (the APIs and the console):
// a Principal carried in the request context after a bearer token was verified.
//
// Tokens (tokens.go) make, hash, check and revoke the bearer tokens the store keeps;
// Guard (guard.go) asks for one on every request. The rest is the small vocabulary every
// handler shares, so the API, the STACKIT-compatible API and the console agree on who
// asked and whether they may write.
package auth

import (
	"context"
	"errors"
)

// Principal is a verified caller.
type Principal struct {
	// Name is the token's name ("ci", "alice"); recorded with every write.
	Name string
	// ReadOnly principals may read but not write (403 on writes).
	ReadOnly bool
}

// ErrUnauthorized is returned for a missing, unknown, wrong or revoked token.
var ErrUnauthorized = errors.New("unauthorized: a valid bearer token is required")

// Authenticator verifies a bearer token (the secret as the caller sent it).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// RequestedBy is how a principal is named in job records and logs: "token NAME".
func (p Principal) RequestedBy() string { return "token " + p.Name }
