package inplace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// InputError is a request that cannot be served as asked: fix the request (the CLI exits 2).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, a ...any) error { return &InputError{fmt.Errorf(format, a...)} }

// Fleet finds the servers a run patches; the CLI implements it with the state's slots and
// the cloud.
type Fleet interface {
	// GroupServers lists the group's servers and each one's cloud status, by id.
	GroupServers(ctx context.Context, group string) ([]Server, map[string]string, error)
	// ServersByID reads the servers with these ids, in order.
	ServersByID(ctx context.Context, ids []string) ([]Server, error)
}

// Request is what an operator (or a schedule) asks for.
type Request struct {
	Group string
	// Names restricts the run to these servers (names or ids), in this order.
	Names   []string
	Options Options
	// Resume continues the group's unfinished run with its recorded options.
	Resume bool
	// NewID names a new run.
	NewID func() string
}

// Prepare turns a request into a plan, reading the recorded runs: a new run refuses to
// start while the group's last run is unfinished (its process died: it says which servers
// reached which phase and how to resume); a resume takes the unfinished run's servers and
// options and passes over the servers that succeeded.
func Prepare(ctx context.Context, runs RunReader, fleet Fleet, req Request) (Plan, error) {
	plan := Plan{Group: req.Group, Options: req.Options}
	last, err := runs.LatestInplaceRun(ctx, req.Group)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return plan, err
	}
	unfinished := err == nil && last.Status == store.InplaceRunning
	switch {
	case req.Resume && !unfinished:
		return plan, inputErrorf("--resume: group %s has no unfinished in-place run", req.Group)
	case req.Resume:
		plan.Options = Options{}
		if err := json.Unmarshal(last.Options, &plan.Options); err != nil {
			return plan, fmt.Errorf("read the options of in-place run %s: %w", last.ID, err)
		}
		plan.Options.DryRun = false
		plan.ID, plan.Resume, plan.Done = last.ID, true, map[string]ServerResult{}
		rows, err := runs.InplaceServers(ctx, last.ID)
		if err != nil {
			return plan, err
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			plan.Done[r.ServerID] = DecodeServerResult(r)
			ids[i] = r.ServerID
		}
		plan.Servers, err = fleet.ServersByID(ctx, ids)
		return plan, err
	case unfinished && !req.Options.DryRun:
		rows, err := runs.InplaceServers(ctx, last.ID)
		if err != nil {
			return plan, err
		}
		states := make([]string, len(rows))
		for i, r := range rows {
			phase := r.Phase
			if phase == "" {
				phase = "-"
			}
			states[i] = fmt.Sprintf("%s %s (phase %s)", r.ServerName, r.Status, phase)
		}
		return plan, fmt.Errorf("in-place run %s of group %s started %s did not finish (its process was killed or lost): %s; `remint inplace %s --resume` continues it",
			last.ID, req.Group, last.Created.Format(time.RFC3339), strings.Join(states, ", "), req.Group)
	}
	plan.ID = req.NewID()
	all, status, err := fleet.GroupServers(ctx, req.Group)
	if err != nil {
		return plan, err
	}
	var unknown []string
	plan.Servers, unknown = Select(all, req.Names)
	if len(unknown) > 0 {
		names := make([]string, len(all))
		for i, s := range all {
			names[i] = s.Name
		}
		return plan, inputErrorf("--servers: %s not among group %s's servers (%s)", strings.Join(unknown, ", "), req.Group, strings.Join(names, ", "))
	}
	if len(plan.Servers) == 0 {
		return plan, fmt.Errorf("group %s has no servers (adopt existing ones with `remint group adopt %s`)", req.Group, req.Group)
	}
	var notActive []string
	for _, s := range plan.Servers {
		if st := status[s.ID]; st != "ACTIVE" {
			notActive = append(notActive, fmt.Sprintf("%s is %s", s.Name, st))
		}
	}
	if len(notActive) > 0 {
		return plan, fmt.Errorf("only ACTIVE servers are patched: %s (wait for them, or leave them out with --servers)", strings.Join(notActive, ", "))
	}
	if plan.Options.Weave && plan.Options.WeaveSpec != nil {
		// Weave's peers are the run's servers (each one launches with the others).
		spec := *plan.Options.WeaveSpec
		spec.Peers = nil
		for _, s := range plan.Servers {
			spec.Peers = append(spec.Peers, s.Addr)
		}
		plan.Options.WeaveSpec = &spec
	}
	return plan, nil
}
