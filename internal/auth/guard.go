package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Guard is the HTTP middleware that asks for a bearer token: no token, a wrong or revoked
// one answers 401 (with WWW-Authenticate: Bearer and a JSON error); a read-only token
// answers 403 on any method but GET and HEAD. The verified Principal is put in the
// request's context (FromContext) for handlers to record who asked.
//
// Guard protects what it wraps and nothing else: `remint serve` wraps the API and mounts
// the open paths (/healthz, /readyz, the console with its own cookie login) beside it.
type Guard struct {
	Auth Authenticator
	// Log records refusals (never a secret); nil logs nothing.
	Log *slog.Logger
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := g.Check(r)
		if err != nil {
			if errors.Is(err, ErrUnauthorized) {
				g.log(r, "refused: "+err.Error())
				w.Header().Set("WWW-Authenticate", `Bearer realm="remint"`)
				writeError(w, http.StatusUnauthorized, err.Error())
				return
			}
			writeError(w, http.StatusInternalServerError, "check token: "+err.Error())
			return
		}
		if p.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.log(r, "refused: read-only token "+p.Name+" on a write")
			writeError(w, http.StatusForbidden, "forbidden: token "+p.Name+" is read-only; "+r.Method+" needs a token created without --read-only")
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead || g.Log == nil {
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
			return
		}
		// Every write is logged with who made it and how it was answered: jobs also keep
		// the name in their record, but schedule changes, registrations and revocations
		// are only here.
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(WithPrincipal(r.Context(), p)))
		g.Log.LogAttrs(context.Background(), slog.LevelInfo, "api write", slog.String("token", p.Name), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.String("remote", r.RemoteAddr))
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes server-sent events through.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Check verifies the request's bearer token (Authorization: Bearer SECRET).
func (g *Guard) Check(r *http.Request) (Principal, error) {
	secret, ok := BearerToken(r)
	if !ok {
		return Principal{}, ErrUnauthorized
	}
	return g.Auth.Authenticate(r.Context(), secret)
}

// BearerToken returns the secret of an "Authorization: Bearer SECRET" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

func (g *Guard) log(r *http.Request, msg string) {
	if g.Log != nil {
		g.Log.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("remote", r.RemoteAddr))
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
