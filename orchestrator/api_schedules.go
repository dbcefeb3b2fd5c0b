package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
)

// Schedules are the manifest's and the run-time schedules as one list, changed through
// the ScheduleBook: locally (ScheduleService) or through a daemon (Client). A schedule is
// named by its id or its name (ref); manifest schedules have id 0 and cannot be changed
// here (ErrManifestSchedule).
type Schedules interface {
	ListSchedules(ctx context.Context, target string) ([]ScheduleView, error)
	GetSchedule(ctx context.Context, ref string) (ScheduleView, error)
	CreateSchedule(ctx context.Context, req ScheduleRequest) (ScheduleView, error)
	UpdateSchedule(ctx context.Context, ref string, req ScheduleRequest) (ScheduleView, error)
	DeleteSchedule(ctx context.Context, ref string) error
	SetScheduleEnabled(ctx context.Context, ref string, enabled bool) (ScheduleView, error)
	// ScheduleHistory lists the runs the daemon handled, of schedule name ("": of every
	// schedule), in order (`remint schedule history`).
	ScheduleHistory(ctx context.Context, name string) ([]ScheduleRunView, error)
}

// ScheduleRunView is one run a daemon handled: fired (the job it started), missed or
// skipped, and why. `remint schedule history --output json` and GET /v1/schedule-runs.
type ScheduleRunView struct {
	Schedule string    `json:"schedule"`
	Target   string    `json:"target"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Outcome  string    `json:"outcome"`
	JobID    int64     `json:"job_id,omitempty"`
	Reason   string    `json:"reason"`
	Recorded time.Time `json:"recorded"`
}

// ErrManifestSchedule refuses a change to a schedule of the manifest.
var ErrManifestSchedule = errors.New("the schedule is defined in the manifest: change it there")

// ScheduleRequest is the body of POST /v1/schedules and PUT /v1/schedules/{id}.
type ScheduleRequest struct {
	Name        string  `json:"name"`
	RRule       string  `json:"rrule"`
	WindowHours float64 `json:"window_hours"`
	// Enabled defaults to true.
	Enabled     *bool   `json:"enabled,omitempty"`
	Action      string  `json:"action"`
	Target      string  `json:"target"`
	Options     Options `json:"options"`
	Description string  `json:"description,omitempty"`
	// By is who asks ("cli", "token ci"); set by the API from the request, never read
	// from the body.
	By string `json:"-"`
}

func (r ScheduleRequest) spec() (ScheduleSpec, error) {
	if r.WindowHours == 0 {
		return ScheduleSpec{}, badRequest("window_hours: required, 1 to 24")
	}
	if err := checkWindowHours(r.WindowHours); err != nil {
		return ScheduleSpec{}, err
	}
	enabled := true
	if r.Enabled != nil {
		enabled = *r.Enabled
	}
	o := r.Options
	return ScheduleSpec{Name: r.Name, RRule: r.RRule, Window: time.Duration(r.WindowHours * float64(time.Hour)), Enabled: enabled,
		Action: r.Action, Target: r.Target, Description: r.Description,
		Options: manifest.ScheduleOptions{ApplySecurityUpgrades: o.ApplySecurityUpgrades, RebootIfRequired: o.RebootIfRequired,
			ApplyDockerUpgrades: o.ApplyDockerUpgrades, ApplyWeaveUpgrades: o.ApplyWeaveUpgrades}}, nil
}

// ScheduleView is one schedule as the API and `remint schedule … --output json` show it.
type ScheduleView struct {
	ID          int64           `json:"id"` // 0 for manifest schedules
	Name        string          `json:"name"`
	Source      string          `json:"source"` // "manifest" or "runtime"
	RRule       string          `json:"rrule"`
	WindowHours float64         `json:"window_hours"`
	Zone        string          `json:"zone"`
	Enabled     bool            `json:"enabled"`
	Action      string          `json:"action"`
	Target      string          `json:"target"`
	Options     json.RawMessage `json:"options"`
	Description string          `json:"description,omitempty"`
	CreatedBy   string          `json:"created_by,omitempty"`
	Created     *time.Time      `json:"created,omitempty"`
	Updated     *time.Time      `json:"updated,omitempty"`
	// Next are the next 5 runs (none while disabled or once the rule has ended).
	Next []RunView `json:"next"`
}

// Schedule sources.
const (
	SourceManifest = "manifest"
	SourceRunTime  = "runtime"
)

// RunView is a run in UTC and in the rule's zone.
type RunView struct {
	Start      string `json:"start"` // UTC, RFC 3339
	End        string `json:"end"`
	StartLocal string `json:"start_local"` // the rule's zone, with its offset
	Zone       string `json:"zone"`
}

// RunViews renders runs.
func RunViews(s *Schedule, runs []Run) []RunView {
	out := []RunView{}
	for _, r := range runs {
		out = append(out, RunView{Start: r.Start.UTC().Format(time.RFC3339), End: r.End.UTC().Format(time.RFC3339),
			StartLocal: r.Start.In(s.Location()).Format(time.RFC3339), Zone: s.Location().String()})
	}
	return out
}

// ManifestSchedule is a schedule of the manifest as the schedule views need it.
type ManifestSchedule struct {
	Name        string
	RRule       string
	Window      time.Duration
	Action      string
	Target      string
	Options     manifest.ScheduleOptions
	Description string
}

// ScheduleService is Schedules on the state store: the book for run-time schedules and
// the manifest's (read-only). The book's Changed tells the daemon of each change.
type ScheduleService struct {
	Book     *ScheduleBook
	Manifest []ManifestSchedule
}

func view(name, source, rule string, window time.Duration, enabled bool, action, target string, opts Options, now time.Time) (ScheduleView, error) {
	v := ScheduleView{Name: name, Source: source, RRule: rule, WindowHours: window.Hours(), Enabled: enabled, Action: action, Target: target, Next: []RunView{}}
	b, err := json.Marshal(opts)
	if err != nil {
		return v, err
	}
	v.Options = b
	sched, err := ParseSchedule(rule, window)
	if err != nil {
		return v, fmt.Errorf("schedule %s: %w", name, err)
	}
	v.Zone = sched.Location().String()
	if enabled {
		v.Next = RunViews(sched, sched.Next(now, 5))
	}
	return v, nil
}

func (s *ScheduleService) manifestView(m ManifestSchedule) (ScheduleView, error) {
	v, err := view(m.Name, SourceManifest, m.RRule, m.Window, true, m.Action, m.Target, OptionsOf(m.Options), s.Book.now())
	v.Description = m.Description
	return v, err
}

func (s *ScheduleService) runTimeView(d store.ScheduleDef) (ScheduleView, error) {
	spec, err := SpecOf(d)
	if err != nil {
		return ScheduleView{}, err
	}
	v, err := view(d.Name, SourceRunTime, d.RRule, d.Window, d.Enabled, d.Action, d.Target, OptionsOf(spec.Options), s.Book.now())
	v.ID, v.Description, v.CreatedBy = d.ID, d.Description, d.CreatedBy
	created, updated := d.Created, d.Updated
	v.Created, v.Updated = &created, &updated
	return v, err
}

// ListSchedules lists the manifest's schedules, then the run-time ones by id; target ""
// lists all.
func (s *ScheduleService) ListSchedules(ctx context.Context, target string) ([]ScheduleView, error) {
	out := []ScheduleView{}
	for _, m := range s.Manifest {
		if target != "" && m.Target != target {
			continue
		}
		v, err := s.manifestView(m)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	defs, err := s.Book.List(ctx, target)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		v, err := s.runTimeView(d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// resolve finds a run-time schedule by id or name; a manifest name is ErrManifestSchedule
// (with m set).
func (s *ScheduleService) resolve(ctx context.Context, ref string) (store.ScheduleDef, *ManifestSchedule, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if id < 1 {
			return store.ScheduleDef{}, nil, badRequest("schedule id %d: want a positive id (manifest schedules have id 0: name them)", id)
		}
		d, err := s.Book.Get(ctx, id)
		return d, nil, err
	}
	for i := range s.Manifest {
		if s.Manifest[i].Name == ref {
			return store.ScheduleDef{}, &s.Manifest[i], fmt.Errorf("schedule %s: %w", ref, ErrManifestSchedule)
		}
	}
	d, err := s.Book.Store.ScheduleByName(ctx, ref)
	return d, nil, err
}

// ScheduleHistory lists the recorded runs of schedule name ("": all). A name that is
// neither the manifest's nor a run-time schedule's and has no recorded runs (a deleted
// schedule's stay) is ErrScheduleNotFound.
func (s *ScheduleService) ScheduleHistory(ctx context.Context, name string) ([]ScheduleRunView, error) {
	runs, err := s.Book.Store.ScheduleRuns(ctx, name)
	if err != nil {
		return nil, err
	}
	if name != "" && len(runs) == 0 && !slices.ContainsFunc(s.Manifest, func(m ManifestSchedule) bool { return m.Name == name }) {
		if _, err := s.Book.Store.ScheduleByName(ctx, name); errors.Is(err, store.ErrScheduleNotFound) {
			return nil, fmt.Errorf("schedule %q is not in the manifest nor created at run time, and has no recorded runs: %w", name, store.ErrScheduleNotFound)
		} else if err != nil {
			return nil, err
		}
	}
	out := make([]ScheduleRunView, 0, len(runs))
	for _, r := range runs {
		out = append(out, ScheduleRunView{r.Schedule, r.Target, r.Start, r.End, r.Outcome, r.JobID, r.Reason, r.Recorded})
	}
	return out, nil
}

// GetSchedule returns the schedule ref (id or name; manifest names too).
func (s *ScheduleService) GetSchedule(ctx context.Context, ref string) (ScheduleView, error) {
	d, m, err := s.resolve(ctx, ref)
	if m != nil {
		return s.manifestView(*m)
	}
	if err != nil {
		return ScheduleView{}, err
	}
	return s.runTimeView(d)
}

// CreateSchedule validates and stores a new run-time schedule.
func (s *ScheduleService) CreateSchedule(ctx context.Context, req ScheduleRequest) (ScheduleView, error) {
	spec, err := req.spec()
	if err != nil {
		return ScheduleView{}, err
	}
	d, err := s.Book.Create(ctx, spec, req.By)
	if err != nil {
		return ScheduleView{}, err
	}
	return s.runTimeView(d)
}

// UpdateSchedule replaces schedule ref with req.
func (s *ScheduleService) UpdateSchedule(ctx context.Context, ref string, req ScheduleRequest) (ScheduleView, error) {
	d, _, err := s.resolve(ctx, ref)
	if err != nil {
		return ScheduleView{}, err
	}
	spec, err := req.spec()
	if err != nil {
		return ScheduleView{}, err
	}
	d, err = s.Book.Update(ctx, d.ID, spec)
	if err != nil {
		return ScheduleView{}, err
	}
	return s.runTimeView(d)
}

// DeleteSchedule deletes schedule ref; its recorded runs stay.
func (s *ScheduleService) DeleteSchedule(ctx context.Context, ref string) error {
	d, _, err := s.resolve(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.Book.Delete(ctx, d.ID); err != nil {
		return err
	}
	return nil
}

// SetScheduleEnabled enables or disables schedule ref.
func (s *ScheduleService) SetScheduleEnabled(ctx context.Context, ref string, enabled bool) (ScheduleView, error) {
	d, _, err := s.resolve(ctx, ref)
	if err != nil {
		return ScheduleView{}, err
	}
	d, err = s.Book.SetEnabled(ctx, d.ID, enabled)
	if err != nil {
		return ScheduleView{}, err
	}
	return s.runTimeView(d)
}

// checkWindowHours refuses a window_hours outside 1 to 24, echoing the number sent
// ("window_hours 30"), not the duration it would make ("30h0m0s").
func checkWindowHours(h float64) error {
	if d := time.Duration(h * float64(time.Hour)); d < MinWindow || d > MaxWindow {
		return badRequest("window_hours %s: want 1 to 24", strconv.FormatFloat(h, 'f', -1, 64))
	}
	return nil
}

// RRuleNextRequest is the body of POST /v1/rrule/next (the console's live preview).
type RRuleNextRequest struct {
	RRule       string  `json:"rrule"`
	WindowHours float64 `json:"window_hours,omitempty"` // default 4
	N           int     `json:"n,omitempty"`            // default 5, at most 1000
	After       string  `json:"after,omitempty"`        // RFC 3339; default now
}

// RRuleNext computes the next runs of a rule; problems are BadRequestErrors.
func RRuleNext(req RRuleNextRequest, now time.Time) ([]RunView, error) {
	window := DefaultWindow
	if req.WindowHours != 0 {
		if err := checkWindowHours(req.WindowHours); err != nil {
			return nil, err
		}
		window = time.Duration(req.WindowHours * float64(time.Hour))
	}
	n := req.N
	if n == 0 {
		n = 5
	}
	if n < 1 || n > 1000 {
		return nil, badRequest("n %d: want 1 to 1000", n)
	}
	after := now
	if req.After != "" {
		t, err := time.Parse(time.RFC3339, req.After)
		if err != nil {
			return nil, badRequest("after %q: want an RFC 3339 time such as 2026-11-28T00:00:00Z", req.After)
		}
		after = t
	}
	s, err := ParseSchedule(req.RRule, window)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return RunViews(s, s.Next(after, n)), nil
}

// ScheduleRoutes are the schedule endpoints (API.More, or APIHandler's more).
func ScheduleRoutes(svc Schedules, now func() time.Time) []Route {
	if now == nil {
		now = time.Now
	}
	fail := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, store.ErrScheduleNotFound):
			writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		case errors.Is(err, ErrManifestSchedule):
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Code: CodeManifestSchedule})
		case errors.Is(err, store.ErrScheduleChanged):
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		default:
			writeErr(w, err)
		}
	}
	decode := func(w http.ResponseWriter, r *http.Request, v any) bool {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			fail(w, badRequest("request body: %v", err))
			return false
		}
		return true
	}
	by := func(r *http.Request) string {
		if p, ok := auth.FromContext(r.Context()); ok {
			return p.RequestedBy()
		}
		return "api"
	}
	var routes []Route
	handle := func(pattern string, h http.HandlerFunc) { routes = append(routes, Route{pattern, h}) }
	{
		handle("GET /v1/schedules", func(w http.ResponseWriter, r *http.Request) {
			list, err := svc.ListSchedules(r.Context(), r.URL.Query().Get("target"))
			if err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"schedules": list})
		})
		handle("POST /v1/schedules", func(w http.ResponseWriter, r *http.Request) {
			var req ScheduleRequest
			if !decode(w, r, &req) {
				return
			}
			req.By = by(r)
			v, err := svc.CreateSchedule(r.Context(), req)
			if err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusCreated, v)
		})
		handle("GET /v1/schedules/{id}", func(w http.ResponseWriter, r *http.Request) {
			v, err := svc.GetSchedule(r.Context(), r.PathValue("id"))
			if err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
		handle("PUT /v1/schedules/{id}", func(w http.ResponseWriter, r *http.Request) {
			var req ScheduleRequest
			if !decode(w, r, &req) {
				return
			}
			req.By = by(r)
			v, err := svc.UpdateSchedule(r.Context(), r.PathValue("id"), req)
			if err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
		handle("DELETE /v1/schedules/{id}", func(w http.ResponseWriter, r *http.Request) {
			if err := svc.DeleteSchedule(r.Context(), r.PathValue("id")); err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("id")})
		})
		for _, action := range []string{"enable", "disable"} {
			handle("POST /v1/schedules/{id}/"+action, func(w http.ResponseWriter, r *http.Request) {
				v, err := svc.SetScheduleEnabled(r.Context(), r.PathValue("id"), action == "enable")
				if err != nil {
					fail(w, err)
					return
				}
				writeJSON(w, http.StatusOK, v)
			})
		}
		handle("GET /v1/schedule-runs", func(w http.ResponseWriter, r *http.Request) {
			runs, err := svc.ScheduleHistory(r.Context(), r.URL.Query().Get("schedule"))
			if err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
		})
		handle("POST /v1/rrule/next", func(w http.ResponseWriter, r *http.Request) {
			var req RRuleNextRequest
			if !decode(w, r, &req) {
				return
			}
			runs, err := RRuleNext(req, now())
			if err != nil {
				fail(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
		})
	}
	return routes
}
