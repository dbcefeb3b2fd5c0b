package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/remint-dev/remint/orchestrator"
)

// runDeployServer queues the deploy through a daemon: one job per target (update: the
// policy decides; rebuild or inplace when forced), with the maintenance window as the
// jobs' run, then follows their events until every job ended. Exit status as the local
// deploy: 0 all succeeded, 1 something failed, 2 bad input (nothing queued).
func runDeployServer(ctx context.Context, stdout io.Writer, targets []string, o deployOptions, force orchestrator.Force) error {
	c, err := o.client.client()
	if err != nil {
		return err
	}
	if o.dryRun {
		return localOnlyf("--dry-run and --server: the policy decides locally, run it without --server")
	}
	kind := orchestrator.KindUpdate
	var opts []byte
	switch force {
	case orchestrator.ForceRebuild:
		if o.opts.Any() {
			return usageErrorf("--rebuild replaces servers with the new image: in-place options (%s) do not apply", o.opts)
		}
		kind, opts = orchestrator.KindRebuild, []byte("{}")
	case orchestrator.ForceInPlace:
		if !o.opts.Any() {
			return usageErrorf("--in-place needs something to do: --apply-security-upgrades, --apply-docker-upgrades or --apply-weave-upgrades")
		}
		kind = orchestrator.KindInPlace
	}
	if opts == nil {
		// --in-place forces it: the inplace job then patches a group the policy would rebuild.
		if opts, err = json.Marshal(orchestrator.InPlaceOptions{Options: o.opts, Force: kind == orchestrator.KindInPlace}); err != nil {
			return err
		}
	}
	var run *orchestrator.Run
	if o.window > 0 {
		now := time.Now().UTC()
		run = &orchestrator.Run{Start: now, End: now.Add(time.Duration(o.window) * time.Hour)}
	}
	var jobs []orchestrator.Job
	var queueErrs []error
	for _, t := range targets {
		j, err := c.Insert(ctx, orchestrator.JobRequest{Kind: kind, Target: t, Options: opts, Run: run, RequestedBy: "cli (deploy)"})
		var bad orchestrator.BadRequestError
		var dup *orchestrator.DuplicateError
		switch {
		case errors.As(err, &bad):
			if len(jobs) == 0 {
				return usageError{fmt.Errorf("target %s: %w", t, err)}
			}
			queueErrs = append(queueErrs, fmt.Errorf("target %s: %w", t, err))
		case errors.As(err, &dup):
			queueErrs = append(queueErrs, fmt.Errorf("target %s: busy with job %d (%s, %s): not queued", t, dup.Existing.ID, dup.Existing.Kind, dup.Existing.Status))
		case err != nil:
			return err
		default:
			jobs = append(jobs, j)
			if o.output == "text" {
				window := ""
				if run != nil {
					window = fmt.Sprintf(", window until %s", run.End.Format(time.RFC3339))
				}
				fmt.Fprintf(stdout, "queued job %d: %s %s on %s%s\n", j.ID, j.Kind, j.Target, c.Base, window)
			}
		}
	}
	for _, e := range queueErrs {
		if o.output == "text" {
			fmt.Fprintf(stdout, "not queued: %v\n", e)
		}
	}
	final, err := followJobs(ctx, c, jobs, o.output == "text", stdout)
	if err != nil {
		return err
	}
	failed := len(queueErrs)
	for _, j := range final {
		if j.Status != orchestrator.StatusSucceeded {
			failed++
		}
	}
	if o.output == "json" {
		doc := map[string]any{"jobs": final}
		if len(queueErrs) > 0 {
			var msgs []string
			for _, e := range queueErrs {
				msgs = append(msgs, e.Error())
			}
			doc["not_queued"] = msgs
		}
		if err := writeJSONOut(stdout, doc); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, "results:")
		for _, j := range final {
			line := fmt.Sprintf("  %s: %s %s (job %d), %d updates installed, %d failed", j.Target, j.Kind, j.Status, j.ID, j.Installed, j.Failed)
			if j.Reason != "" && j.Status != orchestrator.StatusSucceeded {
				line += ": " + j.Reason
			}
			fmt.Fprintln(stdout, line)
		}
	}
	if failed > 0 {
		return fmt.Errorf("deploy through %s: %d of %d targets did not succeed", c.Base, failed, len(targets))
	}
	return nil
}

// followJobs polls the jobs until each has ended, printing new events as they come.
func followJobs(ctx context.Context, c *orchestrator.Client, jobs []orchestrator.Job, print bool, w io.Writer) ([]orchestrator.Job, error) {
	seen := map[int64]int{}
	final := make([]orchestrator.Job, len(jobs))
	done := make([]bool, len(jobs))
	left := len(jobs)
	for left > 0 {
		for i, j := range jobs {
			if done[i] {
				continue
			}
			cur, err := c.Get(ctx, j.ID)
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("stopped following: the jobs go on in the daemon (remint job show ID --server %s): %w", c.Base, ctx.Err())
				}
				return nil, err
			}
			for _, e := range cur.Events[min(seen[j.ID], len(cur.Events)):] {
				if print {
					fmt.Fprintf(w, "%s job %d %s: %s\n", e.Time.UTC().Format("15:04:05"), cur.ID, cur.Target, e.Message)
				}
			}
			seen[j.ID] = len(cur.Events)
			switch cur.Status {
			case orchestrator.StatusSucceeded, orchestrator.StatusFailed, orchestrator.StatusCancelled:
				final[i], done[i] = cur, true
				left--
			}
		}
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped following: the jobs go on in the daemon (remint job list --server %s): %w", c.Base, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	return final, nil
}
