package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/orchestrator"
)

// KindRollback is the job kind the Rollback button queues; the button is shown only when
// the daemon runs that kind.
const KindRollback = "rollback"

// updateKinds are the job kinds an Updates page's history lists: the ways a group gets
// patched.
var updateKinds = []string{orchestrator.KindUpdate, orchestrator.KindInPlace, orchestrator.KindRebuild}

// updateOptions are what the Update button asks for, as STACKIT's does: install the
// updates, reboot when they require it. The policy still rebuilds first when it can.
var updateOptions = json.RawMessage(`{"apply_security_upgrades":true,"reboot_if_required":true}`)

// failErr maps a use case's error to a status: bad input 400, a busy target 409, an
// unknown job or schedule 404, else 500.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, s *session, what string, err error) {
	var bad orchestrator.BadRequestError
	var dup *orchestrator.DuplicateError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &dup):
		status = http.StatusConflict
	case errors.As(err, &bad):
		status = http.StatusBadRequest
	case errors.Is(err, orchestrator.ErrJobNotFound), errors.Is(err, store.ErrScheduleNotFound):
		status = http.StatusNotFound
	}
	c.fail(w, r, s, status, what+": "+err.Error())
}

func (c *Console) hasKind(kind string) bool { return slices.Contains(c.cfg.Jobs.Kinds(), kind) }

// group returns the path's group, or answers 404.
func (c *Console) group(w http.ResponseWriter, r *http.Request, s *session) (string, bool) {
	g := r.PathValue("group")
	if !slices.Contains(c.cfg.Groups.GroupNames(), g) {
		c.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("group %q is not in the manifest; groups: %s", g, strings.Join(c.cfg.Groups.GroupNames(), ", ")))
		return "", false
	}
	return g, true
}

// target returns the path's update target: the group ("web"), or one of its slots
// ("web/0", the server in slot 0) when the path names a slot; 404 otherwise.
func (c *Console) target(w http.ResponseWriter, r *http.Request, s *session) (group, target string, ok bool) {
	g, ok := c.group(w, r, s)
	if !ok {
		return "", "", false
	}
	v := r.PathValue("slot")
	if v == "" {
		return g, g, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n >= c.cfg.Groups.Slots(g) || strconv.Itoa(n) != v {
		c.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("slot %q of group %s: want a slot from 0 to %d", v, g, c.cfg.Groups.Slots(g)-1))
		return "", "", false
	}
	return g, orchestrator.SlotTarget(g, n), true
}

type groupView struct {
	Name   string
	Status failover.GroupStatus
	Err    string
}

func (c *Console) groupsPage(w http.ResponseWriter, r *http.Request, s *session) {
	var groups []groupView
	for _, g := range c.cfg.Groups.GroupNames() {
		st, err := c.cfg.Groups.Status(r.Context(), g)
		v := groupView{Name: g, Status: st}
		if err != nil {
			v.Err = err.Error()
		}
		groups = append(groups, v)
	}
	c.render(w, r, http.StatusOK, "groups", s, map[string]any{"Title": "Groups", "Groups": groups, "Rollback": c.hasKind(KindRollback)})
}

func (c *Console) confirmRebuild(w http.ResponseWriter, r *http.Request, s *session) {
	g, ok := c.group(w, r, s)
	if !ok {
		return
	}
	plan, err := c.cfg.Groups.Plan(r.Context(), g)
	data := map[string]any{"Title": "Rebuild " + g, "Nav": "groups", "Group": g, "Verb": "Rebuild", "Plan": plan,
		"Action": "/groups/" + g + "/rebuild", "Allowed": true}
	if err != nil {
		data["Err"] = err.Error()
	}
	c.render(w, r, http.StatusOK, "confirm", s, data)
}

func (c *Console) rebuild(w http.ResponseWriter, r *http.Request, s *session) {
	g, ok := c.group(w, r, s)
	if !ok {
		return
	}
	c.queue(w, r, s, orchestrator.JobRequest{Kind: orchestrator.KindRebuild, Target: g, RequestedBy: s.RequestedBy()}, "")
}

func (c *Console) confirmRollback(w http.ResponseWriter, r *http.Request, s *session) {
	g, ok := c.group(w, r, s)
	if !ok {
		return
	}
	plan, err := c.cfg.Groups.RollbackPlan(r.Context(), g)
	data := map[string]any{"Title": "Roll back " + g, "Nav": "groups", "Group": g, "Verb": "Roll back", "Plan": plan,
		"Action": "/groups/" + g + "/rollback", "Allowed": c.hasKind(KindRollback)}
	if err != nil {
		data["Err"] = err.Error()
	}
	c.render(w, r, http.StatusOK, "confirm", s, data)
}

func (c *Console) rollback(w http.ResponseWriter, r *http.Request, s *session) {
	g, ok := c.group(w, r, s)
	if !ok {
		return
	}
	if !c.hasKind(KindRollback) {
		c.fail(w, r, s, http.StatusNotImplemented, "this daemon has no rollback job kind: run `remint rollback "+g+"`")
		return
	}
	c.queue(w, r, s, orchestrator.JobRequest{Kind: KindRollback, Target: g, RequestedBy: s.RequestedBy()}, "")
}

// queue inserts a job and shows it (or goes to then).
func (c *Console) queue(w http.ResponseWriter, r *http.Request, s *session, req orchestrator.JobRequest, then string) {
	j, err := c.cfg.Jobs.Insert(r.Context(), req)
	var dup *orchestrator.DuplicateError
	if errors.As(err, &dup) {
		c.fail(w, r, s, http.StatusConflict, fmt.Sprintf("%s: job %d (%s, %s) is still unfinished on %s; see /jobs/%d", req.Kind, dup.Existing.ID,
			dup.Existing.Kind, dup.Existing.Status, req.Target, dup.Existing.ID))
		return
	}
	if err != nil {
		c.failErr(w, r, s, "queue "+req.Kind+" "+req.Target, err)
		return
	}
	c.cfg.Logger.Info("console: job queued", "job", j.ID, "kind", j.Kind, "target", j.Target, "by", req.RequestedBy)
	if then == "" {
		then = fmt.Sprintf("/jobs/%d", j.ID)
	}
	http.Redirect(w, r, then, http.StatusSeeOther)
}

func (c *Console) imagesPage(w http.ResponseWriter, r *http.Request, s *session) {
	type family struct {
		Name     string
		Versions []Image
		Err      string
	}
	var fams []family
	for _, f := range c.cfg.Images.FamilyNames() {
		vs, err := c.cfg.Images.Versions(r.Context(), f)
		v := family{Name: f, Versions: vs}
		if err != nil {
			v.Err = err.Error()
		}
		fams = append(fams, v)
	}
	c.render(w, r, http.StatusOK, "images", s, map[string]any{"Title": "Images", "Families": fams, "Build": c.hasKind(orchestrator.KindBuildImage)})
}

func (c *Console) family(w http.ResponseWriter, r *http.Request, s *session) (string, bool) {
	f := r.PathValue("family")
	if !slices.Contains(c.cfg.Images.FamilyNames(), f) {
		c.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("image family %q is not in the manifest; families: %s", f, strings.Join(c.cfg.Images.FamilyNames(), ", ")))
		return "", false
	}
	return f, true
}

func (c *Console) buildImage(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := c.family(w, r, s)
	if !ok {
		return
	}
	c.queue(w, r, s, orchestrator.JobRequest{Kind: orchestrator.KindBuildImage, Target: f, RequestedBy: s.RequestedBy()}, "")
}

func (c *Console) revokeImage(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := c.family(w, r, s)
	if !ok {
		return
	}
	version := r.PathValue("version")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" || len(reason) > 200 {
		c.fail(w, r, s, http.StatusBadRequest, "revoke: give a reason (1 to 200 characters); it is recorded on the image")
		return
	}
	if err := c.cfg.Images.Revoke(r.Context(), f, version, reason+" ("+s.RequestedBy()+")"); err != nil {
		c.failErr(w, r, s, "revoke "+f+" "+version, err)
		return
	}
	c.cfg.Logger.Info("console: image revoked", "family", f, "version", version, "by", s.RequestedBy())
	http.Redirect(w, r, "/images#"+f, http.StatusSeeOther)
}

func (c *Console) updatesIndex(w http.ResponseWriter, r *http.Request, s *session) {
	names := c.cfg.Groups.GroupNames()
	if len(names) == 1 {
		http.Redirect(w, r, "/updates/"+names[0], http.StatusSeeOther)
		return
	}
	type row struct {
		Name string
		Last *orchestrator.Job
	}
	var rows []row
	for _, g := range names {
		v := row{Name: g}
		if jobs, err := c.cfg.Jobs.List(r.Context(), orchestrator.ListOptions{Target: g, Kinds: updateKinds, Limit: 1}); err == nil && len(jobs) > 0 {
			v.Last = &jobs[0]
		}
		rows = append(rows, v)
	}
	c.render(w, r, http.StatusOK, "updates", s, map[string]any{"Title": "Updates", "Index": rows})
}

// scheduleView is a schedule on the Updates page.
type scheduleView struct {
	ID          int64
	Name        string
	Source      string // manifest or runtime
	RRule       string
	Window      time.Duration
	Enabled     bool
	Action      string
	Description string
	Next        []orchestrator.Run
	Err         string
}

func (c *Console) schedulesOf(r *http.Request, group string) ([]scheduleView, error) {
	now := c.cfg.Now()
	var out []scheduleView
	next := func(v *scheduleView) {
		sch, err := orchestrator.ParseSchedule(v.RRule, v.Window)
		if err != nil {
			v.Err = err.Error()
			return
		}
		if v.Enabled {
			v.Next = sch.Next(now, 3)
		}
	}
	for _, st := range c.cfg.Static {
		if st.Target != group {
			continue
		}
		v := scheduleView{Name: st.Name, Source: "manifest", RRule: st.RRule, Window: st.Window, Enabled: true, Action: st.Action}
		next(&v)
		out = append(out, v)
	}
	defs, err := c.cfg.Schedules.List(r.Context(), group)
	if err != nil {
		return out, err
	}
	for _, d := range defs {
		v := scheduleView{ID: d.ID, Name: d.Name, Source: "runtime", RRule: d.RRule, Window: d.Window, Enabled: d.Enabled, Action: d.Action, Description: d.Description}
		next(&v)
		out = append(out, v)
	}
	return out, nil
}

func (c *Console) updatesPage(w http.ResponseWriter, r *http.Request, s *session) {
	g, target, ok := c.target(w, r, s)
	if !ok {
		return
	}
	c.renderUpdates(w, r, s, g, target, http.StatusOK, scheduleForm{Window: 2, Enabled: true, Action: manifest.ActionUpdate}, "")
}

// history lists the updates of target newest first: its own jobs and, for a slot, its
// group's too (they update every server of the group).
func (c *Console) history(r *http.Request, group, target string) ([]orchestrator.Job, error) {
	jobs, err := c.cfg.Jobs.List(r.Context(), orchestrator.ListOptions{Target: target, Kinds: updateKinds, Limit: 50})
	if err != nil || target == group {
		return jobs, err
	}
	more, err := c.cfg.Jobs.List(r.Context(), orchestrator.ListOptions{Target: group, Kinds: updateKinds, Limit: 50})
	if err != nil {
		return jobs, err
	}
	jobs = append(jobs, more...)
	slices.SortFunc(jobs, func(a, b orchestrator.Job) int { return int(b.ID - a.ID) })
	if len(jobs) > 50 {
		jobs = jobs[:50]
	}
	return jobs, nil
}

// renderUpdates renders group g's Updates page with the create-schedule form holding
// form, and formErr above it (a refused create shows what was typed and why).
func (c *Console) renderUpdates(w http.ResponseWriter, r *http.Request, s *session, g, target string, status int, form scheduleForm, formErr string) {
	_, slot := orchestrator.SplitTarget(target)
	data := map[string]any{"Title": "Updates · " + target, "Nav": "updates", "Group": g, "Target": target, "Groups": c.cfg.Groups.GroupNames(),
		"Form": form, "FormErr": formErr, "Slot": slot}
	var errs []string
	st, err := c.cfg.Groups.Status(r.Context(), g)
	if err != nil {
		errs = append(errs, "servers: "+err.Error())
	}
	pending, err := c.cfg.Groups.Pending(r.Context(), g)
	if err != nil {
		errs = append(errs, "pending updates: "+err.Error())
	}
	type server struct {
		Name, Version, Health, Pending, Link string
	}
	var servers []server
	for _, sl := range st.Slots {
		if sl.ServerID == "" || (slot >= 0 && sl.Slot != slot) {
			continue
		}
		v := server{Name: sl.ServerName, Version: orDash(sl.ImageVersion), Health: sl.Health, Pending: "not checked in place yet",
			Link: "/updates/" + orchestrator.SlotTarget(g, sl.Slot)}
		if n, ok := pending[sl.ServerID]; ok {
			v.Pending = fmt.Sprintf("%d pending updates", n)
		}
		servers = append(servers, v)
	}
	data["Servers"] = servers
	hist, err := c.history(r, g, target)
	if err != nil {
		errs = append(errs, "history: "+err.Error())
	}
	data["History"] = hist
	live := false
	for _, j := range hist {
		live = live || j.Status == orchestrator.StatusQueued || j.Status == orchestrator.StatusRunning
	}
	data["Live"] = live
	scheds, err := c.schedulesOf(r, target)
	if err != nil {
		errs = append(errs, "schedules: "+err.Error())
	}
	data["Schedules"] = scheds
	data["Errs"] = errs
	c.render(w, r, status, "updates", s, data)
}

// windowOf reads a maintenance window in hours (1–24) from a form field.
func windowOf(v string) (time.Duration, error) {
	h, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || h < 1 || h > 24 {
		return 0, orchestrator.BadRequestError{Err: fmt.Errorf("maintenance window %q: want whole hours from 1 to 24", v)}
	}
	return time.Duration(h) * time.Hour, nil
}

func (c *Console) update(w http.ResponseWriter, r *http.Request, s *session) {
	_, target, ok := c.target(w, r, s)
	if !ok {
		return
	}
	window, err := windowOf(r.PostForm.Get("window"))
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "update: "+err.Error())
		return
	}
	now := c.cfg.Now()
	c.queue(w, r, s, orchestrator.JobRequest{Kind: orchestrator.KindUpdate, Target: target, Options: updateOptions,
		Run: &orchestrator.Run{Start: now, End: now.Add(window)}, RequestedBy: s.RequestedBy()}, "/updates/"+target+"#history")
}

// scheduleForm is the create/edit schedule form's values.
type scheduleForm struct {
	ID          int64
	Name        string
	RRule       string
	Window      int
	Enabled     bool
	Action      string
	Description string
	Target      string
	// Version is when the edited schedule was last changed, as the page loaded it: a save
	// over a newer change is refused (two browsers editing the same schedule).
	Version string
}

// versionOf is a schedule's Version.
func versionOf(d store.ScheduleDef) string { return d.Updated.UTC().Format(time.RFC3339Nano) }

func specOf(r *http.Request, target string) (orchestrator.ScheduleSpec, error) {
	f := r.PostForm
	window, err := windowOf(f.Get("window"))
	if err != nil {
		return orchestrator.ScheduleSpec{}, err
	}
	spec := orchestrator.ScheduleSpec{Name: strings.TrimSpace(f.Get("name")), RRule: strings.TrimSpace(f.Get("rrule")), Window: window,
		Enabled: f.Get("enabled") != "", Action: orDefault(f.Get("action"), manifest.ActionUpdate), Target: target,
		Description: strings.TrimSpace(f.Get("description"))}
	if spec.Action == manifest.ActionUpdate || spec.Action == manifest.ActionInPlace {
		spec.Options = manifest.ScheduleOptions{ApplySecurityUpgrades: true, RebootIfRequired: true}
	}
	return spec, nil
}

// formOf is what the user typed, to show again with the reason it was refused.
func formOf(r *http.Request) scheduleForm {
	f := r.PostForm
	win, _ := strconv.Atoi(strings.TrimSpace(f.Get("window")))
	return scheduleForm{Name: f.Get("name"), RRule: f.Get("rrule"), Window: win, Enabled: f.Get("enabled") != "",
		Action: orDefault(f.Get("action"), manifest.ActionUpdate), Description: f.Get("description")}
}

// refusedForm re-renders a refused schedule form (400) or fails the request.
func (c *Console) refusedForm(w http.ResponseWriter, r *http.Request, s *session, what string, err error, show func(msg string)) {
	var bad orchestrator.BadRequestError
	if errors.As(err, &bad) {
		show(what + ": " + err.Error())
		return
	}
	c.failErr(w, r, s, what, err)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (c *Console) createSchedule(w http.ResponseWriter, r *http.Request, s *session) {
	g, target, ok := c.target(w, r, s)
	if !ok {
		return
	}
	spec, err := specOf(r, target)
	if err == nil {
		_, err = c.cfg.Schedules.Create(r.Context(), spec, s.RequestedBy())
	}
	if err != nil {
		c.refusedForm(w, r, s, "create schedule", err, func(msg string) {
			c.renderUpdates(w, r, s, g, target, http.StatusBadRequest, formOf(r), msg)
		})
		return
	}
	c.cfg.Logger.Info("console: schedule created", "name", spec.Name, "target", target, "by", s.RequestedBy())
	http.Redirect(w, r, "/updates/"+target+"#schedules", http.StatusSeeOther)
}

// pathID returns the path's {id}, or answers 400 naming what (job, schedule) it was.
func (c *Console) pathID(w http.ResponseWriter, r *http.Request, s *session, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("%s id %q: want a positive number", what, r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (c *Console) scheduleID(w http.ResponseWriter, r *http.Request, s *session) (store.ScheduleDef, bool) {
	id, ok := c.pathID(w, r, s, "schedule")
	if !ok {
		return store.ScheduleDef{}, false
	}
	d, err := c.cfg.Schedules.Get(r.Context(), id)
	if err != nil {
		c.failErr(w, r, s, fmt.Sprintf("schedule %d", id), err)
		return d, false
	}
	return d, true
}

func (c *Console) schedulePage(w http.ResponseWriter, r *http.Request, s *session) {
	d, ok := c.scheduleID(w, r, s)
	if !ok {
		return
	}
	form := scheduleForm{ID: d.ID, Name: d.Name, RRule: d.RRule, Window: int(d.Window / time.Hour), Enabled: d.Enabled, Action: d.Action,
		Description: d.Description, Target: d.Target, Version: versionOf(d)}
	c.render(w, r, http.StatusOK, "schedule", s, map[string]any{"Title": "Schedule " + d.Name, "Nav": "updates", "Form": form})
}

func (c *Console) updateSchedule(w http.ResponseWriter, r *http.Request, s *session) {
	d, ok := c.scheduleID(w, r, s)
	if !ok {
		return
	}
	spec, err := specOf(r, d.Target)
	if v := r.PostForm.Get("version"); err == nil && v != "" {
		// The store writes only if the schedule is still the version this page loaded.
		if spec.UnchangedSince, err = time.Parse(time.RFC3339Nano, v); err != nil {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("version %q: not a time this page sends; reload it", v))
			return
		}
	}
	var cur store.ScheduleDef
	if err == nil {
		cur, err = c.cfg.Schedules.Update(r.Context(), d.ID, spec)
	}
	if errors.Is(err, store.ErrScheduleChanged) {
		c.fail(w, r, s, http.StatusConflict, fmt.Sprintf("schedule %s was changed at %s, after this page was loaded: reload it to see that change, then make yours again",
			d.Name, cur.Updated.UTC().Format(time.RFC3339)))
		return
	}
	if err != nil {
		c.refusedForm(w, r, s, "change schedule "+d.Name, err, func(msg string) {
			form := formOf(r)
			form.ID, form.Target, form.Version = d.ID, d.Target, versionOf(d)
			c.render(w, r, http.StatusBadRequest, "schedule", s, map[string]any{"Title": "Schedule " + d.Name, "Nav": "updates", "Form": form, "FormErr": msg})
		})
		return
	}
	c.cfg.Logger.Info("console: schedule changed", "id", d.ID, "name", spec.Name, "by", s.RequestedBy())
	http.Redirect(w, r, "/updates/"+d.Target+"#schedules", http.StatusSeeOther)
}

func (c *Console) deleteSchedule(w http.ResponseWriter, r *http.Request, s *session) {
	d, ok := c.scheduleID(w, r, s)
	if !ok {
		return
	}
	if err := c.cfg.Schedules.Delete(r.Context(), d.ID); err != nil {
		c.failErr(w, r, s, "delete schedule "+d.Name, err)
		return
	}
	c.cfg.Logger.Info("console: schedule deleted", "id", d.ID, "name", d.Name, "by", s.RequestedBy())
	http.Redirect(w, r, "/updates/"+d.Target+"#schedules", http.StatusSeeOther)
}

// rruleRun is one previewed run.
type rruleRun struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	StartLocal string    `json:"start_local"`
	Zone       string    `json:"zone"`
}

// rruleNext previews a rule's next runs for the schedule form: ?rrule=&window=&n=
// (1–20, default 5) → {"runs": [...]}, or 400 {"error": ...} naming what is wrong.
func (c *Console) rruleNext(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	n := 5
	if v := q.Get("n"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > 20 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("n %q: want 1 to 20", v)})
			return
		}
		n = k
	}
	window, err := windowOf(orDefault(q.Get("window"), "1"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	rule := strings.TrimSpace(q.Get("rrule"))
	if rule == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "rrule is empty: want e.g. DTSTART;TZID=Europe/Berlin:20260101T030000 RRULE:FREQ=WEEKLY;BYDAY=SA"})
		return
	}
	sch, err := orchestrator.ParseSchedule(rule, window)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	runs := []rruleRun{}
	for _, x := range sch.Next(c.cfg.Now(), n) {
		runs = append(runs, rruleRun{Start: x.Start.UTC(), End: x.End.UTC(), StartLocal: x.Start.Format("Mon 2006-01-02 15:04 MST"), Zone: sch.Location().String()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	o := orchestrator.ListOptions{Limit: 50, Status: q.Get("status"), Target: q.Get("target")}
	if k := q.Get("kind"); k != "" {
		o.Kinds = strings.Split(k, ",")
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("before %q: want a job id", b))
			return
		}
		o.BeforeID = n
	}
	jobs, err := c.cfg.Jobs.List(r.Context(), o)
	if err != nil {
		c.failErr(w, r, s, "list jobs", err)
		return
	}
	var more string
	if len(jobs) == o.Limit {
		v := r.URL.Query()
		v.Set("before", strconv.FormatInt(jobs[len(jobs)-1].ID, 10))
		more = "/jobs?" + v.Encode()
	}
	c.render(w, r, http.StatusOK, "jobs", s, map[string]any{"Title": "Jobs", "Jobs": jobs, "More": more, "Status": o.Status, "Target": o.Target,
		"Kind": q.Get("kind"), "Kinds": c.cfg.Jobs.Kinds()})
}

func (c *Console) jobOf(w http.ResponseWriter, r *http.Request, s *session) (orchestrator.Job, bool) {
	id, ok := c.pathID(w, r, s, "job")
	if !ok {
		return orchestrator.Job{}, false
	}
	j, err := c.cfg.Jobs.Get(r.Context(), id)
	if err != nil {
		c.failErr(w, r, s, fmt.Sprintf("job %d", id), err)
		return j, false
	}
	return j, true
}

func (c *Console) jobPage(w http.ResponseWriter, r *http.Request, s *session) {
	j, ok := c.jobOf(w, r, s)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "job", s, map[string]any{"Title": fmt.Sprintf("Job %d", j.ID), "Nav": "jobs", "Job": j})
}

// jobEvents streams a job as server-sent events: a "job" event with the job (and its
// event log) as JSON whenever it changed, and "end" once it finished. Each poll (one
// job read per PollInterval per open stream) verifies the session again, so a token
// revoked while the stream is open closes it at the next poll.
func (c *Console) jobEvents(w http.ResponseWriter, r *http.Request, s *session) {
	j, ok := c.jobOf(w, r, s)
	if !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		c.fail(w, r, s, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	var last []byte
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	for {
		b, err := json.Marshal(j)
		if err != nil {
			return
		}
		if string(b) != string(last) {
			fmt.Fprintf(w, "event: job\ndata: %s\n\n", b)
			last = b
		}
		if j.Status != orchestrator.StatusQueued && j.Status != orchestrator.StatusRunning {
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			fl.Flush()
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if again, err := c.authenticate(r); err != nil || again == nil {
			return
		}
		if j, err = c.cfg.Jobs.Get(r.Context(), j.ID); err != nil {
			return
		}
	}
}
