// Package serverupdate serves STACKIT's Server Update API v1 for the servers remint
// manages, wire-compatible with STACKIT's Go SDK
// (github.com/stackitcloud/stackit-sdk-go/services/serverupdate v0.5.0), so existing
// STACKIT tooling drives remint unchanged:
//
//   - /v1/projects/{projectId}/servers/{serverId}/updates[/{updateId}]: an update is an
//     update job (orchestrator.KindUpdate) on that one server, targeted at its slot
//     (group/<slot>): the policy decides between rebuilding the slot and patching the
//     server in place, and the job's decisions say which. Update ids are job ids.
//   - …/update-schedules[/{scheduleId}]: run-time schedules of the schedule book with the
//     server's slot as target (integer ids), action update.
//
// A rebuild replaces the server: its slot's history and schedules carry on with the
// replacement, and the replaced server's id still finds them (through the rollouts).
//   - …/service (and the older POST/DELETE on the server path): the update service of
//     the server; enabling it creates its Default Update Schedule from
//     orchestrator.DefaultPolicy.
//   - /v1/projects/{projectId}/update-policies: the default policy.
//   - /v1/service-instances/{instanceId}/updates[/{updateId}] and
//     …/update-schedules[/{scheduleId}]: the older MOSS paths (instanceId = server id).
//
// projectId must be the Keystone project of remint's cloud; serverId a Nova server in one
// of the manifest's groups. Errors are JSON {"error": "..."} with 400 (bad input), 404
// (unknown project, server, update or schedule) or 409 (the server has an unfinished
// job); the SDK returns them as *oapierror.GenericOpenAPIError with the body.
package serverupdate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// Jobs is what the API needs of the job queue (orchestrator.Local implements it).
type Jobs interface {
	Insert(ctx context.Context, req orchestrator.JobRequest) (orchestrator.Job, error)
	Get(ctx context.Context, id int64) (orchestrator.Job, error)
	List(ctx context.Context, o orchestrator.ListOptions) ([]orchestrator.Job, error)
}

// Schedules is what the API needs of the schedule book (*orchestrator.ScheduleBook),
// the one validator of run-time schedules.
type Schedules interface {
	Create(ctx context.Context, spec orchestrator.ScheduleSpec, by string) (store.ScheduleDef, error)
	Update(ctx context.Context, id int64, spec orchestrator.ScheduleSpec) (store.ScheduleDef, error)
	SetEnabled(ctx context.Context, id int64, enabled bool) (store.ScheduleDef, error)
	Get(ctx context.Context, id int64) (store.ScheduleDef, error)
	List(ctx context.Context, target string) ([]store.ScheduleDef, error)
	Delete(ctx context.Context, id int64) error
}

// Services keeps each server's update service and its schedules' display names
// (*store.Store).
type Services interface {
	PutUpdateService(ctx context.Context, u store.UpdateService) error
	GetUpdateService(ctx context.Context, serverID string) (store.UpdateService, error)
	SetScheduleName(ctx context.Context, id int64, serverID, name string) error
	ScheduleNames(ctx context.Context, serverID string) (map[int64]string, error)
	DeleteScheduleName(ctx context.Context, id int64) error
}

// Config wires the API.
type Config struct {
	Jobs      Jobs
	Schedules Schedules
	Services  Services
	// Servers finds the group and slot of a server, current or replaced by a rollout
	// (ErrServerNotFound: none).
	Servers func(ctx context.Context, id string) (group string, slot int, err error)
	// ProjectID is the Keystone project of remint's cloud.
	ProjectID func(ctx context.Context) (string, error)
	// Zone is the zone of Default Update Schedules (nil: UTC).
	Zone   *time.Location
	Now    func() time.Time
	Logger *slog.Logger
}

// ErrServerNotFound is a server in no slot of any group, now or before.
var ErrServerNotFound = errors.New("server not found in any group of the manifest")

// ListPage is how many updates one store read returns while listing a server's updates.
const ListPage = 1000

// Options of the update jobs the API starts: an update installs the pending security
// updates and reboots when one needs it (STACKIT's updates do the same), or rebuilds the
// server's slot from a newer image when the policy prefers that.
var updateOptions = orchestrator.InPlaceOptions{Options: orchestrator.Options{ApplySecurityUpgrades: true, RebootIfRequired: true}}

// Update is STACKIT's update (serverupdate.Update).
type Update struct {
	ID               int64  `json:"id"`
	Status           string `json:"status"`
	StartDate        string `json:"startDate"`
	EndDate          string `json:"endDate,omitempty"`
	InstalledUpdates *int64 `json:"installedUpdates,omitempty"`
	FailedUpdates    *int64 `json:"failedUpdates,omitempty"`
	FailReason       string `json:"failReason,omitempty"`
}

// UpdateSchedule is STACKIT's update schedule (serverupdate.UpdateSchedule).
type UpdateSchedule struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	Rrule             string `json:"rrule"`
	Enabled           bool   `json:"enabled"`
	MaintenanceWindow int64  `json:"maintenanceWindow"`
}

type api struct {
	Config
}

// New returns the API's handler; it serves only the paths above (mount it on
// /v1/projects/ and /v1/service-instances/).
func New(c Config) http.Handler {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{Config: c}
	mux := http.NewServeMux()
	const srv = "/v1/projects/{projectId}/servers/{serverId}"
	mux.HandleFunc("GET "+srv+"/updates", a.server(a.listUpdates))
	mux.HandleFunc("POST "+srv+"/updates", a.server(a.createUpdate))
	mux.HandleFunc("GET "+srv+"/updates/{updateId}", a.server(a.getUpdate))
	mux.HandleFunc("GET "+srv+"/update-schedules", a.server(a.listSchedules))
	mux.HandleFunc("POST "+srv+"/update-schedules", a.server(a.createSchedule))
	mux.HandleFunc("GET "+srv+"/update-schedules/{scheduleId}", a.server(a.getSchedule))
	mux.HandleFunc("PUT "+srv+"/update-schedules/{scheduleId}", a.server(a.updateSchedule))
	mux.HandleFunc("DELETE "+srv+"/update-schedules/{scheduleId}", a.server(a.deleteSchedule))
	mux.HandleFunc("GET "+srv+"/service", a.server(a.getService))
	mux.HandleFunc("POST "+srv+"/service", a.server(a.enableService))
	mux.HandleFunc("DELETE "+srv+"/service", a.server(a.disableService))
	mux.HandleFunc("POST "+srv, a.server(a.enableService)) // EnableService (older path)
	mux.HandleFunc("DELETE "+srv, a.server(a.disableService))
	mux.HandleFunc("GET /v1/projects/{projectId}/update-policies", a.listPolicies)

	const moss = "/v1/service-instances/{serverId}"
	mux.HandleFunc("GET "+moss+"/updates", a.instance(a.listUpdates))
	mux.HandleFunc("POST "+moss+"/updates", a.instance(a.createUpdate))
	mux.HandleFunc("GET "+moss+"/updates/{updateId}", a.instance(a.getUpdate))
	mux.HandleFunc("GET "+moss+"/update-schedules", a.instance(a.listSchedules))
	mux.HandleFunc("POST "+moss+"/update-schedules", a.instance(a.createSchedule))
	mux.HandleFunc("GET "+moss+"/update-schedules/{scheduleId}", a.instance(a.getSchedule))
	mux.HandleFunc("PUT "+moss+"/update-schedules/{scheduleId}", a.instance(a.updateSchedule))
	mux.HandleFunc("DELETE "+moss+"/update-schedules/{scheduleId}", a.instance(a.deleteSchedule))
	return mux
}

// target is the server a request is about.
type target struct {
	project string // "" on the MOSS paths
	server  string
	group   string
	slot    int
}

// key is the job and schedule target of the server: its slot.
func (t target) key() string { return orchestrator.SlotTarget(t.group, t.slot) }

type serverHandler func(w http.ResponseWriter, r *http.Request, t target)

// server checks projectId and serverId, then serves.
func (a *api) server(h serverHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := r.PathValue("projectId")
		if err := a.checkProject(r.Context(), project); err != nil {
			writeErr(w, err)
			return
		}
		a.serve(w, r, target{project: project, server: r.PathValue("serverId")}, h)
	}
}

// instance serves a MOSS path: the service instance is the server.
func (a *api) instance(h serverHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, target{server: r.PathValue("serverId")}, h)
	}
}

func (a *api) serve(w http.ResponseWriter, r *http.Request, t target, h serverHandler) {
	group, slot, err := a.Servers(r.Context(), t.server)
	if errors.Is(err, ErrServerNotFound) {
		writeErr(w, notFound("server %q: not a server of any group remint manages", t.server))
		return
	}
	if err != nil {
		writeErr(w, fmt.Errorf("look up server %s: %w", t.server, err))
		return
	}
	t.group, t.slot = group, slot
	h(w, r, t)
}

func (a *api) checkProject(ctx context.Context, project string) error {
	want, err := a.ProjectID(ctx)
	if err != nil {
		return fmt.Errorf("read the cloud's project: %w", err)
	}
	if project != want {
		return notFound("project %q: remint manages servers of one project only, and not this one", project)
	}
	return nil
}

// by names who asked: the token's name when the request carried one.
func by(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok {
		return p.RequestedBy()
	}
	return "api"
}

// ---- updates

func (a *api) listUpdates(w http.ResponseWriter, r *http.Request, t target) {
	items, err := a.updates(r.Context(), t)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// updates lists every update of the server, newest first, a page of ListPage at a time.
func (a *api) updates(ctx context.Context, t target) ([]Update, error) {
	items := []Update{}
	var before int64
	for {
		jobs, err := a.Jobs.List(ctx, orchestrator.ListOptions{Target: t.key(), Kinds: updateKinds, BeforeID: before, Limit: ListPage})
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			items = append(items, toUpdate(j))
		}
		if len(jobs) < ListPage {
			return items, nil
		}
		before = jobs[len(jobs)-1].ID
	}
}

// updateKinds are the job kinds on a server target shown as its updates.
var updateKinds = []string{orchestrator.KindUpdate, orchestrator.KindRebuild, orchestrator.KindInPlace}

// createUpdatePayload is serverupdate.CreateUpdatePayload.
type createUpdatePayload struct {
	BackupBeforeUpdate *bool  `json:"backupBeforeUpdate"`
	MaintenanceWindow  *int64 `json:"maintenanceWindow"`
}

func (a *api) createUpdate(w http.ResponseWriter, r *http.Request, t target) {
	var p createUpdatePayload
	if err := decode(w, r, &p); err != nil {
		writeErr(w, err)
		return
	}
	if p.MaintenanceWindow == nil {
		writeErr(w, badRequest("maintenanceWindow: required: the update's maintenance window in hours, 1 to 24"))
		return
	}
	hours, err := windowHours(*p.MaintenanceWindow)
	if err != nil {
		writeErr(w, err)
		return
	}
	if p.BackupBeforeUpdate != nil && *p.BackupBeforeUpdate {
		writeErr(w, badRequest("backupBeforeUpdate: remint takes no backups; a rebuild keeps the old server for rollback as the group's keep_old says, and an in-place update changes only packages: send false or leave it out"))
		return
	}
	opts, err := json.Marshal(updateOptions)
	if err != nil {
		writeErr(w, err)
		return
	}
	now := a.Now().UTC()
	j, err := a.Jobs.Insert(r.Context(), orchestrator.JobRequest{Kind: orchestrator.KindUpdate, Target: t.key(), Options: opts,
		Run: &orchestrator.Run{Start: now, End: now.Add(hours)}, RequestedBy: by(r)})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.Logger.Info("update queued", "server", t.server, "group", t.group, "slot", t.slot, "job", j.ID, "window", hours, "by", by(r))
	writeJSON(w, http.StatusCreated, toUpdate(j))
}

func (a *api) getUpdate(w http.ResponseWriter, r *http.Request, t target) {
	id, err := strconv.ParseInt(r.PathValue("updateId"), 10, 64)
	if err != nil || id < 1 {
		writeErr(w, badRequest("updateId %q: want a positive integer", r.PathValue("updateId")))
		return
	}
	j, err := a.Jobs.Get(r.Context(), id)
	if errors.Is(err, orchestrator.ErrJobNotFound) || (err == nil && j.Target != t.key()) {
		writeErr(w, notFound("update %d: server %s has no update of that id", id, t.server))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toUpdate(j))
}

// toUpdate is a job as STACKIT's update: its status as the job's (queued, running,
// succeeded, failed, cancelled), its start (the time it was asked for while queued) and
// end, and its counts once it started.
func toUpdate(j orchestrator.Job) Update {
	u := Update{ID: j.ID, Status: j.Status, StartDate: j.Created.UTC().Format(time.RFC3339), FailReason: j.Reason}
	if j.Started != nil {
		u.StartDate = j.Started.UTC().Format(time.RFC3339)
		installed, failed := int64(j.Installed), int64(j.Failed)
		u.InstalledUpdates, u.FailedUpdates = &installed, &failed
	}
	if j.Ended != nil {
		u.EndDate = j.Ended.UTC().Format(time.RFC3339)
	}
	return u
}

func windowHours(h int64) (time.Duration, error) {
	if h < 1 || h > 24 {
		return 0, badRequest("maintenanceWindow %d: want hours, 1 to 24", h)
	}
	return time.Duration(h) * time.Hour, nil
}

// ---- schedules

// schedulePayload is serverupdate.CreateUpdateSchedulePayload and
// UpdateUpdateSchedulePayload: every field required.
type schedulePayload struct {
	Name              *string `json:"name"`
	Rrule             *string `json:"rrule"`
	Enabled           *bool   `json:"enabled"`
	MaintenanceWindow *int64  `json:"maintenanceWindow"`
}

func (p schedulePayload) check() error {
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", p.Name != nil}, {"rrule", p.Rrule != nil}, {"enabled", p.Enabled != nil}, {"maintenanceWindow", p.MaintenanceWindow != nil}} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return badRequest("%s: required (a schedule has name, rrule, enabled and maintenanceWindow)", strings.Join(missing, ", "))
	}
	name := strings.TrimSpace(*p.Name)
	if name == "" || utf8.RuneCountInString(name) > 255 || strings.ContainsAny(name, "\r\n\t") {
		return badRequest("name %q: want 1 to 255 characters on one line", *p.Name)
	}
	_, err := windowHours(*p.MaintenanceWindow)
	return err
}

func (a *api) listSchedules(w http.ResponseWriter, r *http.Request, t target) {
	defs, err := a.Schedules.List(r.Context(), t.key())
	if err != nil {
		writeErr(w, err)
		return
	}
	names, err := a.Services.ScheduleNames(r.Context(), t.server)
	if err != nil {
		writeErr(w, err)
		return
	}
	items := make([]UpdateSchedule, 0, len(defs))
	for _, d := range defs {
		items = append(items, toSchedule(d, names))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func toSchedule(d store.ScheduleDef, names map[int64]string) UpdateSchedule {
	name := d.Name
	if n, ok := names[d.ID]; ok {
		name = n
	}
	return UpdateSchedule{ID: d.ID, Name: name, Rrule: d.RRule, Enabled: d.Enabled, MaintenanceWindow: int64(d.Window / time.Hour)}
}

func (a *api) createSchedule(w http.ResponseWriter, r *http.Request, t target) {
	var p schedulePayload
	if err := decode(w, r, &p); err != nil {
		writeErr(w, err)
		return
	}
	if err := p.check(); err != nil {
		writeErr(w, err)
		return
	}
	d, err := a.newSchedule(r.Context(), t, strings.TrimSpace(*p.Name), *p.Rrule, time.Duration(*p.MaintenanceWindow)*time.Hour, *p.Enabled, by(r))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, toSchedule(d, map[int64]string{d.ID: strings.TrimSpace(*p.Name)}))
}

// newSchedule creates an update schedule on the server through the book, under a book
// name made from the display name (the book's names are unique slugs), and records the
// display name.
func (a *api) newSchedule(ctx context.Context, t target, name, rule string, window time.Duration, enabled bool, who string) (store.ScheduleDef, error) {
	spec := a.scheduleSpec(t, name, rule, window, enabled)
	base := bookName(name, t.server)
	for i := 1; ; i++ {
		spec.Name = base
		if i > 1 {
			spec.Name = fmt.Sprintf("%s-%d", base, i)
		}
		d, err := a.Schedules.Create(ctx, spec, who)
		if errors.Is(err, store.ErrScheduleExists) && i < 100 {
			continue
		}
		if err != nil {
			return d, err
		}
		return d, a.Services.SetScheduleName(ctx, d.ID, t.server, name)
	}
}

// defaultSchedule creates the server's Default Update Schedule under its one book name
// (no "-2" for it: the book's unique names make the create the arbiter). When two enables
// race, the one whose create is refused takes the schedule the other made, so a server
// never gets two default schedules.
func (a *api) defaultSchedule(ctx context.Context, t target, policy orchestrator.UpdatePolicy, who string) (store.ScheduleDef, error) {
	spec := a.scheduleSpec(t, DefaultScheduleName, policy.RRule, policy.Window(), true)
	spec.Name = bookName(DefaultScheduleName, t.server)
	d, err := a.Schedules.Create(ctx, spec, who)
	if errors.Is(err, store.ErrScheduleExists) {
		defs, lerr := a.Schedules.List(ctx, t.key())
		if lerr != nil {
			return d, lerr
		}
		for _, e := range defs {
			if e.Name == spec.Name {
				if !e.Enabled {
					return a.Schedules.SetEnabled(ctx, e.ID, true)
				}
				return e, nil
			}
		}
	}
	if err != nil {
		return d, err
	}
	return d, a.Services.SetScheduleName(ctx, d.ID, t.server, DefaultScheduleName)
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// scheduleSpec is the book's form of a server update schedule called name.
func (a *api) scheduleSpec(t target, name, rule string, window time.Duration, enabled bool) orchestrator.ScheduleSpec {
	return orchestrator.ScheduleSpec{RRule: rule, Window: window, Enabled: enabled, Action: manifest.ActionUpdate, Target: t.key(),
		Options:     manifest.ScheduleOptions{ApplySecurityUpgrades: updateOptions.ApplySecurityUpgrades, RebootIfRequired: updateOptions.RebootIfRequired},
		Description: fmt.Sprintf("%s (server update schedule of %s, slot %d of %s)", name, t.server, t.slot, t.group)}
}

// bookName is the schedule book's name for display name on server: its slug (at most
// 40 characters) and the server id's first 8.
func bookName(name, server string) string {
	slug := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(slug) > 40 {
		slug = strings.TrimRight(slug[:40], "-")
	}
	if slug == "" {
		slug = "schedule"
	}
	short := strings.ToLower(notSlug.ReplaceAllString(server, ""))
	if len(short) > 8 {
		short = short[:8]
	}
	return slug + "-" + short
}

// schedule reads schedule {scheduleId} of the server (404 for another server's).
func (a *api) schedule(r *http.Request, t target) (store.ScheduleDef, error) {
	id, err := strconv.ParseInt(r.PathValue("scheduleId"), 10, 64)
	if err != nil || id < 1 {
		return store.ScheduleDef{}, badRequest("scheduleId %q: want a positive integer", r.PathValue("scheduleId"))
	}
	d, err := a.Schedules.Get(r.Context(), id)
	if errors.Is(err, store.ErrScheduleNotFound) || (err == nil && d.Target != t.key()) {
		return d, notFound("update schedule %d: server %s has no schedule of that id", id, t.server)
	}
	return d, err
}

func (a *api) getSchedule(w http.ResponseWriter, r *http.Request, t target) {
	d, err := a.schedule(r, t)
	if err != nil {
		writeErr(w, err)
		return
	}
	names, err := a.Services.ScheduleNames(r.Context(), t.server)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toSchedule(d, names))
}

func (a *api) updateSchedule(w http.ResponseWriter, r *http.Request, t target) {
	d, err := a.schedule(r, t)
	if err != nil {
		writeErr(w, err)
		return
	}
	var p schedulePayload
	if err := decode(w, r, &p); err != nil {
		writeErr(w, err)
		return
	}
	if err := p.check(); err != nil {
		writeErr(w, err)
		return
	}
	spec, err := orchestrator.SpecOf(d)
	if err != nil {
		writeErr(w, err)
		return
	}
	name := strings.TrimSpace(*p.Name)
	spec.RRule, spec.Window, spec.Enabled = *p.Rrule, time.Duration(*p.MaintenanceWindow)*time.Hour, *p.Enabled
	spec.Description = fmt.Sprintf("%s (server update schedule of %s, slot %d of %s)", name, t.server, t.slot, t.group)
	d, err = a.Schedules.Update(r.Context(), d.ID, spec)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := a.Services.SetScheduleName(r.Context(), d.ID, t.server, name); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toSchedule(d, map[int64]string{d.ID: name}))
}

func (a *api) deleteSchedule(w http.ResponseWriter, r *http.Request, t target) {
	d, err := a.schedule(r, t)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := a.Schedules.Delete(r.Context(), d.ID); err != nil {
		writeErr(w, err)
		return
	}
	if err := a.Services.DeleteScheduleName(r.Context(), d.ID); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- the update service

// DefaultScheduleName is the display name of the schedule enabling the service creates.
const DefaultScheduleName = "Default Update Schedule"

func (a *api) getService(w http.ResponseWriter, r *http.Request, t target) {
	u, err := a.Services.GetUpdateService(r.Context(), t.server)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"enabled": err == nil && u.Enabled})
}

// enableService enables the server's update service with the default policy (the only
// one): its Default Update Schedule is created from orchestrator.DefaultPolicy (or, when
// the one made earlier still exists, enabled again).
func (a *api) enableService(w http.ResponseWriter, r *http.Request, t target) {
	var p struct {
		UpdatePolicyID *string `json:"updatePolicyId"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &p); err != nil {
			writeErr(w, err)
			return
		}
	}
	policy := orchestrator.DefaultPolicy(t.server, a.Zone)
	if p.UpdatePolicyID != nil && *p.UpdatePolicyID != policy.ID {
		writeErr(w, badRequest("updatePolicyId %q: unknown; the update policies are: %s", *p.UpdatePolicyID, policy.ID))
		return
	}
	ctx := r.Context()
	u, err := a.Services.GetUpdateService(ctx, t.server)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeErr(w, err)
		return
	}
	var sched store.ScheduleDef
	if u.ScheduleID != 0 {
		sched, err = a.Schedules.Get(ctx, u.ScheduleID)
		if err == nil && sched.Target == t.key() {
			sched, err = a.Schedules.SetEnabled(ctx, sched.ID, true)
		} else if err == nil || errors.Is(err, store.ErrScheduleNotFound) {
			sched, err = store.ScheduleDef{}, nil
		}
		if err != nil {
			writeErr(w, err)
			return
		}
	}
	if sched.ID == 0 {
		sched, err = a.defaultSchedule(ctx, t, policy, by(r))
		if err != nil {
			writeErr(w, err)
			return
		}
	}
	err = a.Services.PutUpdateService(ctx, store.UpdateService{ServerID: t.server, Group: t.group, Enabled: true, PolicyID: policy.ID,
		ScheduleID: sched.ID, UpdatedBy: by(r), Updated: a.Now()})
	if err != nil {
		writeErr(w, err)
		return
	}
	a.Logger.Info("update service enabled", "server", t.server, "group", t.group, "schedule", sched.ID, "by", by(r))
	w.WriteHeader(http.StatusNoContent)
}

// disableService disables the server's update service: every schedule of the server is
// disabled (kept, so enabling again brings the Default Update Schedule back as it was).
func (a *api) disableService(w http.ResponseWriter, r *http.Request, t target) {
	ctx := r.Context()
	u, err := a.Services.GetUpdateService(ctx, t.server)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeErr(w, err)
		return
	}
	defs, err := a.Schedules.List(ctx, t.key())
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, d := range defs {
		if d.Enabled {
			if _, err := a.Schedules.SetEnabled(ctx, d.ID, false); err != nil {
				writeErr(w, err)
				return
			}
		}
	}
	u.ServerID, u.Group, u.Enabled, u.UpdatedBy, u.Updated = t.server, t.group, false, by(r), a.Now()
	if err := a.Services.PutUpdateService(ctx, u); err != nil {
		writeErr(w, err)
		return
	}
	a.Logger.Info("update service disabled", "server", t.server, "group", t.group, "schedules_disabled", len(defs), "by", by(r))
	w.WriteHeader(http.StatusNoContent)
}

// ---- policies

func (a *api) listPolicies(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("projectId")
	if err := a.checkProject(r.Context(), project); err != nil {
		writeErr(w, err)
		return
	}
	p := orchestrator.DefaultPolicy(project, a.Zone)
	p.Description += "; each server's Default Update Schedule has its own start, chosen by its id"
	writeJSON(w, http.StatusOK, map[string]any{"items": []orchestrator.UpdatePolicy{p}})
}

// ---- plumbing

type notFoundError struct{ error }

func notFound(format string, args ...any) error { return notFoundError{fmt.Errorf(format, args...)} }

func badRequest(format string, args ...any) error {
	return orchestrator.BadRequestError{Err: fmt.Errorf(format, args...)}
}

// decode reads a JSON body strictly (unknown fields are named).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

type apiError struct {
	Error string `json:"error"`
}

func writeErr(w http.ResponseWriter, err error) {
	var bad orchestrator.BadRequestError
	var nf notFoundError
	var dup *orchestrator.DuplicateError
	switch {
	case errors.As(err, &nf):
		writeJSON(w, http.StatusNotFound, apiError{err.Error()})
	case errors.As(err, &dup):
		writeJSON(w, http.StatusConflict, apiError{err.Error()})
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, apiError{fmt.Sprintf("internal error: %v", err)})
	}
}
