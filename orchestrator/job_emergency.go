package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// KindEmergency is the emergency security rollout as a job (remint emergency --security):
// its target is "all" or a comma-separated list of groups.
const KindEmergency = "emergency"

// EmergencyTargetAll is the target of an emergency over every group of the manifest.
const EmergencyTargetAll = "all"

// EmergencyJobOptions are an emergency job's options.
type EmergencyJobOptions struct {
	Reason      string `json:"reason,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
}

// EmergencyHandler runs an emergency as a job: it records the plan's decisions, each
// build and target as events, the rollouts, and counts (installed: images built, servers
// replaced or created, security updates installed in place; failed: failed builds,
// servers and updates). A job cut short runs again: an image its earlier attempt
// published is found by the job named in its recorded build reason and reported as that
// attempt's build (neither checked nor built again), an unfinished rollout is finished
// first, an unfinished in-place run is continued.
type EmergencyHandler struct {
	// Groups lists the manifest's groups, in order.
	Groups func() []string
	Facts  func(ctx context.Context, group string) (EmergencyFacts, error)
	// Deps wires the use cases for one run; resume continues unfinished in-place runs.
	Deps func(ctx context.Context, resume bool) (EmergencyDeps, error)
}

// EmergencyTargets resolves an emergency's targets against the manifest's groups: "all"
// (or all) is every group; otherwise the named groups, each once, each in the manifest.
func EmergencyTargets(groups []string, named []string, all bool) ([]string, error) {
	switch {
	case all && len(named) > 0:
		return nil, fmt.Errorf("name targets or --all, not both (targets: %s)", strings.Join(named, ", "))
	case all:
		if len(groups) == 0 {
			return nil, errors.New("--all: the manifest has no groups")
		}
		return slices.Clone(groups), nil
	case len(named) == 0:
		return nil, errors.New("name the target groups or pass --all")
	}
	seen := map[string]bool{}
	for _, t := range named {
		if seen[t] {
			return nil, fmt.Errorf("target %s given twice", t)
		}
		seen[t] = true
		if !slices.Contains(groups, t) {
			return nil, fmt.Errorf("group %q is not in the manifest (groups: %s)", t, strings.Join(groups, ", "))
		}
	}
	return named, nil
}

func (h EmergencyHandler) targets(target string) ([]string, error) {
	if target == EmergencyTargetAll {
		return EmergencyTargets(h.Groups(), nil, true)
	}
	var named []string
	for _, t := range strings.Split(target, ",") {
		if t = strings.TrimSpace(t); t != "" {
			named = append(named, t)
		}
	}
	return EmergencyTargets(h.Groups(), named, false)
}

func (h EmergencyHandler) Check(target string, options json.RawMessage) error {
	if _, err := h.targets(target); err != nil {
		return fmt.Errorf("target %q: %w (want %q or groups separated by commas)", target, err, EmergencyTargetAll)
	}
	var o EmergencyJobOptions
	if err := decodeStrict(options, &o); err != nil {
		return err
	}
	if strings.ContainsAny(o.Reason, "\n\r") || len(o.Reason) > 500 {
		return errors.New("reason: one line of at most 500 characters")
	}
	if o.Concurrency < 0 {
		return fmt.Errorf("concurrency %d: want at least 1 (0: the default, %d)", o.Concurrency, DefaultEmergencyConcurrency)
	}
	return nil
}

func (h EmergencyHandler) Run(ctx context.Context, w *Work) error {
	var o EmergencyJobOptions
	if err := decodeStrict(w.Record.Options, &o); err != nil {
		return err
	}
	targets, err := h.targets(w.Target)
	if err != nil {
		return err
	}
	if run := w.Run(); run != nil {
		if err := w.CheckStep(*run, "emergency security rollout of "+w.Target); err != nil {
			if !w.Resuming {
				return err
			}
			// What the cut-short attempt had under way (a slot being replaced, a server
			// being upgraded or rebooted) is finished; no image is built and nothing new
			// starts (RunEmergency and the use cases read the window end).
			w.Decide(ctx, windowClosedOnResume(*run, w.Now()))
		}
		// No new slot, server or image build starts once the run's window closed.
		ctx = WithWindowEnd(ctx, run.End)
	}
	w.Decide(ctx, fmt.Sprintf("emergency security rollout of %s requested %s; reason: %s", strings.Join(targets, ", "), requestedBy(w), orDefault(o.Reason, "none given")))
	if w.Resuming {
		w.Decide(ctx, "an earlier attempt was cut short: an image it published is reported as its build (not built again), unfinished rollouts and in-place runs are finished first")
	}
	facts := make([]EmergencyFacts, 0, len(targets))
	for _, t := range targets {
		f, err := h.Facts(ctx, t)
		if err != nil {
			return fmt.Errorf("gather the facts of %s: %w", t, err)
		}
		facts = append(facts, f)
	}
	plan, err := PlanEmergency(w.Now(), o.Reason, facts)
	if err != nil {
		return err
	}
	for _, f := range plan.Families {
		w.Decide(ctx, fmt.Sprintf("image %s (active %s): build out of cycle if it has pending security updates, then rebuild %s", f.Family, orDefault(f.Active, "none"), strings.Join(f.Groups, ", ")))
	}
	for _, n := range plan.Notes {
		w.Event(ctx, "info", "note: "+n)
	}
	for _, d := range plan.Targets {
		w.Decide(ctx, fmt.Sprintf("%s: %s", d.Target, d.Reason))
	}
	deps, err := h.Deps(ctx, w.Resuming)
	if err != nil {
		return err
	}
	deps.Progress = func(level, msg string) { w.Event(ctx, level, msg) }
	deps.Now = w.Now
	deps.Job = fmt.Sprintf("emergency job %d queued %s", w.ID, w.Record.Created.UTC().Format(time.RFC3339))
	rep, runErr := RunEmergency(ctx, deps, plan, o.Concurrency)
	installed, failed := 0, 0
	for _, f := range rep.Families {
		switch f.Build {
		case BuildBuilt:
			installed++
			if f.Earlier {
				w.Decide(ctx, fmt.Sprintf("image %s: built %s out of cycle by an earlier attempt of this job, cut short after publishing it (image %s, build %s); not built again",
					f.Family, f.Version, f.ImageID, f.BuildID))
				continue
			}
			w.Decide(ctx, fmt.Sprintf("image %s: built %s out of cycle (was %s)", f.Family, f.Version, orDefault(f.Previous, "none")))
		case BuildSkipped:
			w.Decide(ctx, fmt.Sprintf("image %s: nothing changed, no build: %s", f.Family, f.Reason))
		case BuildNotStarted:
			w.Decide(ctx, fmt.Sprintf("image %s: %s", f.Family, f.Reason))
		case BuildFailed:
			failed++
		}
	}
	for _, t := range rep.Targets {
		for _, r := range t.Rollouts {
			w.Rollout(ctx, r)
		}
		installed += t.Replaced + t.Created + t.UpdatesInstalled
		failed += t.FailedServers + t.UpdatesFailed
		w.Decide(ctx, fmt.Sprintf("%s: %s: %s", t.Target, t.Result, t.Detail))
	}
	w.Count(ctx, installed, failed)
	if len(rep.Packages) == 0 {
		w.Decide(ctx, fmt.Sprintf("no security package changed on the %s rebuilt or patched", plural(rep.Servers, "server", "servers")))
	}
	for _, p := range rep.Packages {
		w.Decide(ctx, "security package now installed: "+p.String())
	}
	return runErr
}
