package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/remint-dev/remint/internal/auth"
)

// CookieName is the session cookie: it holds the bearer token the user logged in with,
// verified again on every request (a revoked token ends the session at once).
const CookieName = "remint_session"

// maxToken bounds the token a login form may carry.
const maxToken = 4096

// session is a verified request.
type session struct {
	auth.Principal
	CSRF string
}

// csrfFor is the per-session CSRF token: an HMAC of the session's bearer token under the
// process's key, so it changes with the session and cannot be computed without the key.
func (c *Console) csrfFor(token string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authenticate verifies the session cookie; nil when there is none or it is not valid.
func (c *Console) authenticate(r *http.Request) (*session, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	p, err := c.cfg.Auth.Authenticate(r.Context(), ck.Value)
	if errors.Is(err, auth.ErrUnauthorized) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{Principal: p, CSRF: c.csrfFor(ck.Value)}, nil
}

type handler func(w http.ResponseWriter, r *http.Request, s *session)

// read serves a page to any logged-in principal; others go to the login form.
func (c *Console) read(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.authenticate(r)
		if err != nil {
			c.fail(w, r, nil, http.StatusInternalServerError, "verify the session: "+err.Error())
			return
		}
		if s == nil {
			if strings.HasPrefix(r.URL.Path, "/rrule/") || strings.HasSuffix(r.URL.Path, "/events") {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": auth.ErrUnauthorized.Error()})
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// write guards a POST: a logged-in principal (401 otherwise), the session's CSRF token in
// the form (403 otherwise), and write access (403 for read-only principals; logout
// excepted).
func (c *Console) write(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.authenticate(r)
		if err != nil {
			c.fail(w, r, nil, http.StatusInternalServerError, "verify the session: "+err.Error())
			return
		}
		if s == nil {
			c.fail(w, r, nil, http.StatusUnauthorized, "not logged in, or the token is no longer valid: log in again")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "form: "+err.Error())
			return
		}
		if got := r.PostForm.Get("csrf"); !hmac.Equal([]byte(got), []byte(s.CSRF)) {
			c.fail(w, r, s, http.StatusForbidden, "the form's CSRF token is missing or wrong: reload the page and try again")
			return
		}
		if s.ReadOnly && r.URL.Path != "/logout" {
			c.fail(w, r, s, http.StatusForbidden, "token "+s.Name+" is read-only: it may look but not change anything")
			return
		}
		h(w, r, s)
	}
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", nil, map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	refuse := func(msg string) {
		c.render(w, r, http.StatusUnauthorized, "login", nil, map[string]any{"Next": next, "Error": msg})
	}
	if token == "" || len(token) > maxToken {
		refuse("enter an API token (remint token create --name NAME prints one)")
		return
	}
	p, err := c.cfg.Auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrUnauthorized) {
		refuse("that token is not valid (unknown, wrong or revoked)")
		return
	}
	if err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "verify the token: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	c.cfg.Logger.Info("console login", "principal", p.Name, "read_only", p.ReadOnly)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a local path, or /groups.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/groups"
	}
	return next
}
