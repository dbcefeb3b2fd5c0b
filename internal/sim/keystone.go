package sim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Keystone v3: version documents, token issue/validate/revoke (password, token and
// application_credential methods) and application credentials of the one user.
//
// The simulated cloud has one domain ("default"/"Default"), one user and one project; the
// user's default project is that project, so every token is project-scoped (as Keystone
// scopes a token to the user's default project when no scope is asked for).

const (
	keystoneDomainName = "Default"
	keystoneVersionID  = "v3.14"
	keystoneUpdated    = "2020-04-07T00:00:00Z"
	tokenLifetime      = time.Hour
	keystoneTimeFormat = "2006-01-02T15:04:05.000000Z"
	msgAuthRequired    = "The request you have made requires authentication."
)

// keystoneRoles are the roles the user holds on its project, as devstack's admin has.
var keystoneRoles = []string{"reader", "admin", "member"}

func (s *Sim) routesKeystone() {
	s.handlePublic("GET /identity", "identity.versions", s.identityVersions)
	s.handlePublic("GET /identity/{$}", "identity.versions", s.identityVersions)
	s.handlePublic("GET /identity/v3", "identity.versions", s.identityV3)
	s.handlePublic("GET /identity/v3/{$}", "identity.versions", s.identityV3)
	s.handlePublic("POST /identity/v3/auth/tokens", "identity.token.issue", s.issueToken)
	s.handle("GET /identity/v3/auth/tokens", "identity.token.validate", s.validateTokenAPI)
	s.handle("DELETE /identity/v3/auth/tokens", "identity.token.revoke", s.revokeToken)
	s.handle("POST /identity/v3/users/{user_id}/application_credentials", "identity.appcred.create", s.createAppCredentialAPI)
	s.handle("GET /identity/v3/users/{user_id}/application_credentials", "identity.appcred.list", s.listAppCredentialsAPI)
}

func (s *Sim) identityV3Version() map[string]any {
	return map[string]any{
		"id":      keystoneVersionID,
		"status":  "stable",
		"updated": keystoneUpdated,
		"links":   []any{map[string]any{"rel": "self", "href": s.baseURL + "/identity/v3/"}},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

// identityVersions answers GET /identity/ with 300 Multiple Choices, as Keystone does.
func (s *Sim) identityVersions(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Location", s.baseURL+"/identity/v3/")
	writeJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{s.identityV3Version()}},
	})
}

func (s *Sim) identityV3(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": s.identityV3Version()})
}

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *keystoneUserRef `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
			ApplicationCredential *struct {
				ID     string           `json:"id"`
				Name   string           `json:"name"`
				Secret string           `json:"secret"`
				User   *keystoneUserRef `json:"user"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type keystoneUserRef struct {
	ID       string             `json:"id"`
	Name     string             `json:"name"`
	Password string             `json:"password"`
	Domain   *keystoneDomainRef `json:"domain"`
}

type keystoneDomainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type keystoneScope struct {
	Project *struct {
		ID     string             `json:"id"`
		Name   string             `json:"name"`
		Domain *keystoneDomainRef `json:"domain"`
	} `json:"project"`
	Domain *keystoneDomainRef `json:"domain"`
	System json.RawMessage    `json:"system"`
}

// keystoneError writes Keystone's error body; 401s carry WWW-Authenticate as Keystone's do.
func (s *Sim) keystoneError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+s.baseURL+`/identity"`)
	}
	s.writeError(w, svcIdentity, status, msg)
}

func (s *Sim) issueToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.keystoneError(w, http.StatusBadRequest, "Malformed request body: "+err.Error())
		return
	}
	if req.Auth == nil || req.Auth.Identity == nil || len(req.Auth.Identity.Methods) == 0 {
		s.keystoneError(w, http.StatusBadRequest, "Invalid input for field 'identity': 'methods' is a required property")
		return
	}
	id := req.Auth.Identity

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	tok := &Token{Methods: slices.Clone(id.Methods), IssuedAt: now}
	for _, m := range id.Methods {
		switch m {
		case "password":
			if id.Password == nil || id.Password.User == nil || !s.passwordUserLocked(id.Password.User) {
				s.keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
				return
			}
		case "token":
			if id.Token == nil {
				s.keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
				return
			}
			old, ok := s.ident.tokens[id.Token.ID]
			if !ok || !now.Before(old.ExpiresAt) {
				s.keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
				return
			}
			if old.AppCredentialID != "" {
				s.keystoneError(w, http.StatusForbidden, "Using a token issued for an application credential to get another token is not allowed.")
				return
			}
		case "application_credential":
			ac := id.ApplicationCredential
			if ac == nil {
				s.keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
				return
			}
			cred := s.appCredLocked(ac.ID, ac.Name, ac.User)
			if cred == nil || subtle.ConstantTimeCompare([]byte(cred.Secret), []byte(ac.Secret)) != 1 {
				s.keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
				return
			}
			if len(req.Auth.Scope) > 0 && string(req.Auth.Scope) != "null" {
				s.keystoneError(w, http.StatusUnauthorized, "Application credentials cannot request a scope.")
				return
			}
			tok.AppCredentialID = cred.ID
		default:
			s.keystoneError(w, http.StatusUnauthorized, "Attempted to authenticate with an unsupported method.")
			return
		}
	}
	if status, msg := s.checkScopeLocked(req.Auth.Scope); status != 0 {
		s.keystoneError(w, status, msg)
		return
	}
	s.pruneTokensLocked(now)
	tok.ID = newTokenID()
	tok.ExpiresAt = now.Add(tokenLifetime)
	tok.AuditID = base64.RawURLEncoding.EncodeToString(randomBytes(16))
	s.ident.tokens[tok.ID] = tok
	w.Header().Set("X-Subject-Token", tok.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"token": s.tokenBodyLocked(tok, true)})
}

// passwordUserLocked checks a password-method user reference.
func (s *Sim) passwordUserLocked(u *keystoneUserRef) bool {
	if !s.userRefMatchesLocked(u) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(u.Password), []byte(s.cfg.Password)) == 1
}

// userRefMatchesLocked reports whether u names the one user: by id, or by name within
// the default domain (given by id or name).
func (s *Sim) userRefMatchesLocked(u *keystoneUserRef) bool {
	if u.ID != "" {
		return u.ID == s.ident.userID
	}
	return u.Name == s.cfg.Username && s.domainMatchesLocked(u.Domain)
}

func (s *Sim) domainMatchesLocked(d *keystoneDomainRef) bool {
	if d == nil {
		return false
	}
	if d.ID != "" {
		return d.ID == s.ident.domainID
	}
	return strings.EqualFold(d.Name, keystoneDomainName)
}

// appCredLocked finds an application credential by id, or by name for the given user.
func (s *Sim) appCredLocked(id, name string, user *keystoneUserRef) *AppCredential {
	if id != "" {
		return s.ident.appCreds[id]
	}
	if name == "" || user == nil || !s.userRefMatchesLocked(user) {
		return nil
	}
	for _, cid := range slices.Sorted(maps.Keys(s.ident.appCreds)) {
		if c := s.ident.appCreds[cid]; c.Name == name {
			return c
		}
	}
	return nil
}

// checkScopeLocked accepts no scope, "unscoped" (the user's default project is used all the
// same) and the one project; other scopes are refused as Keystone refuses a scope the user
// has no role on.
func (s *Sim) checkScopeLocked(raw json.RawMessage) (int, string) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `"unscoped"` {
		return 0, ""
	}
	var sc keystoneScope
	if err := json.Unmarshal(raw, &sc); err != nil {
		return http.StatusBadRequest, "Invalid input for field 'scope': " + err.Error()
	}
	switch {
	case sc.Project != nil:
		p := sc.Project
		if p.ID != "" {
			if p.ID != s.ident.projectID {
				return http.StatusUnauthorized, msgAuthRequired
			}
			return 0, ""
		}
		if p.Name != s.cfg.ProjectName || !s.domainMatchesLocked(p.Domain) {
			return http.StatusUnauthorized, msgAuthRequired
		}
		return 0, ""
	case sc.Domain != nil, len(sc.System) > 0:
		return http.StatusUnauthorized, msgAuthRequired
	}
	return http.StatusBadRequest, "Invalid input for field 'scope': expected project, domain or system"
}

func (s *Sim) pruneTokensLocked(now time.Time) {
	for id, t := range s.ident.tokens {
		if !now.Before(t.ExpiresAt) {
			delete(s.ident.tokens, id)
		}
	}
}

// tokenBodyLocked renders a token as Keystone does (reference 03).
func (s *Sim) tokenBodyLocked(t *Token, withCatalog bool) map[string]any {
	domain := map[string]any{"id": s.ident.domainID, "name": keystoneDomainName}
	roles := make([]any, 0, len(keystoneRoles))
	for _, name := range keystoneRoles {
		roles = append(roles, map[string]any{"id": s.stableID("role", name), "name": name})
	}
	body := map[string]any{
		"methods": t.Methods,
		"user": map[string]any{
			"domain": domain, "id": s.ident.userID, "name": s.cfg.Username, "password_expires_at": nil,
		},
		"audit_ids":  []string{t.AuditID},
		"expires_at": t.ExpiresAt.UTC().Format(keystoneTimeFormat),
		"issued_at":  t.IssuedAt.UTC().Format(keystoneTimeFormat),
		"project": map[string]any{
			"domain": domain, "id": s.ident.projectID, "name": s.cfg.ProjectName,
		},
		"is_domain": false,
		"roles":     roles,
	}
	if t.AppCredentialID != "" {
		ac := map[string]any{"id": t.AppCredentialID, "restricted": true}
		if c := s.ident.appCreds[t.AppCredentialID]; c != nil {
			ac["name"] = c.Name
		}
		body["application_credential"] = ac
	}
	if withCatalog {
		body["catalog"] = s.catalog()
	}
	return body
}

// CatalogEndpoints returns the public URL of each service in the catalog, keyed by
// service type (identity, compute, image, network).
func (s *Sim) CatalogEndpoints() map[string]string {
	return map[string]string{
		"identity": s.baseURL + "/identity",
		"compute":  s.baseURL + "/compute/v2.1",
		"image":    s.baseURL + "/image",
		"network":  s.baseURL + "/network",
	}
}

// catalog is the service catalog: every service with public, internal and admin
// endpoints in the configured region, laid out like devstack.
func (s *Sim) catalog() []any {
	services := []struct{ typ, name string }{
		{"identity", "keystone"}, {"compute", "nova"}, {"image", "glance"}, {"network", "neutron"},
	}
	urls := s.CatalogEndpoints()
	out := make([]any, 0, len(services))
	for _, svc := range services {
		var eps []any
		for _, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, map[string]any{
				"id":        s.stableID("endpoint", svc.typ, iface),
				"interface": iface,
				"region_id": s.cfg.Region,
				"url":       urls[svc.typ],
				"region":    s.cfg.Region,
			})
		}
		out = append(out, map[string]any{
			"endpoints": eps, "id": s.stableID("service", svc.typ), "type": svc.typ, "name": svc.name,
		})
	}
	return out
}

// stableID derives a Keystone-style id that stays the same for the life of the simulator.
func (s *Sim) stableID(parts ...string) string {
	h := sha256.Sum256([]byte(s.ident.projectID + "\x00" + strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

// validateTokenAPI answers GET /v3/auth/tokens: the token in X-Subject-Token, checked with
// the caller's X-Auth-Token.
func (s *Sim) validateTokenAPI(w http.ResponseWriter, r *http.Request) {
	subject := r.Header.Get("X-Subject-Token")
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.ident.tokens[subject]
	if !ok || !time.Now().Before(t.ExpiresAt) {
		s.keystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	_, noCatalog := r.URL.Query()["nocatalog"]
	w.Header().Set("X-Subject-Token", subject)
	writeJSON(w, http.StatusOK, map[string]any{"token": s.tokenBodyLocked(t, !noCatalog)})
}

func (s *Sim) revokeToken(w http.ResponseWriter, r *http.Request) {
	subject := r.Header.Get("X-Subject-Token")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ident.tokens[subject]; !ok {
		s.keystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	delete(s.ident.tokens, subject)
	w.WriteHeader(http.StatusNoContent)
}

// CreateAppCredential mints an application credential for the simulator's user and project,
// replacing any credential of the same name, and returns its id and secret.
func (s *Sim) CreateAppCredential(name string) (id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cid := range slices.Sorted(maps.Keys(s.ident.appCreds)) {
		if s.ident.appCreds[cid].Name == name {
			delete(s.ident.appCreds, cid)
		}
	}
	c := &AppCredential{ID: newID32(), Name: name, Secret: base64.RawURLEncoding.EncodeToString(randomBytes(48))}
	s.ident.appCreds[c.ID] = c
	return c.ID, c.Secret
}

// RevokeTokens revokes every issued token, as a Keystone key rotation or restart would:
// clients must authenticate again (tests use it to exercise re-authentication).
func (s *Sim) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.ident.tokens)
}

// UserID and ProjectID are the ids of the one user and project.
func (s *Sim) UserID() string    { return s.ident.userID }
func (s *Sim) ProjectID() string { return s.ident.projectID }

func (s *Sim) appCredBodyLocked(c *AppCredential, withSecret bool) map[string]any {
	roles := make([]any, 0, len(keystoneRoles))
	for _, name := range keystoneRoles {
		roles = append(roles, map[string]any{"id": s.stableID("role", name), "name": name, "domain_id": nil})
	}
	b := map[string]any{
		"id": c.ID, "name": c.Name, "description": nil, "expires_at": nil,
		"project_id": s.ident.projectID, "user_id": s.ident.userID, "roles": roles,
		"unrestricted": false, "access_rules": []any{},
		"links": map[string]any{"self": s.baseURL + "/identity/v3/application_credentials/" + c.ID},
	}
	if withSecret {
		b["secret"] = c.Secret
	}
	return b
}

// callerTokenLocked returns the token the request authenticated with.
func (s *Sim) callerTokenLocked(r *http.Request) *Token {
	return s.ident.tokens[r.Header.Get("X-Auth-Token")]
}

func (s *Sim) createAppCredentialAPI(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppCred *struct {
			Name   string `json:"name"`
			Secret string `json:"secret"`
		} `json:"application_credential"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.keystoneError(w, http.StatusBadRequest, "Malformed request body: "+err.Error())
		return
	}
	if req.AppCred == nil || req.AppCred.Name == "" || len(req.AppCred.Name) > 255 {
		s.keystoneError(w, http.StatusBadRequest, "Invalid input for field 'application_credential': 'name' is a required property")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PathValue("user_id") != s.ident.userID {
		s.keystoneError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:create_application_credential.")
		return
	}
	if t := s.callerTokenLocked(r); t != nil && t.AppCredentialID != "" {
		s.keystoneError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:create_application_credential.")
		return
	}
	for _, cid := range slices.Sorted(maps.Keys(s.ident.appCreds)) {
		if s.ident.appCreds[cid].Name == req.AppCred.Name {
			s.keystoneError(w, http.StatusConflict, "Conflict occurred attempting to store application_credential - Duplicate entry found with name "+req.AppCred.Name+".")
			return
		}
	}
	secret := req.AppCred.Secret
	if secret == "" {
		secret = base64.RawURLEncoding.EncodeToString(randomBytes(48))
	}
	c := &AppCredential{ID: newID32(), Name: req.AppCred.Name, Secret: secret}
	s.ident.appCreds[c.ID] = c
	writeJSON(w, http.StatusCreated, map[string]any{"application_credential": s.appCredBodyLocked(c, true)})
}

func (s *Sim) listAppCredentialsAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PathValue("user_id") != s.ident.userID {
		s.keystoneError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:list_application_credentials.")
		return
	}
	name := r.URL.Query().Get("name")
	out := []any{}
	for _, cid := range slices.Sorted(maps.Keys(s.ident.appCreds)) {
		if c := s.ident.appCreds[cid]; name == "" || c.Name == name {
			out = append(out, s.appCredBodyLocked(c, false))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"application_credentials": out,
		"links":                   map[string]any{"self": s.baseURL + r.URL.RequestURI(), "previous": nil, "next": nil},
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// newTokenID returns an opaque token id shaped like a Fernet token.
func newTokenID() string {
	return "gAAAAA" + base64.RawURLEncoding.EncodeToString(randomBytes(96))
}
