package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"riverqueue.com/riverui"
)

// RiverUI returns River's own job UI (riverqueue.com/riverui) on the queue's database,
// served under prefix (e.g. /riverui) and started on ctx. riverui v0.22 speaks both of
// the store's databases: SQLite (its riveruisqlite driver) and PostgreSQL.
//
// It shows River's rows (state, attempts, errors, queues), not remint's job records
// (options, decisions, events). It is read-only: the UI's own writes (cancel, retry,
// delete a job, pause a queue) are refused with 405, because they would bypass remint's
// job records and log ("who asked"); `remint job` and /v1/jobs are the way to act on jobs.
func (q *Queue) RiverUI(ctx context.Context, prefix string, log *slog.Logger) (http.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints:                riverui.NewEndpoints(q.client, nil),
		JobListHideArgsByDefault: false,
		Logger:                   log,
		Prefix:                   prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("start river UI: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: fmt.Sprintf("River's UI is read-only here: %s %s would bypass remint's job log; "+
				"use remint job cancel|retry or POST /v1/jobs/{id}/cancel|retry", r.Method, r.URL.Path)})
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}
