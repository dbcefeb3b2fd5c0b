package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeystoneVersionDocuments(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := &ntClient{t: t, s: s}

	for _, path := range []string{"/identity", "/identity/"} {
		resp, body := c.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusMultipleChoices, resp.StatusCode, path)
		assert.Equal(t, s.BaseURL()+"/identity/v3/", resp.Header.Get("Location"))
		values := body["versions"].(map[string]any)["values"].([]any)
		require.Len(t, values, 1)
		v := values[0].(map[string]any)
		assert.Equal(t, "v3.14", v["id"])
		assert.Equal(t, "stable", v["status"])
		assert.Equal(t, s.BaseURL()+"/identity/v3/", v["links"].([]any)[0].(map[string]any)["href"])
	}
	for _, path := range []string{"/identity/v3", "/identity/v3/"} {
		resp, body := c.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "v3.14", body["version"].(map[string]any)["id"])
	}
}

func TestKeystoneTokenIssue(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{Username: "alice", Password: "s3cret", ProjectName: "fleet"})
	acID, acSecret := s.CreateAppCredential("ci")

	identity := func(methods []string, kv ...any) map[string]any {
		id := map[string]any{"methods": methods}
		for i := 0; i < len(kv); i += 2 {
			id[kv[i].(string)] = kv[i+1]
		}
		return id
	}
	byName := map[string]any{"name": "alice", "domain": map[string]any{"name": "Default"}}
	projectScope := map[string]any{"project": map[string]any{"name": "fleet", "domain": map[string]any{"id": "default"}}}

	tests := []struct {
		name       string
		identity   map[string]any
		scope      any
		wantStatus int
		wantMethod string
		wantAppCr  bool
	}{
		{"password by name, project by name", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"name": "alice", "domain": map[string]any{"name": "Default"}, "password": "s3cret"}}),
			projectScope, http.StatusCreated, "password", false},
		{"password by user id, project by id", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"id": s.UserID(), "password": "s3cret"}}),
			map[string]any{"project": map[string]any{"id": s.ProjectID()}}, http.StatusCreated, "password", false},
		{"no scope gets the default project", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"name": "alice", "domain": map[string]any{"id": "default"}, "password": "s3cret"}}),
			nil, http.StatusCreated, "password", false},
		{"wrong password", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"name": "alice", "domain": map[string]any{"name": "Default"}, "password": "wrong"}}),
			projectScope, http.StatusUnauthorized, "", false},
		{"unknown user", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"name": "bob", "domain": map[string]any{"name": "Default"}, "password": "s3cret"}}),
			projectScope, http.StatusUnauthorized, "", false},
		{"user in another domain", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"name": "alice", "domain": map[string]any{"name": "other"}, "password": "s3cret"}}),
			projectScope, http.StatusUnauthorized, "", false},
		{"unknown project", identity([]string{"password"}, "password", map[string]any{
			"user": map[string]any{"name": "alice", "domain": map[string]any{"name": "Default"}, "password": "s3cret"}}),
			map[string]any{"project": map[string]any{"name": "other", "domain": map[string]any{"name": "Default"}}},
			http.StatusUnauthorized, "", false},
		{"application credential by id", identity([]string{"application_credential"}, "application_credential",
			map[string]any{"id": acID, "secret": acSecret}), nil, http.StatusCreated, "application_credential", true},
		{"application credential by name and user", identity([]string{"application_credential"}, "application_credential",
			map[string]any{"name": "ci", "user": byName, "secret": acSecret}), nil, http.StatusCreated, "application_credential", true},
		{"application credential wrong secret", identity([]string{"application_credential"}, "application_credential",
			map[string]any{"id": acID, "secret": "nope"}), nil, http.StatusUnauthorized, "", false},
		{"application credential with a scope", identity([]string{"application_credential"}, "application_credential",
			map[string]any{"id": acID, "secret": acSecret}), projectScope, http.StatusUnauthorized, "", false},
		{"unsupported method", identity([]string{"totp"}), nil, http.StatusUnauthorized, "", false},
		{"no methods", map[string]any{}, nil, http.StatusBadRequest, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &ntClient{t: t, s: s}
			auth := map[string]any{"identity": tt.identity}
			if tt.scope != nil {
				auth["scope"] = tt.scope
			}
			resp, body := c.do(http.MethodPost, "/identity/v3/auth/tokens", map[string]any{"auth": auth}, nil)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "body: %v", body)
			if tt.wantStatus != http.StatusCreated {
				assert.Empty(t, resp.Header.Get("X-Subject-Token"))
				e := body["error"].(map[string]any)
				assert.EqualValues(t, tt.wantStatus, e["code"])
				assert.Equal(t, http.StatusText(tt.wantStatus), e["title"])
				if tt.wantStatus == http.StatusUnauthorized {
					assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
				}
				return
			}
			require.NotEmpty(t, resp.Header.Get("X-Subject-Token"))
			tok := body["token"].(map[string]any)
			assert.Equal(t, []any{tt.wantMethod}, tok["methods"])
			assert.Equal(t, "fleet", tok["project"].(map[string]any)["name"])
			assert.Equal(t, s.ProjectID(), tok["project"].(map[string]any)["id"])
			assert.Equal(t, "alice", tok["user"].(map[string]any)["name"])
			assert.Equal(t, "default", tok["user"].(map[string]any)["domain"].(map[string]any)["id"])
			assert.Len(t, tok["roles"], 3)
			expires, err := time.Parse(keystoneTimeFormat, tok["expires_at"].(string))
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute)
			_, hasAppCred := tok["application_credential"]
			assert.Equal(t, tt.wantAppCr, hasAppCred)

			// The token works against the other services.
			c.token = resp.Header.Get("X-Subject-Token")
			r2, _ := c.do(http.MethodGet, "/compute/v2.1/flavors", nil, nil)
			assert.Equal(t, http.StatusOK, r2.StatusCode)
		})
	}
}

func TestKeystoneBadPasswordBody(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{Password: "right"})
	c := &ntClient{t: t, s: s}
	user, _, project := s.Credentials()
	resp, body := c.do(http.MethodPost, "/identity/v3/auth/tokens", ntPasswordAuth(user, "wrong", project), nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// Reference 04, exactly.
	assert.Equal(t, map[string]any{"error": map[string]any{
		"code": float64(401), "message": "The request you have made requires authentication.", "title": "Unauthorized",
	}}, body)
}

func TestKeystoneCatalog(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{Region: "RegionTwo"})
	c := &ntClient{t: t, s: s}
	user, pass, project := s.Credentials()
	_, body := c.do(http.MethodPost, "/identity/v3/auth/tokens", ntPasswordAuth(user, pass, project), nil)
	catalog := body["token"].(map[string]any)["catalog"].([]any)

	want := map[string]string{
		"identity": s.BaseURL() + "/identity",
		"compute":  s.BaseURL() + "/compute/v2.1",
		"image":    s.BaseURL() + "/image",
		"network":  s.BaseURL() + "/network",
	}
	assert.Equal(t, want, s.CatalogEndpoints())
	got := map[string]string{}
	for _, e := range catalog {
		svc := e.(map[string]any)
		typ := svc["type"].(string)
		ifaces := map[string]bool{}
		for _, ep := range svc["endpoints"].([]any) {
			ep := ep.(map[string]any)
			assert.Equal(t, "RegionTwo", ep["region"], typ)
			assert.Equal(t, "RegionTwo", ep["region_id"], typ)
			assert.Equal(t, want[typ], ep["url"], typ)
			assert.NotEmpty(t, ep["id"])
			ifaces[ep["interface"].(string)] = true
		}
		assert.Equal(t, map[string]bool{"public": true, "internal": true, "admin": true}, ifaces, typ)
		got[typ] = want[typ]
	}
	assert.Equal(t, want, got)
}

func TestKeystoneRequiresToken(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	anon := &ntClient{t: t, s: s}
	bogus := &ntClient{t: t, s: s, token: "gAAAAAnot-a-token"}
	for _, c := range []*ntClient{anon, bogus} {
		for _, path := range []string{"/compute/v2.1/servers", "/compute/v2.1/flavors", "/identity/v3/auth/tokens"} {
			resp, _ := c.do(http.MethodGet, path, nil, nil)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
		}
	}
}

func TestKeystoneValidateAndRevoke(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	other := ntNewClient(t, s, "")

	resp, body := c.do(http.MethodGet, "/identity/v3/auth/tokens", nil, http.Header{"X-Subject-Token": {other.token}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, other.token, resp.Header.Get("X-Subject-Token"))
	assert.NotEmpty(t, body["token"].(map[string]any)["catalog"])

	resp, body = c.do(http.MethodGet, "/identity/v3/auth/tokens?nocatalog", nil, http.Header{"X-Subject-Token": {other.token}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, body["token"].(map[string]any), "catalog")

	resp, _ = c.do(http.MethodGet, "/identity/v3/auth/tokens", nil, http.Header{"X-Subject-Token": {"gAAAAAunknown"}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	resp, _ = c.do(http.MethodDelete, "/identity/v3/auth/tokens", nil, http.Header{"X-Subject-Token": {other.token}})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = other.do(http.MethodGet, "/compute/v2.1/flavors", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a revoked token must not work")

	// Revoking everything forces every client to authenticate again.
	third := ntNewClient(t, s, "")
	s.RevokeTokens()
	resp, _ = third.do(http.MethodGet, "/compute/v2.1/flavors", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	c = ntNewClient(t, s, "")

	// Re-scoping with the token method.
	resp, body = c.do(http.MethodPost, "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": c.token}},
		"scope":    map[string]any{"project": map[string]any{"id": s.ProjectID()}},
	}}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.NotEqual(t, c.token, resp.Header.Get("X-Subject-Token"))
}

func TestKeystoneApplicationCredentialAPI(t *testing.T) {
	t.Parallel()
	s, _ := ntStart(t, Config{})
	c := ntNewClient(t, s, "")
	path := "/identity/v3/users/" + s.UserID() + "/application_credentials"

	resp, body := c.do(http.MethodPost, path, map[string]any{"application_credential": map[string]any{"name": "deployer"}}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	ac := body["application_credential"].(map[string]any)
	id, secret := ac["id"].(string), ac["secret"].(string)
	require.NotEmpty(t, id)
	require.NotEmpty(t, secret)
	assert.Equal(t, s.ProjectID(), ac["project_id"])

	resp, _ = c.do(http.MethodPost, path, map[string]any{"application_credential": map[string]any{"name": "deployer"}}, nil)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "duplicate name")
	resp, _ = c.do(http.MethodPost, "/identity/v3/users/someone-else/application_credentials",
		map[string]any{"application_credential": map[string]any{"name": "x"}}, nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "another user's credentials")

	resp, body = c.do(http.MethodGet, path, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	list := body["application_credentials"].([]any)
	require.Len(t, list, 1)
	assert.NotContains(t, list[0].(map[string]any), "secret", "secrets are shown once")

	// The new credential authenticates; its token cannot mint more credentials.
	appc := &ntClient{t: t, s: s}
	resp, body = appc.do(http.MethodPost, "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"application_credential"},
			"application_credential": map[string]any{"id": id, "secret": secret}},
	}}, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	appc.token = resp.Header.Get("X-Subject-Token")
	resp, _ = appc.do(http.MethodPost, path, map[string]any{"application_credential": map[string]any{"name": "more"}}, nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}
