package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/remint-dev/remint/orchestrator"
)

// serverFlag adds --server, --token and --ca-cert: act through the daemon's API instead
// of the local state file and cloud ($REMINT_SERVER sets the default, as for remint job).
func serverFlag(cmd *cobra.Command, c *clientOptions) {
	c.flags(cmd, "act through the daemon at this URL ($REMINT_SERVER) instead of the local state file and cloud")
}

// serverError: bad requests and unknown groups, families and versions exit 2.
func serverError(err error) error {
	if errors.Is(err, orchestrator.ErrNotFound) {
		return usageError{err}
	}
	return jobError(err)
}

// followJob prints a queued job's events as the daemon records them until the job ends
// (polling GET /v1/jobs/{id}/events), then the job. It returns nil only when the job
// succeeded. Interrupting it leaves the job running on the daemon.
func followJob(ctx context.Context, c *orchestrator.Client, j orchestrator.Job, stdout io.Writer, output string) error {
	if output == "text" {
		fmt.Fprintf(stdout, "job %d: %s %s queued on %s (remint job show %d --server %s)\n", j.ID, j.Kind, j.Target, c.Base, j.ID, c.Base)
	}
	after := 0
	for {
		page, err := c.Events(ctx, j.ID, after)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped following job %d; it goes on in the daemon (remint job show %d --server %s): %w", j.ID, j.ID, c.Base, ctx.Err())
			}
			return serverError(err)
		}
		for _, e := range page.Events {
			if output == "json" {
				if err := writeJSONLine(stdout, map[string]any{"type": "event", "job_id": j.ID, "seq": e.Seq, "time": e.Time,
					"attempt": e.Attempt, "level": e.Level, "message": e.Message}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(stdout, "%s %-5s %s\n", e.Time.UTC().Format("15:04:05"), e.Level, e.Message)
		}
		after = page.Next
		if page.Done {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following job %d; it goes on in the daemon (remint job show %d --server %s): %w", j.ID, j.ID, c.Base, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	done, err := c.Get(ctx, j.ID)
	if err != nil {
		return serverError(err)
	}
	if output == "json" {
		if err := writeJSONLine(stdout, map[string]any{"type": "summary", "job": done}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "job %d: %s %s %s (installed %d, failed %d)\n", done.ID, done.Kind, done.Target, done.Status, done.Installed, done.Failed)
	}
	if done.Status != orchestrator.StatusSucceeded {
		return fmt.Errorf("job %d (%s %s) %s: %s", done.ID, done.Kind, done.Target, done.Status, orDash(done.Reason))
	}
	return nil
}

// writeJSONLine writes v as one line of JSON (NDJSON output).
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
