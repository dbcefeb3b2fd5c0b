package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
)

// Jobs is what the job endpoints (and `remint job`) need; *Queue implements it locally
// and *Client through a daemon.
type Jobs interface {
	Insert(ctx context.Context, req JobRequest) (Job, error)
	Get(ctx context.Context, id int64) (Job, error)
	List(ctx context.Context, o ListOptions) ([]Job, error)
	Cancel(ctx context.Context, id int64) (Job, error)
	Retry(ctx context.Context, id int64) (Job, error)
}

// Local adapts a Queue to Jobs.
type Local struct{ *Queue }

// Insert inserts a job (no extra work in its transaction).
func (l Local) Insert(ctx context.Context, req JobRequest) (Job, error) {
	return l.Queue.Insert(ctx, req, nil)
}

// checkHandRun checks a maintenance window given with a job by hand: 1 to 24 hours,
// not over yet.
func checkHandRun(run Run, now time.Time) error {
	if d := run.End.Sub(run.Start); d < MinWindow || d > MaxWindow {
		return badRequest("job request: run window %s: want 1h to 24h", d)
	}
	if !now.Before(run.End) {
		return badRequest("job request: run window ended at %s", run.End.UTC().Format(time.RFC3339))
	}
	return nil
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	// Code names, for clients to act on, a refusal the status alone does not tell apart:
	// CodeStaleState, CodeManifestSchedule ("" for the others).
	Code string `json:"code,omitempty"`
	// Job is the unfinished job that refused a duplicate.
	Job *Job `json:"job,omitempty"`
	// Group and Missing are a stale state's (CodeStaleState): what the group's state
	// records that the cloud no longer has.
	Group   string             `json:"group,omitempty"`
	Missing []failover.Missing `json:"missing,omitempty"`
}

// Error codes of a 409 answer. Both are states the operator must fix first (the CLI exits
// 2 for them, as its local commands do); a 409 without a code is a conflict with another
// process, worth retrying later (exit 1).
const (
	// CodeStaleState: the group's state records servers or addresses that no longer
	// exist (failover.ErrStaleState); remint group forget (or adopt) gets out of it.
	CodeStaleState = "stale_state"
	// CodeManifestSchedule: a change to a schedule the manifest defines (ErrManifestSchedule).
	CodeManifestSchedule = "manifest_schedule"
)

// Route is one endpoint of remint's own API: a Go 1.22 ServeMux pattern ("GET
// /v1/jobs/{id}") and its handler. API.Routes is the one list the mux registers and the
// OpenAPI test checks against openapi.json.
type Route struct {
	Pattern string
	Handler http.HandlerFunc
}

// API is remint's own JSON API: /healthz, /readyz, the jobs, /openapi.json and, when set,
// the groups and images. Jobs is required.
type API struct {
	Jobs Jobs
	// Ready reports whether the daemon is ready (nil: always).
	Ready func(ctx context.Context) error
	// Groups and Images serve /v1/groups… and /v1/images… (nil: not served).
	Groups Groups
	Images Images
	// More are further endpoints (the schedules), registered as given.
	More []Route
}

// APIHandler serves remint's own JSON API for jobs plus /healthz and /readyz, and more
// endpoints (ScheduleRoutes, …). ready reports whether the daemon is ready (nil: always).
func APIHandler(jobs Jobs, ready func(ctx context.Context) error, more ...Route) http.Handler {
	return API{Jobs: jobs, Ready: ready, More: more}.Handler()
}

// Handler registers every route of the API on a new mux.
func (a API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range a.Routes() {
		mux.HandleFunc(r.Pattern, r.Handler)
	}
	return mux
}

// Routes lists the API's endpoints.
func (a API) Routes() []Route {
	routes := append(a.jobRoutes(), Route{"GET /openapi.json", serveOpenAPI})
	if a.Groups != nil {
		routes = append(routes, groupRoutes(a.Groups, a.Jobs)...)
	}
	if a.Images != nil {
		routes = append(routes, imageRoutes(a.Images, a.Jobs)...)
	}
	return append(routes, a.More...)
}

func (a API) jobRoutes() []Route {
	jobs, ready := a.Jobs, a.Ready
	withID := func(f func(ctx context.Context, id int64) (Job, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := jobID(r)
			if err != nil {
				writeErr(w, err)
				return
			}
			j, err := f(r.Context(), id)
			reply(w, http.StatusOK, j, err)
		}
	}
	return []Route{
		{"GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{"GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			if ready != nil {
				if err := ready(r.Context()); err != nil {
					writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
					return
				}
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		}},
		{"GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			o := ListOptions{Status: q.Get("status"), Target: q.Get("target")}
			for _, k := range q["kind"] {
				o.Kinds = append(o.Kinds, strings.Split(k, ",")...)
			}
			if b := q.Get("before"); b != "" {
				n, err := strconv.ParseInt(b, 10, 64)
				if err != nil || n < 1 {
					writeErr(w, badRequest("before %q: want a job id", b))
					return
				}
				o.BeforeID = n
			}
			if l := r.URL.Query().Get("limit"); l != "" {
				n, err := strconv.Atoi(l)
				if err != nil || n < 1 {
					writeErr(w, badRequest("limit %q: want a positive number", l))
					return
				}
				o.Limit = n
			}
			list, err := jobs.List(r.Context(), o)
			if err != nil {
				writeErr(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"jobs": list})
		}},
		{"POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
			var req JobRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeErr(w, badRequest("job request: %v", err))
				return
			}
			if req.Schedule != "" {
				writeErr(w, badRequest("job request: schedule is set by the daemon's schedules only"))
				return
			}
			if req.Run != nil {
				// A maintenance window given by hand (remint deploy --maintenance-window):
				// no new disruptive step starts after its end.
				if err := checkHandRun(*req.Run, time.Now()); err != nil {
					writeErr(w, err)
					return
				}
			}
			if _, ok := auth.FromContext(r.Context()); ok || req.RequestedBy == "" {
				req.RequestedBy = caller(r) // a token's holder cannot claim to be someone else
			}
			j, err := jobs.Insert(r.Context(), req)
			reply(w, http.StatusCreated, j, err)
		}},
		{"GET /v1/jobs/{id}", withID(jobs.Get)},
		{"GET /v1/jobs/{id}/events", func(w http.ResponseWriter, r *http.Request) {
			id, err := jobID(r)
			if err != nil {
				writeErr(w, err)
				return
			}
			after := 0
			if s := r.URL.Query().Get("after"); s != "" {
				if after, err = strconv.Atoi(s); err != nil || after < 0 {
					writeErr(w, badRequest("after %q: want the number of events already read (0 or more)", s))
					return
				}
			}
			j, err := jobs.Get(r.Context(), id)
			if err != nil {
				writeErr(w, err)
				return
			}
			writeJSON(w, http.StatusOK, eventsAfter(j, after))
		}},
		{"POST /v1/jobs/{id}/cancel", withID(jobs.Cancel)},
		{"POST /v1/jobs/{id}/retry", withID(jobs.Retry)},
	}
}

func jobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("job id %q: want a positive number", r.PathValue("id"))
	}
	return id, nil
}

// JobEvents is a page of a job's event log: GET /v1/jobs/{id}/events?after=N.
type JobEvents struct {
	JobID  int64  `json:"job_id"`
	Status string `json:"status"`
	// Done says the job has ended: no further events come.
	Done   bool            `json:"done"`
	Events []NumberedEvent `json:"events"`
	// Next is the after= of the next call: the number of the last event (N when none is new).
	Next int `json:"next"`
}

// NumberedEvent is a job event with its number in the log, from 1.
type NumberedEvent struct {
	Seq int `json:"seq"`
	JobEvent
}

func eventsAfter(j Job, after int) JobEvents {
	out := JobEvents{JobID: j.ID, Status: j.Status, Done: finished(j.Status), Events: []NumberedEvent{}, Next: min(after, len(j.Events))}
	for i, e := range j.Events {
		if i+1 > after {
			out.Events = append(out.Events, NumberedEvent{Seq: i + 1, JobEvent: e})
			out.Next = i + 1
		}
	}
	return out
}

func finished(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusCancelled
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

// reply writes err, or v with status when err is nil.
func reply(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, status, v)
}

func writeErr(w http.ResponseWriter, err error) {
	var bad BadRequestError
	var fbad failover.BadRequestError
	var dup *DuplicateError
	var conflict *ConflictError
	var stale *failover.StaleStateError
	switch {
	case errors.As(err, &stale):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Code: CodeStaleState, Group: stale.Group, Missing: stale.Missing})
	case errors.As(err, &dup):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Job: &dup.Existing})
	case errors.As(err, &bad), errors.As(err, &fbad):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
	case errors.Is(err, ErrJobNotFound), errors.Is(err, ErrNotFound), errors.Is(err, catalog.ErrUnknownVersion):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
	case errors.As(err, &conflict), errors.Is(err, store.ErrLeaseHeld):
		// Another process changes the group, or the state does not allow the change.
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, apiError{Error: fmt.Sprintf("internal error: %v", err)})
	}
}
