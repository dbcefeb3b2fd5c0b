package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/orchestrator"
)

// httpRoutes is remint serve's HTTP surface. Paths mounted with guarded need a bearer
// token (auth.Guard: 401 without a valid one, 403 for a read-only one on a write); paths
// mounted with open do not: /healthz and /readyz, and the web console, which logs in with
// its own cookie and checks it itself. serve.go mounts the fallback "/" (guarded: unknown
// paths answer 401 without a token, 404 with one) until the console takes "/".
type httpRoutes struct {
	mux   *http.ServeMux
	guard *auth.Guard
}

func newHTTPRoutes(guard *auth.Guard) *httpRoutes {
	return &httpRoutes{mux: http.NewServeMux(), guard: guard}
}

// open mounts h at pattern without a token.
func (r *httpRoutes) open(pattern string, h http.Handler) { r.mux.Handle(pattern, h) }

// guarded mounts h at pattern behind the token guard.
func (r *httpRoutes) guarded(pattern string, h http.Handler) { r.mux.Handle(pattern, r.guard.Wrap(h)) }

// mountAccess mounts the job API, /metrics and /riverui: the parts of the surface this
// file owns. The API keeps /healthz, /readyz and /openapi.json open; the rest of it is guarded.
func (r *httpRoutes) mountAccess(api, metrics, riverUI http.Handler) {
	r.open("GET /healthz", api)
	r.open("GET /readyz", api)
	r.open("GET /openapi.json", api) // the API's description is no secret; what it describes is guarded
	r.guarded("/v1/", api)
	r.guarded("GET /metrics", metrics)
	r.guarded("/riverui/", riverUI)
	r.guarded("GET /riverui", http.RedirectHandler("/riverui/", http.StatusMovedPermanently))
}

// unavailable answers 404 with reason as the JSON error.
func unavailable(reason string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
	})
}

// loadServeTLS checks --tls-cert/--tls-key (both or neither) and loads the pair; nil
// without them (plain HTTP).
func loadServeTLS(certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, usageErrorf("--tls-cert and --tls-key go together: give both (HTTPS) or neither (HTTP)")
	}
	if certFile == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, usageErrorf("--tls-cert %s / --tls-key %s: %v", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// imagesBuilt reads when each manifest family's active image was built, for
// remint_image_age_days: the image's remint_built_at property, else its creation time.
func (e *jobEnv) imagesBuilt(ctx context.Context) (map[string]time.Time, error) {
	cl, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	cat := catalog.New(cl)
	out := map[string]time.Time{}
	var errs []error
	for _, fam := range e.m.FamilyNames() {
		latest, err := cat.Latest(ctx, fam)
		if errors.Is(err, catalog.ErrNoActiveImage) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		built, err := time.Parse(time.RFC3339, latest.Image.Properties[catalog.PropBuiltAt])
		if err != nil {
			built = latest.Image.Created
		}
		out[fam] = built
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// noTokensHint is logged when the daemon starts with no valid token.
const noTokensHint = "no API tokens: every API, /metrics and /riverui/ request is refused (401) until one is created with: remint token create --name admin"

var _ orchestrator.Observer = (*orchestrator.Metrics)(nil)
