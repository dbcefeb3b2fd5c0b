package orchestrator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
)

// The schedule endpoints through the HTTP client: create (who asked is recorded), bad
// input is a 400 with the book's reason, list shows manifest and run-time schedules,
// manifest schedules cannot be changed (409), enable/disable/delete, unknown is 404, and
// the rule preview.
func TestScheduleAPIThroughClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, q := openRunTimeQueue(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	changes := 0
	svc := &ScheduleService{
		Book: &ScheduleBook{Store: st, Static: []string{"weekend-web"}, Targets: daemonTargets{}, Now: func() time.Time { return now },
			Changed: func() { changes++ }},
		Manifest: []ManifestSchedule{{Name: "weekend-web", RRule: "DTSTART;TZID=Europe/Sofia:20260103T020000 RRULE:FREQ=WEEKLY;BYDAY=SA",
			Window: 4 * time.Hour, Action: manifest.ActionRebuild, Target: "web"}},
	}
	h := APIHandler(Local{q}, nil, ScheduleRoutes(svc, func() time.Time { return now })...)
	withToken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Token") == "ci" {
			r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Name: "ci"}))
		}
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(withToken)
	t.Cleanup(srv.Close)
	c := &Client{Base: srv.URL}

	req := ScheduleRequest{Name: "sat-db", RRule: "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA",
		WindowHours: 4, Action: "update", Target: "db", Options: Options{ApplySecurityUpgrades: true, RebootIfRequired: true}, Description: "db patches"}
	v, err := c.CreateSchedule(ctx, req)
	require.NoError(t, err)
	require.Equal(t, SourceRunTime, v.Source)
	require.Equal(t, "api", v.CreatedBy)
	require.True(t, v.Enabled)
	require.Equal(t, "Europe/Sofia", v.Zone)
	require.Len(t, v.Next, 5)
	require.Equal(t, RunView{Start: "2026-11-28T11:40:00Z", End: "2026-11-28T15:40:00Z", StartLocal: "2026-11-28T13:40:00+02:00", Zone: "Europe/Sofia"}, v.Next[0])
	require.JSONEq(t, `{"apply_security_upgrades":true,"reboot_if_required":true,"apply_docker_upgrades":false,"apply_weave_upgrades":false}`, string(v.Options))
	require.Equal(t, 1, changes, "the daemon is told")

	// Who asked: the token's principal.
	tokReq, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/schedules", stringsReader(`{"name":"tok","rrule":"DTSTART:20260101T000000Z RRULE:FREQ=DAILY","window_hours":2,"action":"update","target":"web"}`))
	require.NoError(t, err)
	tokReq.Header.Set("X-Test-Token", "ci")
	resp, err := http.DefaultClient.Do(tokReq)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	tok, err := c.GetSchedule(ctx, "tok")
	require.NoError(t, err)
	require.Equal(t, "token ci", tok.CreatedBy)

	bad := req
	bad.Name, bad.WindowHours = "x", 30
	_, err = c.CreateSchedule(ctx, bad)
	var br BadRequestError
	require.ErrorAs(t, err, &br)
	require.Contains(t, err.Error(), "window_hours 30: want 1 to 24")
	bad = req
	bad.Name = "weekend-web"
	_, err = c.CreateSchedule(ctx, bad)
	require.ErrorAs(t, err, &br)
	require.Contains(t, err.Error(), "the manifest defines a schedule of that name")

	list, err := c.ListSchedules(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, SourceManifest, list[0].Source)
	require.Equal(t, int64(0), list[0].ID)
	require.Equal(t, "weekend-web", list[0].Name)
	require.Equal(t, "sat-db", list[1].Name)
	only, err := c.ListSchedules(ctx, "db")
	require.NoError(t, err)
	require.Len(t, only, 1)

	m, err := c.GetSchedule(ctx, "weekend-web")
	require.NoError(t, err)
	require.Equal(t, SourceManifest, m.Source)
	_, err = c.SetScheduleEnabled(ctx, "weekend-web", false)
	require.ErrorContains(t, err, "defined in the manifest")
	require.ErrorIs(t, err, ErrManifestSchedule, "the answer's code: the CLI exits 2 for it, as locally")
	require.Equal(t, 1, strings.Count(err.Error(), "defined in the manifest"), "said once: %v", err)

	off, err := c.SetScheduleEnabled(ctx, "sat-db", false)
	require.NoError(t, err)
	require.False(t, off.Enabled)
	require.Empty(t, off.Next)
	on, err := c.SetScheduleEnabled(ctx, itoa(v.ID), true)
	require.NoError(t, err)
	require.True(t, on.Enabled)

	upd := req
	upd.WindowHours = 6
	u, err := c.UpdateSchedule(ctx, "sat-db", upd)
	require.NoError(t, err)
	require.Equal(t, 6.0, u.WindowHours)

	// History: the runs a daemon handled, of one schedule or all; a run-time schedule
	// without runs has none, a name nobody knows is not found; a deleted schedule's runs stay.
	require.NoError(t, st.RecordScheduleRun(ctx, nil, store.ScheduleRun{Schedule: "sat-db", Target: "db", Start: now.Add(-2 * time.Hour),
		End: now.Add(2 * time.Hour), Outcome: store.RunSkipped, Reason: "db busy", Recorded: now}))
	hist, err := c.ScheduleHistory(ctx, "sat-db")
	require.NoError(t, err)
	require.Equal(t, []ScheduleRunView{{Schedule: "sat-db", Target: "db", Start: now.Add(-2 * time.Hour), End: now.Add(2 * time.Hour),
		Outcome: store.RunSkipped, Reason: "db busy", Recorded: now}}, hist)
	hist, err = c.ScheduleHistory(ctx, "weekend-web")
	require.NoError(t, err)
	require.Empty(t, hist)
	_, err = c.ScheduleHistory(ctx, "nope")
	require.ErrorIs(t, err, store.ErrScheduleNotFound)
	require.ErrorContains(t, err, `schedule "nope" is not in the manifest nor created at run time, and has no recorded runs`)

	require.NoError(t, c.DeleteSchedule(ctx, "sat-db"))
	_, err = c.GetSchedule(ctx, "sat-db")
	require.ErrorIs(t, err, store.ErrScheduleNotFound)
	hist, err = c.ScheduleHistory(ctx, "")
	require.NoError(t, err)
	require.Len(t, hist, 1, "a deleted schedule's runs stay")
	require.ErrorIs(t, c.DeleteSchedule(ctx, "4242"), store.ErrScheduleNotFound)

	runs, err := c.RRuleNext(ctx, RRuleNextRequest{RRule: "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA", N: 2})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, "2026-11-28T11:40:00Z", runs[0].Start)
	_, err = c.RRuleNext(ctx, RRuleNextRequest{RRule: "FREQ=SOMETIMES"})
	require.ErrorAs(t, err, &br)
	// The answers are what openapi.json says they are.
	for _, r := range []struct {
		pattern, method, path, body string
		status                      int
	}{
		{"GET /v1/schedules", "GET", "/v1/schedules", "", 200},
		{"GET /v1/schedules/{id}", "GET", "/v1/schedules/weekend-web", "", 200},
		{"GET /v1/schedules/{id}", "GET", "/v1/schedules/nope", "", 404},
		{"POST /v1/schedules/{id}/disable", "POST", "/v1/schedules/weekend-web/disable", "", 409},
		{"GET /v1/schedule-runs", "GET", "/v1/schedule-runs", "", 200},
		{"GET /v1/schedule-runs", "GET", "/v1/schedule-runs?schedule=sat-db", "", 200},
		{"GET /v1/schedule-runs", "GET", "/v1/schedule-runs?schedule=nope", "", 404},
		{"POST /v1/rrule/next", "POST", "/v1/rrule/next", `{"rrule":"DTSTART:20260101T000000Z RRULE:FREQ=DAILY","n":2}`, 200},
		{"POST /v1/rrule/next", "POST", "/v1/rrule/next", `{"rrule":"FREQ=SOMETIMES"}`, 400},
		{"DELETE /v1/schedules/{id}", "DELETE", "/v1/schedules/tok", "", 200},
	} {
		status, body := rawBody(t, r.method, srv.URL+r.path, r.body)
		require.Equal(t, r.status, status, "%s %s: %s", r.method, r.path, body)
		requireDocumented(t, r.pattern, status, body)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
