package serverupdate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackitcloud/stackit-sdk-go/core/config"
	"github.com/stackitcloud/stackit-sdk-go/core/oapierror"
	"github.com/stackitcloud/stackit-sdk-go/services/serverupdate"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
	su "github.com/remint-dev/remint/orchestrator/serverupdate"
)

const (
	project = "5a1c3d6e0f2b4a7c9d8e1f0a2b3c4d5e"
	web1    = "7c1e0d2a-0000-4000-8000-000000000001"
	db1     = "7c1e0d2a-0000-4000-8000-0000000000d1"
	token   = "s3cret-token"
)

type targets struct{}

func (targets) FamilyNames() []string         { return []string{"debian-12"} }
func (targets) GroupNames() []string          { return []string{"db", "web"} }
func (targets) Replaceable(group string) bool { return group == "web" }

func servers(_ context.Context, id string) (string, int, error) {
	switch id {
	case web1:
		return "web", 1, nil
	case db1:
		return "db", 0, nil
	}
	return "", 0, su.ErrServerNotFound
}

func slots(group string) int { return map[string]int{"web": 2, "db": 1}[group] }

// updateWork stands in for the update use case: it records what it was asked and ends
// as the test says.
type updateWork struct {
	mu      sync.Mutex
	targets []string
	runs    []orchestrator.Run
	fail    bool
}

func (h *updateWork) Check(target string, options json.RawMessage) error {
	return orchestrator.UpdateHandler{Groups: func(g string) bool { return g == "web" || g == "db" }}.Check(target, options)
}

func (h *updateWork) Run(ctx context.Context, w *orchestrator.Work) error {
	h.mu.Lock()
	h.targets = append(h.targets, w.Target)
	h.runs = append(h.runs, *w.Run())
	fail := h.fail
	h.mu.Unlock()
	group, slot := orchestrator.SplitTarget(w.Target)
	w.Decide(ctx, fmt.Sprintf("path: in place on the server of slot %d of group %s only", slot, group))
	if fail {
		w.Count(ctx, 2, 1)
		return errors.New("apt-get install failed on web-0: dpkg was interrupted")
	}
	w.Count(ctx, 3, 0)
	return nil
}

type env struct {
	st     *store.Store
	queue  *orchestrator.Queue
	book   *orchestrator.ScheduleBook
	work   *updateWork
	client *serverupdate.APIClient
	url    string
}

// bearer stands in for the token middleware: it admits "Bearer s3cret-token" as token
// ci and refuses everything else.
func bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Name: "ci"})))
	})
}

func start(t *testing.T, workers int) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, work: &updateWork{}}
	e.queue, err = orchestrator.NewQueue(ctx, st, orchestrator.Registry{orchestrator.KindUpdate: e.work},
		orchestrator.QueueConfig{Workers: workers, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second})
	require.NoError(t, err)
	if workers > 0 {
		require.NoError(t, e.queue.Start(ctx))
		t.Cleanup(func() { _ = e.queue.Stop(context.Background()) })
	}
	e.book = &orchestrator.ScheduleBook{Store: st, Targets: targets{}, Slots: slots}
	h := su.New(su.Config{Jobs: orchestrator.Local{Queue: e.queue}, Schedules: e.book, Services: st, Servers: servers,
		ProjectID: func(context.Context) (string, error) { return project, nil }})
	srv := httptest.NewServer(bearer(h))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.client, err = serverupdate.NewAPIClient(config.WithEndpoint(srv.URL), config.WithToken(token))
	require.NoError(t, err)
	return e
}

// sdkErr is the SDK's error for a refused call, with its status and body.
func sdkErr(t *testing.T, err error, status int, reason string) {
	t.Helper()
	var oe *oapierror.GenericOpenAPIError
	require.True(t, errors.As(err, &oe), "want the SDK's GenericOpenAPIError, got %T %v", err, err)
	require.Equal(t, status, oe.StatusCode, "%s", oe.Body)
	var body struct{ Error string }
	require.NoError(t, json.Unmarshal(oe.Body, &body), "%s", oe.Body)
	require.Contains(t, body.Error, reason)
	require.Contains(t, err.Error(), strings.TrimSpace(string(oe.Body)), "the SDK's error message carries the body with the reason")
}

// Updates through STACKIT's SDK: create one with a window, read it back queued, run it
// (a River job on SQLite targeted at the one server), read its dates and counts, list
// the server's updates newest first; a failed one carries its reason.
func TestUpdatesThroughTheSDK(t *testing.T) {
	e := start(t, 2)
	ctx := context.Background()
	c := e.client

	before := time.Now().UTC().Truncate(time.Second)
	u, err := c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(serverupdate.CreateUpdatePayload{
		MaintenanceWindow: serverupdate.PtrInt64(2)}).Execute()
	require.NoError(t, err)
	require.Positive(t, v(u.GetId()))
	require.NotEmpty(t, v(u.GetStartDate()))

	var got *serverupdate.Update
	require.Eventually(t, func() bool {
		got, err = c.GetUpdate(ctx, project, web1, itoa(v(u.GetId()))).Execute()
		return err == nil && v(got.GetStatus()) == orchestrator.StatusSucceeded
	}, time.Minute, 20*time.Millisecond)
	require.Equal(t, v(u.GetId()), v(got.GetId()))
	require.Equal(t, int64(3), v(got.GetInstalledUpdates()))
	require.Equal(t, int64(0), v(got.GetFailedUpdates()))
	require.Empty(t, v(got.GetFailReason()))
	start, err := time.Parse(time.RFC3339, v(got.GetStartDate()))
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339, v(got.GetEndDate()))
	require.NoError(t, err)
	require.False(t, start.Before(before), "start %s", start)
	require.False(t, end.Before(start))

	job, err := e.queue.Get(ctx, v(u.GetId()))
	require.NoError(t, err)
	require.Equal(t, "web/1", job.Target, "the job targets the one server's slot")
	require.Equal(t, orchestrator.KindUpdate, job.Kind)
	require.Equal(t, "token ci", job.RequestedBy)
	require.Contains(t, job.Decisions, "path: in place on the server of slot 1 of group web only")
	require.Equal(t, 2*time.Hour, e.work.runs[0].End.Sub(e.work.runs[0].Start), "the job's run window is the maintenance window")

	e.work.mu.Lock()
	e.work.fail = true
	e.work.mu.Unlock()
	u2, err := c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(serverupdate.CreateUpdatePayload{
		MaintenanceWindow: serverupdate.PtrInt64(24), BackupBeforeUpdate: serverupdate.PtrBool(false)}).Execute()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err = c.GetUpdate(ctx, project, web1, itoa(v(u2.GetId()))).Execute()
		return err == nil && v(got.GetStatus()) == orchestrator.StatusFailed
	}, time.Minute, 20*time.Millisecond)
	require.Equal(t, int64(2), v(got.GetInstalledUpdates()))
	require.Equal(t, int64(1), v(got.GetFailedUpdates()))
	require.Contains(t, v(got.GetFailReason()), "dpkg was interrupted")

	list, err := c.ListUpdates(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.Len(t, v(list.GetItems()), 2)
	require.Equal(t, v(u2.GetId()), v(v(list.GetItems())[0].GetId()), "newest first")
	require.Equal(t, v(u.GetId()), v(v(list.GetItems())[1].GetId()))

	other, err := c.ListUpdates(ctx, project, db1).Execute()
	require.NoError(t, err)
	require.Empty(t, v(other.GetItems()), "another server's updates are not this one's")
	_, err = c.GetUpdate(ctx, project, db1, itoa(v(u.GetId()))).Execute()
	sdkErr(t, err, http.StatusNotFound, "server "+db1+" has no update of that id")
}

// Bad input and unknown things are refused with a reason the SDK carries in its error.
func TestBadInputThroughTheSDK(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	c := e.client
	window := func(h int64) serverupdate.CreateUpdatePayload {
		return serverupdate.CreateUpdatePayload{MaintenanceWindow: serverupdate.PtrInt64(h)}
	}
	_, err := c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(window(0)).Execute()
	sdkErr(t, err, http.StatusBadRequest, "maintenanceWindow 0: want hours, 1 to 24")
	_, err = c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(window(25)).Execute()
	sdkErr(t, err, http.StatusBadRequest, "maintenanceWindow 25: want hours, 1 to 24")
	_, err = c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(serverupdate.CreateUpdatePayload{
		MaintenanceWindow: serverupdate.PtrInt64(2), BackupBeforeUpdate: serverupdate.PtrBool(true)}).Execute()
	sdkErr(t, err, http.StatusBadRequest, "backupBeforeUpdate: remint takes no backups")
	_, err = c.CreateUpdate(ctx, project, "00000000-dead-4000-8000-000000000000").CreateUpdatePayload(window(2)).Execute()
	sdkErr(t, err, http.StatusNotFound, `server "00000000-dead-4000-8000-000000000000": not a server of any group remint manages`)
	_, err = c.ListUpdates(ctx, "someone-elses-project", web1).Execute()
	sdkErr(t, err, http.StatusNotFound, `project "someone-elses-project": remint manages servers of one project only`)
	_, err = c.ListUpdatePolicies(ctx, "someone-elses-project").Execute()
	sdkErr(t, err, http.StatusNotFound, `project "someone-elses-project"`)
	_, err = c.GetUpdate(ctx, project, web1, "abc").Execute()
	sdkErr(t, err, http.StatusBadRequest, `updateId "abc": want a positive integer`)
	_, err = c.GetUpdate(ctx, project, web1, "999").Execute()
	sdkErr(t, err, http.StatusNotFound, "update 999: server "+web1+" has no update of that id")

	// One unfinished job per server.
	_, err = c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(window(2)).Execute()
	require.NoError(t, err)
	_, err = c.CreateUpdate(ctx, project, web1).CreateUpdatePayload(window(2)).Execute()
	sdkErr(t, err, http.StatusConflict, "already has unfinished job")

	sched := func(name, rule string, h int64) serverupdate.CreateUpdateSchedulePayload {
		return serverupdate.CreateUpdateSchedulePayload{Name: serverupdate.PtrString(name), Rrule: serverupdate.PtrString(rule),
			Enabled: serverupdate.PtrBool(true), MaintenanceWindow: serverupdate.PtrInt64(h)}
	}
	_, err = c.CreateUpdateSchedule(ctx, project, web1).CreateUpdateSchedulePayload(sched("Nightly", "FREQ=SOMETIMES", 2)).Execute()
	sdkErr(t, err, http.StatusBadRequest, "rrule")
	_, err = c.CreateUpdateSchedule(ctx, project, web1).CreateUpdateSchedulePayload(sched("Nightly", "DTSTART:20260103T020000Z RRULE:FREQ=DAILY", 30)).Execute()
	sdkErr(t, err, http.StatusBadRequest, "maintenanceWindow 30: want hours, 1 to 24")
	_, err = c.CreateUpdateSchedule(ctx, project, web1).CreateUpdateSchedulePayload(sched("", "DTSTART:20260103T020000Z RRULE:FREQ=DAILY", 2)).Execute()
	sdkErr(t, err, http.StatusBadRequest, `name "": want 1 to 255 characters on one line`)
	_, err = c.GetUpdateSchedule(ctx, project, web1, "12345").Execute()
	sdkErr(t, err, http.StatusNotFound, "update schedule 12345: server "+web1+" has no schedule of that id")
	err = c.EnableServiceResource(ctx, project, web1).EnableServiceResourcePayload(serverupdate.EnableServiceResourcePayload{
		UpdatePolicyId: serverupdate.PtrString("monthly")}).Execute()
	sdkErr(t, err, http.StatusBadRequest, `updatePolicyId "monthly": unknown; the update policies are: default`)

	// Fields the SDK requires are required here too (plain HTTP can leave them out).
	resp, err := http.DefaultClient.Do(request(t, http.MethodPost, e.url+"/v1/projects/"+project+"/servers/"+web1+"/update-schedules", `{"name":"x"}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "rrule, enabled, maintenanceWindow: required")
}

// Schedules CRUD, the update service with its Default Update Schedule, and the policies,
// through the SDK.
func TestSchedulesServiceAndPoliciesThroughTheSDK(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	c := e.client

	svc, err := c.GetServiceResource(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.False(t, v(svc.GetEnabled()))
	require.NoError(t, c.EnableServiceResource(ctx, project, web1).EnableServiceResourcePayload(serverupdate.EnableServiceResourcePayload{
		UpdatePolicyId: serverupdate.PtrString("default")}).Execute())
	svc, err = c.GetServiceResource(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.True(t, v(svc.GetEnabled()))
	list, err := c.ListUpdateSchedules(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.Len(t, v(list.GetItems()), 1)
	def := v(list.GetItems())[0]
	policy := orchestrator.DefaultPolicy(web1, nil)
	require.Equal(t, su.DefaultScheduleName, v(def.GetName()))
	require.Equal(t, policy.RRule, v(def.GetRrule()))
	require.Equal(t, int64(policy.MaintenanceWindow), v(def.GetMaintenanceWindow()))
	require.True(t, v(def.GetEnabled()))
	// The book holds it, targeted at the server, for the daemon.
	named, err := e.book.Named(ctx)
	require.NoError(t, err)
	require.Len(t, named, 1)
	require.Equal(t, "web/1", named[0].Target)
	require.Equal(t, orchestrator.KindUpdate, named[0].Kind)

	// Enabling again keeps the one default schedule.
	require.NoError(t, c.EnableService(ctx, project, web1).Execute())
	list, err = c.ListUpdateSchedules(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.Len(t, v(list.GetItems()), 1)

	rule := "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA"
	created, err := c.CreateUpdateSchedule(ctx, project, web1).CreateUpdateSchedulePayload(serverupdate.CreateUpdateSchedulePayload{
		Name: serverupdate.PtrString("Saturday, Sofia time"), Rrule: serverupdate.PtrString(rule),
		Enabled: serverupdate.PtrBool(true), MaintenanceWindow: serverupdate.PtrInt64(2)}).Execute()
	require.NoError(t, err)
	require.Equal(t, "Saturday, Sofia time", v(created.GetName()))
	require.Equal(t, rule, v(created.GetRrule()))
	require.Greater(t, v(created.GetId()), v(def.GetId()))
	// The same display name again is a second schedule (STACKIT's names need not be unique).
	again, err := c.CreateUpdateSchedule(ctx, project, web1).CreateUpdateSchedulePayload(serverupdate.CreateUpdateSchedulePayload{
		Name: serverupdate.PtrString("Saturday, Sofia time"), Rrule: serverupdate.PtrString(rule),
		Enabled: serverupdate.PtrBool(false), MaintenanceWindow: serverupdate.PtrInt64(3)}).Execute()
	require.NoError(t, err)
	require.NotEqual(t, v(created.GetId()), v(again.GetId()))

	got, err := c.GetUpdateSchedule(ctx, project, web1, itoa(v(created.GetId()))).Execute()
	require.NoError(t, err)
	require.Equal(t, *created, *got)
	upd, err := c.UpdateUpdateSchedule(ctx, project, web1, itoa(v(created.GetId()))).UpdateUpdateSchedulePayload(serverupdate.UpdateUpdateSchedulePayload{
		Name: serverupdate.PtrString("Sunday night"), Rrule: serverupdate.PtrString("DTSTART:20260104T230000Z RRULE:FREQ=WEEKLY;BYDAY=SU"),
		Enabled: serverupdate.PtrBool(false), MaintenanceWindow: serverupdate.PtrInt64(6)}).Execute()
	require.NoError(t, err)
	require.Equal(t, "Sunday night", v(upd.GetName()))
	require.False(t, v(upd.GetEnabled()))
	require.Equal(t, int64(6), v(upd.GetMaintenanceWindow()))
	got, err = c.GetUpdateSchedule(ctx, project, web1, itoa(v(created.GetId()))).Execute()
	require.NoError(t, err)
	require.Equal(t, *upd, *got)
	_, err = c.UpdateUpdateSchedule(ctx, project, web1, itoa(v(created.GetId()))).UpdateUpdateSchedulePayload(serverupdate.UpdateUpdateSchedulePayload{
		Name: serverupdate.PtrString("Sunday night"), Rrule: serverupdate.PtrString("RRULE:FREQ=NEVER"),
		Enabled: serverupdate.PtrBool(false), MaintenanceWindow: serverupdate.PtrInt64(6)}).Execute()
	sdkErr(t, err, http.StatusBadRequest, "rrule")
	// Another server does not see it.
	_, err = c.GetUpdateSchedule(ctx, project, db1, itoa(v(created.GetId()))).Execute()
	sdkErr(t, err, http.StatusNotFound, "has no schedule of that id")

	require.NoError(t, c.DeleteUpdateSchedule(ctx, project, web1, itoa(v(again.GetId()))).Execute())
	_, err = c.GetUpdateSchedule(ctx, project, web1, itoa(v(again.GetId()))).Execute()
	sdkErr(t, err, http.StatusNotFound, "has no schedule of that id")
	list, err = c.ListUpdateSchedules(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.Len(t, v(list.GetItems()), 2)

	// Disabling the service disables every schedule of the server; enabling brings the
	// default one back.
	require.NoError(t, c.DisableServiceResource(ctx, project, web1).Execute())
	svc, err = c.GetServiceResource(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.False(t, v(svc.GetEnabled()))
	named, err = e.book.Named(ctx)
	require.NoError(t, err)
	require.Empty(t, named)
	require.NoError(t, c.EnableServiceResource(ctx, project, web1).Execute())
	d, err := c.GetUpdateSchedule(ctx, project, web1, itoa(v(def.GetId()))).Execute()
	require.NoError(t, err)
	require.True(t, v(d.GetEnabled()))
	require.NoError(t, c.DisableService(ctx, project, web1).Execute())
	d, err = c.GetUpdateSchedule(ctx, project, web1, itoa(v(def.GetId()))).Execute()
	require.NoError(t, err)
	require.False(t, v(d.GetEnabled()))

	policies, err := c.ListUpdatePolicies(ctx, project).Execute()
	require.NoError(t, err)
	require.Len(t, v(policies.GetItems()), 1)
	p := v(policies.GetItems())[0]
	require.Equal(t, "default", v(p.GetId()))
	require.True(t, v(p.GetDefault()))
	require.True(t, v(p.GetEnabled()))
	require.Equal(t, int64(4), v(p.GetMaintenanceWindow()))
	require.Contains(t, v(p.GetRrule()), "RRULE:FREQ=WEEKLY;BYDAY=")
}

// The older MOSS paths serve the same updates and schedules (instanceId = server id);
// the SDK has no methods for them, so plain HTTP.
func TestMOSSPaths(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	base := e.url + "/v1/service-instances/" + web1

	var u su.Update
	status := call(t, http.MethodPost, base+"/updates", `{"maintenanceWindow": 2}`, &u)
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, orchestrator.StatusQueued, u.Status)
	sdkU, err := e.client.GetUpdate(ctx, project, web1, itoa(u.ID)).Execute()
	require.NoError(t, err)
	require.Equal(t, u.ID, v(sdkU.GetId()), "the same update on both paths")
	var got su.Update
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, base+"/updates/"+itoa(u.ID), "", &got))
	require.Equal(t, u.ID, got.ID)
	var list struct{ Items []su.Update }
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, base+"/updates", "", &list))
	require.Len(t, list.Items, 1)

	var s su.UpdateSchedule
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, base+"/update-schedules",
		`{"name": "Default Update Schedule", "rrule": "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA", "enabled": true, "maintenanceWindow": 2}`, &s))
	require.Equal(t, "Default Update Schedule", s.Name)
	sdkS, err := e.client.GetUpdateSchedule(ctx, project, web1, itoa(s.ID)).Execute()
	require.NoError(t, err)
	require.Equal(t, s.Rrule, v(sdkS.GetRrule()))
	require.Equal(t, http.StatusOK, call(t, http.MethodPut, base+"/update-schedules/"+itoa(s.ID),
		`{"name": "Renamed", "rrule": "DTSTART:20260103T020000Z RRULE:FREQ=WEEKLY;BYDAY=SA", "enabled": false, "maintenanceWindow": 3}`, &s))
	require.Equal(t, "Renamed", s.Name)
	var ss struct{ Items []su.UpdateSchedule }
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, base+"/update-schedules", "", &ss))
	require.Len(t, ss.Items, 1)
	require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, base+"/update-schedules/"+itoa(s.ID), "", nil))
	var errBody struct{ Error string }
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, base+"/update-schedules/"+itoa(s.ID), "", &errBody))
	require.Contains(t, errBody.Error, "has no schedule of that id")
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, e.url+"/v1/service-instances/nope/updates", "", &errBody))
	require.Contains(t, errBody.Error, `server "nope": not a server of any group remint manages`)
}

func request(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(request(t, method, url, body))
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// v is what p points at (the SDK's getters return pointers), zero for nil.
func v[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Several "enable the update service" calls for one server at once (two operators, two
// daemons): the server ends with one Default Update Schedule, not one per call.
func TestEnableServiceTwoAtOnce(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.client.EnableServiceResource(ctx, project, web1).Execute()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	list, err := e.client.ListUpdateSchedules(ctx, project, web1).Execute()
	require.NoError(t, err)
	require.Len(t, v(list.GetItems()), 1, "one Default Update Schedule")
	require.Equal(t, su.DefaultScheduleName, v(v(list.GetItems())[0].GetName()))
	named, err := e.book.Named(ctx)
	require.NoError(t, err)
	require.Len(t, named, 1, "the daemon fires it once")
}
