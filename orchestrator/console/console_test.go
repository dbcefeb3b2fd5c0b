package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// fakeAuth knows a fixed set of tokens.
type fakeAuth map[string]auth.Principal

func (a fakeAuth) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	p, ok := a[token]
	if !ok {
		return auth.Principal{}, auth.ErrUnauthorized
	}
	return p, nil
}

// revocable is tokens with revocation: a revoked token is refused from then on.
type revocable struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (a *revocable) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.revoked[token] {
		return auth.Principal{}, auth.ErrUnauthorized
	}
	return tokens.Authenticate(ctx, token)
}

func (a *revocable) revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked[token] = true
}

var tokens = fakeAuth{
	"secret-alice": {Name: "alice"},
	"secret-ro":    {Name: "viewer", ReadOnly: true},
}

// fakeGroups is one group "web" with two slots.
type fakeGroups struct{}

func (fakeGroups) GroupNames() []string { return []string{"web", "db"} }
func (fakeGroups) Slots(g string) int   { return 2 }
func (fakeGroups) Status(ctx context.Context, g string) (failover.GroupStatus, error) {
	return failover.GroupStatus{Group: g, Count: 2, LatestRollout: "r-20261127", RolloutStatus: "succeeded", Slots: []failover.SlotStatus{
		{Slot: 0, ServerID: "0123456789abcdef", ServerName: g + "-0-aaaa", Status: "ACTIVE", ImageVersion: "2026.11.2", FixedIP: "10.0.0.5", Address: "127.20.0.2", AddressOn: "server", Health: "healthy"},
		{Slot: 1, ServerID: "fedcba9876543210", ServerName: g + "-1-aaaa", Status: "ACTIVE", ImageVersion: "2026.11.2", FixedIP: "10.0.0.6", Address: "127.20.0.3", AddressOn: "server", Health: "healthy"},
	}}, nil
}
func (fakeGroups) Pending(ctx context.Context, g string) (map[string]int, error) {
	return map[string]int{"0123456789abcdef": 3}, nil
}
func (fakeGroups) Plan(ctx context.Context, g string) (string, error) {
	return "rollout of " + g + ": replace web-0 (2026.11.1 → 2026.11.2)", nil
}
func (fakeGroups) RollbackPlan(ctx context.Context, g string) (string, error) {
	return "slot web-0: address 127.20.0.2 back to kept server web-0-old", nil
}

// fakeImages is one family whose versions can be revoked.
type fakeImages struct {
	mu      sync.Mutex
	revoked map[string]string
}

func (*fakeImages) FamilyNames() []string { return []string{"debian-12"} }
func (f *fakeImages) Versions(ctx context.Context, family string) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	state := "active"
	if _, ok := f.revoked["2026.11.2"]; ok {
		state = "revoked"
	}
	return []Image{
		{Version: "2026.11.2", State: state, ImageID: "img-2", Built: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), Verification: "passed", Previous: "2026.11.1",
			Changes: []debian.Change{{Name: "openssl", From: "3.0.14-1", To: "3.0.15-1", Suite: "bookworm-security", Security: true}}},
		{Version: "2026.11.1", State: "deprecated", ImageID: "img-1", Built: time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)},
	}, nil
}
func (f *fakeImages) Revoke(ctx context.Context, family, version, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[version] = reason
	return nil
}

type targets struct{}

func (targets) FamilyNames() []string     { return []string{"debian-12"} }
func (targets) GroupNames() []string      { return []string{"web", "db"} }
func (targets) Replaceable(g string) bool { return g == "web" }

// workHandler finishes every job at once: two updates installed, an event per job, and
// the job's maintenance window recorded as an event.
type workHandler struct{ release chan struct{} }

func (workHandler) Check(target string, options json.RawMessage) error {
	if g, _ := orchestrator.SplitTarget(target); g != "web" && g != "db" && target != "debian-12" {
		return fmt.Errorf("target %q is not in the manifest", target)
	}
	return nil
}

type runHandler struct{ workHandler }

func (h runHandler) Run(ctx context.Context, w *orchestrator.Work) error {
	if h.release != nil {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	msg := "no window"
	if r := w.Run(); r != nil {
		msg = fmt.Sprintf("window %s", r.End.Sub(r.Start))
	}
	w.Event(ctx, "info", msg)
	w.Count(ctx, 2, 0)
	return nil
}

type env struct {
	t      testing.TB
	srv    *httptest.Server
	queue  *orchestrator.Queue
	book   *orchestrator.ScheduleBook
	images *fakeImages
	auth   *revocable
	now    time.Time
}

func newEnv(t testing.TB, tls bool, release chan struct{}) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	h := runHandler{workHandler{release: release}}
	q, err := orchestrator.NewQueue(ctx, st, orchestrator.Registry{orchestrator.KindUpdate: h, orchestrator.KindRebuild: h, orchestrator.KindBuildImage: h},
		orchestrator.QueueConfig{Workers: 2, PollInterval: 20 * time.Millisecond, LeaseTTL: 2 * time.Second, Holder: store.LeaseHolder{Host: "test", PID: 1}})
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })
	e := &env{t: t, queue: q, images: &fakeImages{revoked: map[string]string{}}, auth: &revocable{revoked: map[string]bool{}}, now: time.Now()}
	e.book = &orchestrator.ScheduleBook{Store: st, Targets: targets{}, Static: []string{"weekly-web"}, Slots: func(string) int { return 2 }}
	c, err := New(Config{Auth: e.auth, Jobs: orchestrator.Local{Queue: q}, Groups: fakeGroups{}, Images: e.images, Schedules: e.book,
		Static:       []StaticSchedule{{Name: "weekly-web", RRule: "DTSTART:20260103T030000Z RRULE:FREQ=WEEKLY;BYDAY=SA", Action: "update", Target: "web", Window: 4 * time.Hour}},
		PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	if tls {
		e.srv = httptest.NewTLSServer(c)
	} else {
		e.srv = httptest.NewServer(c)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser-like client: a cookie jar, no automatic redirects.
func (e *env) client() *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	c := *e.srv.Client() // a copy: each client its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (e *env) login(token string) *http.Client {
	c := e.client()
	resp, err := c.PostForm(e.srv.URL+"/login", url.Values{"token": {token}, "next": {"/updates/web"}})
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusSeeOther, resp.StatusCode)
	return c
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, m, "the page has a CSRF field")
	return m[1]
}

func TestLoginCookieIsHttpOnlyStrictAndSecureOverTLS(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		e := newEnv(t, tls, nil)
		c := e.client()
		resp, _ := post(t, c, e.srv.URL+"/login", url.Values{"token": {"secret-alice"}, "next": {"/jobs"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/jobs", resp.Header.Get("Location"))
		var ck *http.Cookie
		for _, x := range resp.Cookies() {
			if x.Name == CookieName {
				ck = x
			}
		}
		require.NotNil(t, ck, "session cookie set")
		require.True(t, ck.HttpOnly, "HttpOnly")
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
		require.Equal(t, tls, ck.Secure, "Secure exactly when served over TLS")
		require.Equal(t, "/", ck.Path)

		code, body := get(t, c, e.srv.URL+"/groups")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "web-0-aaaa")
		require.Contains(t, body, "alice")
	}
}

func TestWrongTokenIsRefusedAndPagesNeedALogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	c := e.client()
	resp, body := post(t, c, e.srv.URL+"/login", url.Values{"token": {"not-a-token"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "that token is not valid")
	require.Empty(t, resp.Cookies(), "no cookie for a wrong token")

	for _, p := range []string{"/", "/groups", "/images", "/updates/web", "/jobs", "/jobs/1"} {
		resp, err := c.Get(e.srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/login?next="), p)
	}
	// A forged cookie is no session either.
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: "forged"}})
	code, _ := get(t, c, e.srv.URL+"/rrule/next?rrule=x")
	require.Equal(t, http.StatusUnauthorized, code)
	resp, _ = post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"2"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// Off-site redirects after login are not followed.
	require.Equal(t, "/groups", safeNext("//evil.example/"))
	require.Equal(t, "/groups", safeNext("https://evil.example/"))
	require.Equal(t, "/jobs?x=1", safeNext("/jobs?x=1"))
}

func TestWritesNeedTheSessionsCSRFToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	c := e.login("secret-alice")
	_, page := get(t, c, e.srv.URL+"/updates/web")
	csrf := csrfOf(t, page)

	resp, body := post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"3"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token")
	require.Contains(t, body, "CSRF")
	resp, _ = post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"3"}, "csrf": {csrf + "x"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "wrong CSRF token")
	other := e.login("secret-ro")
	_, otherPage := get(t, other, e.srv.URL+"/groups")
	require.NotEqual(t, csrf, csrfOf(t, otherPage), "each session has its own token")
	resp, _ = post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"3"}, "csrf": {csrfOf(t, otherPage)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "another session's CSRF token")
	jobs, err := e.queue.List(context.Background(), orchestrator.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, jobs, "nothing was queued by refused writes")

	// GET never writes.
	code, _ := get(t, c, e.srv.URL+"/updates/web/update")
	require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, code)
	code, _ = get(t, c, e.srv.URL+"/groups/web/rebuild")
	require.Equal(t, http.StatusOK, code, "the confirmation page")
	jobs, err = e.queue.List(context.Background(), orchestrator.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, jobs, "GETs queue nothing")

	resp, body = post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"25"}, "csrf": {csrf}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "want whole hours from 1 to 24")

	before := time.Now()
	resp, _ = post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"3"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/updates/web#history", resp.Header.Get("Location"))
	jobs, err = e.queue.List(context.Background(), orchestrator.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	j := jobs[0]
	require.Equal(t, orchestrator.KindUpdate, j.Kind)
	require.Equal(t, "web", j.Target)
	require.Equal(t, "token alice", j.RequestedBy)
	require.NotNil(t, j.Run)
	require.False(t, j.Run.Start.Before(before.Add(-time.Second)))
	require.Equal(t, 3*time.Hour, j.Run.End.Sub(j.Run.Start))
	require.JSONEq(t, `{"apply_security_upgrades":true,"reboot_if_required":true}`, string(j.Options))

	// The job finishes; History shows it with its counts and a link to its log.
	require.Eventually(t, func() bool {
		j, err := e.queue.Get(context.Background(), j.ID)
		return err == nil && j.Status == orchestrator.StatusSucceeded
	}, 30*time.Second, 20*time.Millisecond)
	_, page = get(t, c, e.srv.URL+"/updates/web")
	require.Contains(t, page, fmt.Sprintf(`href="/jobs/%d"`, j.ID))
	require.Contains(t, page, "succeeded")
	_, jobPage := get(t, c, e.srv.URL+fmt.Sprintf("/jobs/%d", j.ID))
	require.Contains(t, jobPage, "window 3h0m0s")
}

func TestReadOnlyTokenSeesNoWriteButtonsAndGets403(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	ro := e.login("secret-ro")
	rw := e.login("secret-alice")
	for _, p := range []string{"/groups", "/images", "/updates/web"} {
		code, roPage := get(t, ro, e.srv.URL+p)
		require.Equal(t, http.StatusOK, code, p)
		_, rwPage := get(t, rw, e.srv.URL+p)
		require.Contains(t, roPage, "read-only", p)
		for _, w := range []string{"Rebuild…", "Build now", "Revoke", `id="update"`, "Create schedule"} {
			require.NotContains(t, roPage, w, "%s shows %q to a read-only token", p, w)
		}
		require.Contains(t, rwPage, map[string]string{"/groups": "Rebuild…", "/images": "Revoke", "/updates/web": `id="update"`}[p], p)
	}
	_, page := get(t, ro, e.srv.URL+"/groups")
	csrf := csrfOf(t, page) // the logout form's
	for _, p := range []string{"/updates/web/update", "/groups/web/rebuild", "/images/debian-12/build", "/images/debian-12/2026.11.2/revoke", "/updates/web/schedules"} {
		resp, body := post(t, ro, e.srv.URL+p, url.Values{"window": {"2"}, "csrf": {csrf}, "reason": {"x"}, "name": {"x"}, "rrule": {"FREQ=DAILY"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, p)
		require.Contains(t, body, "token viewer is read-only", p)
	}
	jobs, err := e.queue.List(context.Background(), orchestrator.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, jobs)
	require.Empty(t, e.images.revoked)
	// Logging out is no write: a read-only session may end itself.
	resp, _ := post(t, ro, e.srv.URL+"/logout", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	code, _ := get(t, ro, e.srv.URL+"/groups")
	require.Equal(t, http.StatusSeeOther, code, "logged out")
}

func TestRRulePreviewEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	c := e.login("secret-alice")
	q := url.Values{"rrule": {"DTSTART;TZID=Europe/Berlin:20260103T030000 RRULE:FREQ=WEEKLY;BYDAY=SA"}, "window": {"4"}}
	code, body := get(t, c, e.srv.URL+"/rrule/next?"+q.Encode())
	require.Equal(t, http.StatusOK, code, body)
	var out struct{ Runs []rruleRun }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out.Runs, 5)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	for i, r := range out.Runs {
		local := r.Start.In(berlin)
		require.Equal(t, time.Saturday, local.Weekday())
		require.Equal(t, 3, local.Hour(), "03:00 Berlin time across DST")
		require.Equal(t, 4*time.Hour, r.End.Sub(r.Start))
		require.Equal(t, "Europe/Berlin", r.Zone)
		require.True(t, r.Start.After(time.Now()))
		if i > 0 {
			require.Equal(t, 7, int(r.Start.Sub(out.Runs[i-1].Start).Round(24*time.Hour)/(24*time.Hour)))
		}
	}
	for _, bad := range []url.Values{
		{"rrule": {"FREQ=SOMETIMES"}},
		{"rrule": {""}},
		{"rrule": {"DTSTART:20260103T030000Z RRULE:FREQ=DAILY"}, "window": {"30"}},
		{"rrule": {"DTSTART:20260103T030000Z RRULE:FREQ=DAILY"}, "n": {"0"}},
	} {
		code, body := get(t, c, e.srv.URL+"/rrule/next?"+bad.Encode())
		require.Equal(t, http.StatusBadRequest, code, bad)
		var er struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &er))
		require.NotEmpty(t, er.Error, bad)
	}
}

func TestScheduleCreateEditDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	c := e.login("secret-alice")
	_, page := get(t, c, e.srv.URL+"/updates/web")
	require.Contains(t, page, "weekly-web", "the manifest's schedule is listed")
	require.Contains(t, page, "web-0-aaaa · 2026.11.2 · healthy · 3 pending updates")
	require.Contains(t, page, "web-1-aaaa · 2026.11.2 · healthy · not checked in place yet")
	csrf := csrfOf(t, page)
	form := url.Values{"csrf": {csrf}, "name": {"nightly"}, "rrule": {"DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=DAILY"}, "window": {"2"}, "enabled": {"on"}, "action": {"update"}}
	resp, body := post(t, c, e.srv.URL+"/updates/web/schedules", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	defs, err := e.book.List(context.Background(), "web")
	require.NoError(t, err)
	require.Len(t, defs, 1)
	d := defs[0]
	require.Equal(t, "nightly", d.Name)
	require.Equal(t, 2*time.Hour, d.Window)
	require.True(t, d.Enabled)
	require.Equal(t, "token alice", d.CreatedBy)
	require.JSONEq(t, `{"apply_security_upgrades":true,"reboot_if_required":true,"apply_docker_upgrades":false,"apply_weave_upgrades":false}`, string(d.Options))

	// Bad input: 400 naming the field.
	bad := url.Values{"csrf": {csrf}, "name": {"weekly-web"}, "rrule": {"DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=DAILY"}, "window": {"2"}}
	resp, body = post(t, c, e.srv.URL+"/updates/web/schedules", bad)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "the manifest defines a schedule of that name")
	require.Contains(t, body, `id="form-error"`, "the form is shown again with the reason")
	require.Contains(t, body, `value="weekly-web"`, "with what was typed")
	bad.Set("name", "x")
	bad.Set("rrule", "RRULE:FREQ=NEVER")
	resp, body = post(t, c, e.srv.URL+"/updates/web/schedules", bad)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "rrule")

	_, page = get(t, c, e.srv.URL+"/updates/web")
	require.Contains(t, page, "nightly")
	require.Contains(t, page, fmt.Sprintf(`href="/schedules/%d"`, d.ID))

	_, edit := get(t, c, e.srv.URL+fmt.Sprintf("/schedules/%d", d.ID))
	require.Contains(t, edit, `value="nightly"`)
	form.Set("window", "6")
	form.Del("enabled")
	resp, body = post(t, c, e.srv.URL+fmt.Sprintf("/schedules/%d", d.ID), form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	form.Set("window", "0")
	resp, body = post(t, c, e.srv.URL+fmt.Sprintf("/schedules/%d", d.ID), form)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "want whole hours from 1 to 24")
	require.Contains(t, body, `id="form-error"`)
	form.Set("window", "6")
	d2, err := e.book.Get(context.Background(), d.ID)
	require.NoError(t, err)
	require.Equal(t, 6*time.Hour, d2.Window, "the refused change changed nothing")
	d2, err = e.book.Get(context.Background(), d.ID)
	require.NoError(t, err)
	require.Equal(t, 6*time.Hour, d2.Window)
	require.False(t, d2.Enabled)

	resp, body = post(t, c, e.srv.URL+fmt.Sprintf("/schedules/%d/delete", d.ID), url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	_, err = e.book.Get(context.Background(), d.ID)
	require.ErrorIs(t, err, store.ErrScheduleNotFound)
	code, _ := get(t, c, e.srv.URL+fmt.Sprintf("/schedules/%d", d.ID))
	require.Equal(t, http.StatusNotFound, code)
}

func TestGroupsImagesAndJobPages(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	e := newEnv(t, false, release)
	c := e.login("secret-alice")
	_, page := get(t, c, e.srv.URL+"/groups/web/rebuild")
	require.Contains(t, page, "replace web-0 (2026.11.1 → 2026.11.2)", "the plan is shown before confirming")
	csrf := csrfOf(t, page)
	resp, _ := post(t, c, e.srv.URL+"/groups/web/rebuild", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Regexp(t, `^/jobs/\d+$`, loc)
	// A second rebuild while the first is unfinished: 409 naming the job.
	resp, body := post(t, c, e.srv.URL+"/groups/web/rebuild", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "still unfinished")
	code, _ := get(t, c, e.srv.URL+"/groups/nope/rebuild")
	require.Equal(t, http.StatusNotFound, code)

	// The job's event stream sends the job, then its end once it finished.
	req, err := http.NewRequest("GET", e.srv.URL+loc+"/events", nil)
	require.NoError(t, err)
	sresp, err := c.Do(req)
	require.NoError(t, err)
	defer sresp.Body.Close()
	require.Equal(t, "text/event-stream", sresp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(sresp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lastJob orchestrator.Job
	sawEnd := false
	close(release)
	for sc.Scan() && !sawEnd {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "data: "); ok && d != "{}" {
			require.NoError(t, json.Unmarshal([]byte(d), &lastJob))
		}
		sawEnd = line == "event: end"
	}
	require.True(t, sawEnd, "the stream ends when the job does")
	require.Equal(t, orchestrator.StatusSucceeded, lastJob.Status)
	require.Equal(t, "token alice", lastJob.RequestedBy)

	_, page = get(t, c, e.srv.URL+"/images")
	require.Contains(t, page, "1 changed since 2026.11.1")
	require.Contains(t, page, "openssl 3.0.14-1 → 3.0.15-1")
	resp, body = post(t, c, e.srv.URL+"/images/debian-12/2026.11.2/revoke", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "give a reason")
	resp, _ = post(t, c, e.srv.URL+"/images/debian-12/2026.11.2/revoke", url.Values{"csrf": {csrf}, "reason": {"broken sshd"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "broken sshd (token alice)", e.images.revoked["2026.11.2"])

	_, page = get(t, c, e.srv.URL+"/jobs?kind=rebuild")
	require.Contains(t, page, loc)
	code, _ = get(t, c, e.srv.URL+"/jobs/999999")
	require.Equal(t, http.StatusNotFound, code)
}

func TestUpdatesOfOneServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	c := e.login("secret-alice")
	code, page := get(t, c, e.srv.URL+"/updates/web")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `href="/updates/web/1"`, "each server links to its own Updates")
	code, page = get(t, c, e.srv.URL+"/updates/web/1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "web-1-aaaa")
	require.NotContains(t, page, "web-0-aaaa", "only the slot's server")
	for _, bad := range []string{"2", "-1", "01", "x"} {
		code, _ := get(t, c, e.srv.URL+"/updates/web/"+bad)
		require.Equal(t, http.StatusNotFound, code, bad)
	}
	csrf := csrfOf(t, page)
	resp, _ := post(t, c, e.srv.URL+"/updates/web/1/update", url.Values{"window": {"2"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/updates/web/1#history", resp.Header.Get("Location"))
	resp, _ = post(t, c, e.srv.URL+"/updates/web/1/schedules", url.Values{"csrf": {csrf}, "name": {"web1-nightly"},
		"rrule": {"DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=DAILY"}, "window": {"2"}, "enabled": {"on"}, "action": {"update"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	defs, err := e.book.List(context.Background(), "web/1")
	require.NoError(t, err)
	require.Len(t, defs, 1)
	jobs, err := e.queue.List(context.Background(), orchestrator.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, "web/1", jobs[0].Target)
	// A group-wide update shows in the slot's History too; the slot's own only there.
	require.Eventually(t, func() bool {
		j, err := e.queue.Get(context.Background(), jobs[0].ID)
		return err == nil && j.Status == orchestrator.StatusSucceeded
	}, 30*time.Second, 20*time.Millisecond)
	resp, _ = post(t, c, e.srv.URL+"/updates/web/update", url.Values{"window": {"2"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, slotPage := get(t, c, e.srv.URL+"/updates/web/1")
	require.Contains(t, slotPage, fmt.Sprintf(`href="/jobs/%d"`, jobs[0].ID))
	require.Contains(t, slotPage, fmt.Sprintf(`href="/jobs/%d"`, jobs[0].ID+1))
	require.Contains(t, slotPage, "web1-nightly")
	_, groupPage := get(t, c, e.srv.URL+"/updates/web")
	require.NotContains(t, groupPage, fmt.Sprintf(`href="/jobs/%d"`, jobs[0].ID))
	require.NotContains(t, groupPage, "web1-nightly")
}

// TestRevokedTokenEndsTheSessionAndItsEventStream: once the token is revoked, pages send
// the browser to the login form, writes get 401, and an open job event stream closes
// (without "end": the job is still running).
func TestRevokedTokenEndsTheSessionAndItsEventStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	e := newEnv(t, false, release)
	c := e.login("secret-alice")
	_, page := get(t, c, e.srv.URL+"/groups/web/rebuild")
	csrf := csrfOf(t, page)
	resp, _ := post(t, c, e.srv.URL+"/groups/web/rebuild", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang, not a speed check
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+loc+"/events", nil)
	require.NoError(t, err)
	sresp, err := c.Do(req)
	require.NoError(t, err)
	defer sresp.Body.Close()
	require.Equal(t, http.StatusOK, sresp.StatusCode)
	sc := bufio.NewScanner(sresp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	require.True(t, sc.Scan())
	require.Equal(t, "event: job", sc.Text(), "the stream starts with the job")

	e.auth.revoke("secret-alice")
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	require.NoError(t, sc.Err(), "the server closed the stream")
	require.NotContains(t, rest, "event: end", "the job is still running; the stream closed because the token was revoked")

	code, _ := get(t, c, e.srv.URL+"/jobs")
	require.Equal(t, http.StatusSeeOther, code, "pages send a revoked session to the login form")
	resp, _ = post(t, c, e.srv.URL+"/groups/web/rebuild", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "writes of a revoked session are refused")
}

// TestTwoBrowsersEditingOneSchedule: the second save over a page loaded before the first
// save is refused with 409 (no silent overwrite); after a reload it goes through.
func TestTwoBrowsersEditingOneSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	a, b := e.login("secret-alice"), e.login("secret-alice")
	_, page := get(t, a, e.srv.URL+"/updates/web")
	form := url.Values{"csrf": {csrfOf(t, page)}, "name": {"nightly"}, "rrule": {"DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=DAILY"}, "window": {"2"}, "enabled": {"on"}, "action": {"update"}}
	resp, body := post(t, a, e.srv.URL+"/updates/web/schedules", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	defs, err := e.book.List(context.Background(), "web")
	require.NoError(t, err)
	u := e.srv.URL + fmt.Sprintf("/schedules/%d", defs[0].ID)
	version := regexp.MustCompile(`name="version" value="([^"]+)"`)
	_, pageA := get(t, a, u)
	_, pageB := get(t, b, u)
	formA, formB := url.Values{}, url.Values{}
	for k, v := range form {
		formA[k], formB[k] = v, v
	}
	formA.Set("csrf", csrfOf(t, pageA))
	formA.Set("version", version.FindStringSubmatch(pageA)[1])
	formA.Set("window", "6")
	formB.Set("csrf", csrfOf(t, pageB))
	formB.Set("version", version.FindStringSubmatch(pageB)[1])
	formB.Set("window", "8")
	resp, body = post(t, a, u, formA)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	resp, body = post(t, b, u, formB)
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)
	require.Contains(t, body, "after this page was loaded: reload it")
	d, err := e.book.Get(context.Background(), defs[0].ID)
	require.NoError(t, err)
	require.Equal(t, 6*time.Hour, d.Window, "the first save stands")
	_, pageB = get(t, b, u)
	formB.Set("version", version.FindStringSubmatch(pageB)[1])
	resp, body = post(t, b, u, formB)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	d, err = e.book.Get(context.Background(), defs[0].ID)
	require.NoError(t, err)
	require.Equal(t, 8*time.Hour, d.Window)
}
