package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/store"
)

// DeployRequest is "deploy with options": the targets (groups), an optional force, the
// in-place switches, and whether to stop after the decisions.
type DeployRequest struct {
	Targets []string
	Force   Force
	Options Options
	DryRun  bool
}

// DeployDeps are what a deploy works with.
type DeployDeps struct {
	Facts FactsReader
	// Rebuild runs failover.Rebuild of a group onto the image the facts named (its pin, else
	// the family's latest).
	Rebuild func(ctx context.Context, group string) (failover.RebuildResult, error)
	// InPlace runs the in-place use case on a group with the options.
	InPlace func(ctx context.Context, group string, o InPlaceOptions) (inplace.Summary, error)
	Now     func() time.Time
}

// Deploy results per target.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultSkipped   = "skipped"
	ResultPlanned   = "planned" // --dry-run
)

// TargetReport is what a deploy did to one target.
type TargetReport struct {
	Target           string        `json:"target"`
	Decision         Action        `json:"decision"`
	Reason           string        `json:"reason"`
	Result           string        `json:"result"`
	UpdatesInstalled int           `json:"updates_installed"`
	UpdatesFailed    int           `json:"updates_failed"`
	Reboots          int           `json:"reboots"`
	Downtime         time.Duration `json:"downtime_ns"`
	Rollouts         []string      `json:"rollouts,omitempty"` // rollout ids (rebuild)
	InPlaceRun       string        `json:"inplace_run,omitempty"`
	Replaced         int           `json:"servers_replaced,omitempty"`
	Created          int           `json:"servers_created,omitempty"`
	Error            string        `json:"error,omitempty"`
}

// DeployReport is one deploy: the decisions and what became of each target.
type DeployReport struct {
	DryRun    bool           `json:"dry_run"`
	Status    string         `json:"status"` // succeeded, failed, planned
	Decisions Decisions      `json:"decisions"`
	Targets   []TargetReport `json:"targets"`
}

// DecideError is a deploy request the policy refuses (bad input: nothing ran).
type DecideError struct{ Err error }

func (e *DecideError) Error() string { return e.Err.Error() }
func (e *DecideError) Unwrap() error { return e.Err }

// ErrDeployFailed is returned (wrapped) when a target's rebuild or in-place run failed.
var ErrDeployFailed = errors.New("deploy failed")

// Deploy decides every target first (a refused request changes nothing), then, unless
// DryRun, runs each decision in turn (Execute): a rebuild through failover, an in-place run
// through inplace. Every target runs even when an earlier one failed; the error says
// which failed.
func Deploy(ctx context.Context, d DeployDeps, req DeployRequest) (DeployReport, error) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	rep := DeployReport{DryRun: req.DryRun}
	if req.Force == ForceInPlace && req.Options.Any() {
		if err := (InPlaceOptions{Options: req.Options}).check(); err != nil {
			return rep, &DecideError{fmt.Errorf("--in-place: %w", err)}
		}
	}
	at := now()
	for _, t := range req.Targets {
		f, err := d.Facts(ctx, t)
		if err != nil {
			return rep, fmt.Errorf("gather the facts of %s: %w", t, err)
		}
		dec, err := Decide(at, f, Request{Force: req.Force, Options: req.Options})
		if err != nil {
			return rep, &DecideError{err}
		}
		if dec.Action == ActionInPlace {
			if err := (InPlaceOptions{Options: req.Options}).check(); err != nil {
				return rep, &DecideError{fmt.Errorf("target %s: %w", t, err)}
			}
		}
		rep.Decisions = append(rep.Decisions, dec)
		rep.Targets = append(rep.Targets, TargetReport{Target: t, Decision: dec.Action, Reason: dec.Reason, Result: ResultPlanned})
	}
	rep.Status = ResultPlanned
	if req.DryRun {
		return rep, nil
	}
	return Execute(ctx, d, rep, req.Options)
}

// Execute runs a deploy's decisions (PlanDeploy's, or Deploy's) in turn.
func Execute(ctx context.Context, d DeployDeps, rep DeployReport, opts Options) (DeployReport, error) {
	rep.DryRun = false
	var failed []string
	for i, dec := range rep.Decisions {
		tr := &rep.Targets[i]
		switch dec.Action {
		case ActionSkip:
			tr.Result = ResultSkipped
			continue
		case ActionRebuild:
			res, err := d.Rebuild(ctx, dec.Target)
			for _, r := range []*failover.Result{res.Resumed, res.Rollout} {
				if r == nil {
					continue
				}
				tr.Rollouts = append(tr.Rollouts, r.Rollout)
				for _, s := range r.Slots {
					if s.State != failover.StateDone && s.State != failover.StateKept {
						continue
					}
					if s.OldServerID == "" {
						tr.Created++ // a first deploy of the slot: nothing was replaced
					} else {
						tr.Replaced++
					}
				}
			}
			tr.Result = ResultSucceeded
			if err != nil {
				tr.Result, tr.Error = ResultFailed, err.Error()
			}
		case ActionInPlace:
			sum, err := d.InPlace(ctx, dec.Target, InPlaceOptions{Options: opts})
			tr.InPlaceRun = sum.Run
			tr.UpdatesInstalled, tr.UpdatesFailed = UpdateCounts(sum)
			tr.Reboots, tr.Downtime = Downtime(sum)
			tr.Result = ResultSucceeded
			if err != nil || sum.Status == store.InplaceFailed {
				tr.Result = ResultFailed
				if err != nil {
					tr.Error = err.Error()
				}
			}
		}
		if tr.Result == ResultFailed {
			failed = append(failed, fmt.Sprintf("%s (%s)", tr.Target, tr.Error))
		}
	}
	rep.Status = ResultSucceeded
	if len(failed) > 0 {
		rep.Status = ResultFailed
		return rep, fmt.Errorf("%w: %d of %d targets failed: %v", ErrDeployFailed, len(failed), len(rep.Targets), failed)
	}
	return rep, nil
}
