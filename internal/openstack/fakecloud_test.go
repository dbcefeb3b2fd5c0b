package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeCloud is a tiny OpenStack for unit tests: a Keystone that issues tokens and a
// catalog, and per-test handlers for the rest, answering with the shapes recorded in
// /work/shared/openstack-reference. It checks every request carries a valid token.
type fakeCloud struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu       sync.Mutex
	issued   int
	valid    map[string]bool
	requests []string // "METHOD /path?query", token issue included
}

func newFakeCloud(t *testing.T) *fakeCloud {
	t.Helper()
	fc := &fakeCloud{t: t, mux: http.NewServeMux(), valid: map[string]bool{}}
	fc.srv = httptest.NewServer(http.HandlerFunc(fc.serve))
	t.Cleanup(fc.srv.Close)
	fc.mux.HandleFunc("POST /identity/v3/auth/tokens", fc.issueToken)
	// Version documents (reference 20-glance-versions.txt, 37-neutron-versions.txt).
	fc.mux.HandleFunc("GET /image/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 300, map[string]any{"versions": []map[string]any{
			{"id": "v2.15", "status": "CURRENT", "links": []map[string]any{{"rel": "self", "href": fc.srv.URL + "/image/v2/"}}},
		}})
	})
	fc.mux.HandleFunc("GET /network/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"versions": []map[string]any{
			{"id": "v2.0", "status": "CURRENT", "links": []map[string]any{{"rel": "self", "href": fc.srv.URL + "/network/v2.0/"}}},
		}})
	})
	return fc
}

func (fc *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	fc.requests = append(fc.requests, r.Method+" "+r.URL.RequestURI())
	ok := fc.valid[r.Header.Get("X-Auth-Token")]
	fc.mu.Unlock()
	if !ok && !strings.HasPrefix(r.URL.Path, "/identity/") {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized",
			"message": "The request you have made requires authentication."}})
		return
	}
	w.Header().Set("X-Openstack-Request-Id", "req-test")
	fc.mux.ServeHTTP(w, r)
}

func (fc *fakeCloud) issueToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
					} `json:"user"`
				} `json:"password"`
				AppCred struct {
					ID     string `json:"id"`
					Secret string `json:"secret"`
				} `json:"application_credential"`
			} `json:"identity"`
		} `json:"auth"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	id := body.Auth.Identity
	okPassword := id.Password.User.Name == "admin" && id.Password.User.Password == "s3cret"
	okAppCred := id.AppCred.ID == "appcred-id" && id.AppCred.Secret == "appcred-secret"
	if !okPassword && !okAppCred {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized",
			"message": "The request you have made requires authentication."}})
		return
	}
	fc.mu.Lock()
	fc.issued++
	tok := fmt.Sprintf("tok-%d", fc.issued)
	fc.valid[tok] = true
	fc.mu.Unlock()
	base := fc.srv.URL
	ep := func(url string) []map[string]any {
		return []map[string]any{{"id": "e", "interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": url}}
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, 201, map[string]any{"token": map[string]any{
		"methods":    id.Methods,
		"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
		"issued_at":  time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		"user":       map[string]any{"id": "u1", "name": "admin", "domain": map[string]any{"id": "default", "name": "Default"}},
		"project":    map[string]any{"id": "p1", "name": "admin", "domain": map[string]any{"id": "default", "name": "Default"}},
		"catalog": []map[string]any{
			{"type": "identity", "name": "keystone", "id": "1", "endpoints": ep(base + "/identity")},
			{"type": "compute", "name": "nova", "id": "2", "endpoints": ep(base + "/compute/v2.1")},
			{"type": "image", "name": "glance", "id": "3", "endpoints": ep(base + "/image")},
			{"type": "network", "name": "neutron", "id": "4", "endpoints": ep(base + "/network")},
		},
	}})
}

// expireTokens makes every issued token invalid, as if they had expired.
func (fc *fakeCloud) expireTokens() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.valid = map[string]bool{}
}

func (fc *fakeCloud) handle(pattern string, h http.HandlerFunc) { fc.mux.HandleFunc(pattern, h) }

// count returns how many requests matched "METHOD /path" (query ignored).
func (fc *fakeCloud) count(methodPath string) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, r := range fc.requests {
		if r == methodPath || strings.HasPrefix(r, methodPath+"?") {
			n++
		}
	}
	return n
}

func (fc *fakeCloud) lastRequest(prefix string) string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for i := len(fc.requests) - 1; i >= 0; i-- {
		if strings.HasPrefix(fc.requests[i], prefix) {
			return fc.requests[i]
		}
	}
	return ""
}

// cloudsYAML writes a clouds.yaml for the fake cloud and returns its path.
func (fc *fakeCloud) cloudsYAML(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clouds.yaml")
	doc := fmt.Sprintf(`clouds:
  fake:
    auth:
      auth_url: %s/identity/v3
      username: admin
      password: s3cret
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
`, fc.srv.URL)
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
	return p
}

// fastPolicy retries quickly so tests stay short.
var fastPolicy = RetryPolicy{Max: 5 * time.Second, Base: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond,
	PollMin: 5 * time.Millisecond, PollMax: 20 * time.Millisecond, WaitTimeout: 5 * time.Second}

// connect connects a Client to the fake cloud through its clouds.yaml.
func (fc *fakeCloud) connect(t *testing.T, policy RetryPolicy) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, ConnectOptions{Cloud: "fake", CloudsFile: fc.cloudsYAML(t), Retry: policy})
	require.NoError(t, err)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// novaError answers like Nova: {"itemNotFound": {"code": 404, "message": …}}.
func novaError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, map[string]any{kind: map[string]any{"code": status, "message": msg}})
}

func readBody(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body %s", b)
	return m
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serverJSON is a Nova server at microversion 2.79 (reference 10-nova-server-get.txt).
func serverJSON(id, name, status string, extra map[string]any) map[string]any {
	s := map[string]any{
		"id": id, "name": name, "status": status, "tenant_id": "p1", "user_id": "u1",
		"metadata": map[string]any{}, "image": map[string]any{"id": "img-1"},
		"flavor":  map[string]any{"vcpus": 1, "ram": 512, "disk": 1, "original_name": "m1.tiny", "extra_specs": map[string]any{}},
		"created": "2026-11-22T04:48:14Z", "updated": "2026-11-22T04:48:15Z",
		"addresses": map[string]any{}, "accessIPv4": "", "accessIPv6": "", "key_name": nil,
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}
