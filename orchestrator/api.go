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
	// Job is the unfinished job that refused a duplicate.
	Job *Job `json:"job,omitempty"`
}

// APIHandler serves remint's own JSON API for jobs plus /healthz and /readyz. ready reports
// whether the daemon is ready (nil: always). routes add more endpoints to the same mux
// (ScheduleRoutes, …).
func APIHandler(jobs Jobs, ready func(ctx context.Context) error, routes ...func(mux *http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, add := range routes {
		add(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
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
	})
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
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
		if req.RequestedBy == "" {
			req.RequestedBy = "api"
		}
		j, err := jobs.Insert(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, j)
	})
	withID := func(f func(ctx context.Context, id int64) (Job, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
			if err != nil || id < 1 {
				writeErr(w, badRequest("job id %q: want a positive number", r.PathValue("id")))
				return
			}
			j, err := f(r.Context(), id)
			if err != nil {
				writeErr(w, err)
				return
			}
			writeJSON(w, http.StatusOK, j)
		}
	}
	mux.HandleFunc("GET /v1/jobs/{id}", withID(jobs.Get))
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", withID(jobs.Cancel))
	mux.HandleFunc("POST /v1/jobs/{id}/retry", withID(jobs.Retry))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeErr(w http.ResponseWriter, err error) {
	var bad BadRequestError
	var dup *DuplicateError
	switch {
	case errors.As(err, &dup):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Job: &dup.Existing})
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
	case errors.Is(err, ErrJobNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, apiError{Error: fmt.Sprintf("internal error: %v", err)})
	}
}
