package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/imagebuild"
)

// Job kinds on main today. In place (inplace/), image builds (imagebuild/), deploy and
// emergency register further handlers under their own kinds when they land.
const (
	KindRebuild        = "rebuild"         // failover.Rebuild of a group
	KindRetireKept     = "retire-kept"     // failover.RetireKept: old servers whose keep-old time is over
	KindImageRetention = "image-retention" // catalog.Retire of a family
	KindRollback       = "rollback"        // failover.RollbackGroup: addresses back to the kept servers
)

// GroupDeps wires the group use cases of package failover for one group, with sink
// receiving the rollout's events. The daemon's lease manager waits for a dead holder's
// lease to expire rather than failing at once.
type GroupDeps func(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error)

// RebuildOptions are a rebuild job's options (failover.RebuildRequest in JSON).
type RebuildOptions struct {
	Image          string `json:"image,omitempty"` // "", latest or YYYY.MM.N
	Strategy       string `json:"strategy,omitempty"`
	MaxSurge       *int   `json:"max_surge,omitempty"`
	MaxUnavailable *int   `json:"max_unavailable,omitempty"`
	Force          bool   `json:"force,omitempty"`
	// Slot replaces only this slot's server (set from a slot target group/<slot>).
	Slot *int `json:"slot,omitempty"`
}

// decodeStrict decodes a job's options, refusing unknown fields.
func decodeStrict(options json.RawMessage, v any) error {
	if len(options) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(options))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("options %s: %w", options, err)
	}
	return nil
}

// checkWholeGroup checks a job on a whole group (no group/<slot> target) without options.
func checkWholeGroup(target string, options json.RawMessage, groups func(string) bool) error {
	if !groups(target) {
		return fmt.Errorf("group %q is not in the manifest", target)
	}
	return decodeStrict(options, &struct{}{})
}

// rolloutEvents records a failover rollout's events on the job: its rollout id and each
// event (a failed one at level error).
func rolloutEvents(ctx context.Context, w *Work) func(failover.Event) {
	return func(e failover.Event) {
		if e.Rollout != "" {
			w.Rollout(ctx, e.Rollout)
		}
		level := "info"
		if e.Failed {
			level = "error"
		}
		w.Event(ctx, level, e.String())
	}
}

// RebuildHandler runs failover.Rebuild as a job. Re-running it after a crash finishes the
// rollout recorded in the store (Rebuild resumes an unfinished rollout first) and then
// finds every slot on the target: the servers are replaced once.
type RebuildHandler struct {
	Groups func(name string) bool
	Deps   GroupDeps
}

func (h RebuildHandler) Check(target string, options json.RawMessage) error {
	if err := checkTarget(target, h.Groups); err != nil {
		return err
	}
	var o RebuildOptions
	if err := decodeStrict(options, &o); err != nil {
		return err
	}
	if o.Image != "" && o.Image != "latest" {
		if _, err := catalog.ParseVersion(o.Image); err != nil {
			return fmt.Errorf("image %q: want latest or a version YYYY.MM.N", o.Image)
		}
	}
	if o.Strategy != "" && o.Strategy != failover.StrategyRolling && o.Strategy != failover.StrategyBlueGreen {
		return fmt.Errorf("strategy %q: want %s or %s", o.Strategy, failover.StrategyRolling, failover.StrategyBlueGreen)
	}
	return nil
}

func (h RebuildHandler) Run(ctx context.Context, w *Work) error {
	var o RebuildOptions
	if err := decodeStrict(w.Record.Options, &o); err != nil {
		return err
	}
	return h.rebuild(ctx, w, o)
}

// rebuild runs failover.Rebuild for the job and records its rollouts and counts.
func (h RebuildHandler) rebuild(ctx context.Context, w *Work, o RebuildOptions) error {
	if run := w.Run(); run != nil {
		if err := w.CheckStep(*run, "rebuild of "+w.Target); err != nil {
			if !w.Resuming {
				return err
			}
			// Refusing here would leave what the cut-short attempt had under way half
			// done (a replacement booted and unused, a slot down): Rebuild finishes those
			// steps and, past the window end, starts no new slot or rollout.
			w.Decide(ctx, windowClosedOnResume(*run, w.Now()))
		}
		// No new slot replacement starts once the run's window closed.
		ctx = WithWindowEnd(ctx, run.End)
	}
	group, slot := SplitTarget(w.Target)
	if slot >= 0 {
		o.Slot = &slot
	}
	record := rolloutEvents(ctx, w)
	deps, err := h.Deps(ctx, group, func(e failover.Event) {
		w.q.observe(func(o Observer) { o.RolloutEvent(e) })
		record(e)
	})
	if err != nil {
		return err
	}
	if end := WindowEnd(ctx); !end.IsZero() {
		deps.Deadline = end
	}
	w.Decide(ctx, fmt.Sprintf("rebuild %s: requested %s (image %s%s)", w.Target, requestedBy(w), orDefault(o.Image, "as the group says"), map[bool]string{true: ", forced", false: ""}[o.Force]))
	if w.Resuming {
		w.Decide(ctx, "an earlier attempt was cut short: finish its rollout from the recorded state first")
	}
	res, err := failover.Rebuild(ctx, deps, failover.RebuildRequest{Image: o.Image, Strategy: o.Strategy,
		MaxSurge: o.MaxSurge, MaxUnavailable: o.MaxUnavailable, Force: o.Force, Slot: o.Slot,
		Earlier: w.Rollouts()})
	if res.Retired > 0 {
		w.Event(ctx, "info", fmt.Sprintf("retired %d old servers whose keep-old time was over", res.Retired))
	}
	for _, r := range []*failover.Result{res.Resumed, res.Rollout} {
		if r == nil {
			continue
		}
		w.Rollout(ctx, r.Rollout)
		installed, failed := 0, 0
		for _, s := range r.Slots {
			switch s.State {
			case failover.StateDone, failover.StateKept:
				installed++
			case failover.StateFailed, failover.StateRolledBack:
				failed++
			}
		}
		w.Count(ctx, installed, failed)
	}
	if res.UpToDate {
		w.Decide(ctx, fmt.Sprintf("every slot of %s is on %s already: nothing to replace", w.Target, res.Target.Version))
	} else if res.Plan != nil {
		w.Decide(ctx, fmt.Sprintf("replace %d slots of %s with %s", len(res.Plan.Work()), w.Target, res.Target.Version))
	}
	return err
}

// RetireKeptHandler runs failover.RetireKept: old servers whose keep-old time is over.
type RetireKeptHandler struct {
	Groups func(name string) bool
	Deps   GroupDeps
}

func (h RetireKeptHandler) Check(target string, options json.RawMessage) error {
	return checkWholeGroup(target, options, h.Groups)
}

func (h RetireKeptHandler) Run(ctx context.Context, w *Work) error {
	deps, err := h.Deps(ctx, w.Target, func(e failover.Event) { w.Event(ctx, "info", e.String()) })
	if err != nil {
		return err
	}
	n, err := failover.RetireKept(ctx, deps)
	w.Count(ctx, n, 0)
	w.Decide(ctx, fmt.Sprintf("retired %d old servers of %s whose keep-old time was over", n, w.Target))
	return err
}

// ImageRetentionOptions are an image-retention job's options.
type ImageRetentionOptions struct {
	Keep int `json:"keep,omitempty"` // 0: the family's retention
}

// ImageRetentionHandler enforces a family's retention (catalog.Retire): versions beyond
// keep are retired, retired images no server uses are deleted.
type ImageRetentionHandler struct {
	// Families returns the family's retention, false for an unknown family.
	Families func(name string) (keep int, ok bool)
	// Retire runs catalog.Retire with the cloud's in-use images.
	Retire func(ctx context.Context, family string, keep int) ([]string, error)
}

func (h ImageRetentionHandler) Check(target string, options json.RawMessage) error {
	if _, ok := h.Families(target); !ok {
		return fmt.Errorf("image family %q is not in the manifest", target)
	}
	var o ImageRetentionOptions
	if err := decodeStrict(options, &o); err != nil {
		return err
	}
	if o.Keep < 0 {
		return fmt.Errorf("keep %d: want at least 1", o.Keep)
	}
	return nil
}

func (h ImageRetentionHandler) Run(ctx context.Context, w *Work) error {
	var o ImageRetentionOptions
	if err := decodeStrict(w.Record.Options, &o); err != nil {
		return err
	}
	keep, _ := h.Families(w.Target)
	if o.Keep > 0 {
		keep = o.Keep
	}
	notes, err := h.Retire(ctx, w.Target, keep)
	for _, n := range notes {
		w.Event(ctx, "info", n)
	}
	w.Count(ctx, len(notes), 0)
	w.Decide(ctx, fmt.Sprintf("retention of %s: keep %d versions; %d changes (%s)", w.Target, keep, len(notes), strings.Join(notes, "; ")))
	return err
}

// KindBuildImage builds a family's image (imagebuild.Build): the schedules' build-image
// action. A build cut short runs again from the start; the new build removes the
// leftovers of the old one (imagebuild's remove-leftovers step).
const KindBuildImage = "build-image"

// BuildImageOptions are a build-image job's options: `remint image build` flags.
type BuildImageOptions struct {
	OnlyIfChanged bool `json:"only_if_changed,omitempty"`
	// KeepBuilderOnFailure and KeepFailed leave a failed build's builder server (and
	// keypair) or failed candidate image for debugging.
	KeepBuilderOnFailure bool `json:"keep_builder_on_failure,omitempty"`
	KeepFailed           bool `json:"keep_failed,omitempty"`
	// SSHTimeoutSeconds is how long to wait for a server's SSH (0: the pipeline's default).
	SSHTimeoutSeconds int `json:"ssh_timeout_seconds,omitempty"`
}

// BuildImageHandler runs the image pipeline as a job.
type BuildImageHandler struct {
	Families func(name string) bool
	// Build runs imagebuild.Build for the family, holding its lease; step reports each
	// step's progress.
	Build func(ctx context.Context, family string, o BuildImageOptions, step func(imagebuild.Event)) (imagebuild.Result, error)
}

func (h BuildImageHandler) Check(target string, options json.RawMessage) error {
	if !h.Families(target) {
		return fmt.Errorf("image family %q is not in the manifest", target)
	}
	var o BuildImageOptions
	if err := decodeStrict(options, &o); err != nil {
		return err
	}
	if o.SSHTimeoutSeconds < 0 {
		return fmt.Errorf("ssh_timeout_seconds %d: want a positive number (0: the default)", o.SSHTimeoutSeconds)
	}
	return nil
}

func (h BuildImageHandler) Run(ctx context.Context, w *Work) error {
	var o BuildImageOptions
	if err := decodeStrict(w.Record.Options, &o); err != nil {
		return err
	}
	if run := w.Run(); run != nil {
		if err := w.CheckStep(*run, "image build of "+w.Target); err != nil {
			return err
		}
	}
	w.Decide(ctx, fmt.Sprintf("build an image of %s (only if changed: %t)", w.Target, o.OnlyIfChanged))
	res, err := h.Build(ctx, w.Target, o, func(e imagebuild.Event) {
		level := "info"
		if e.Status == "failed" {
			level = "error"
		}
		msg := fmt.Sprintf("build step %s: %s", e.Step, e.Status)
		if e.Message != "" {
			msg += ": " + e.Message
		}
		w.Event(ctx, level, msg)
	})
	switch res.Status {
	case "active":
		w.Count(ctx, 1, 0)
		w.Decide(ctx, fmt.Sprintf("published %s %s (image %s, build %s, %d package changes)", w.Target, res.Version, res.ImageID, res.BuildID, len(res.Changes)))
	case "skipped":
		w.Decide(ctx, fmt.Sprintf("no build: %s", res.SkipReason))
	case "failed":
		w.Count(ctx, 0, 1)
		if err != nil {
			return fmt.Errorf("build %s failed at step %s: %w", res.BuildID, res.FailedStep, err)
		}
	}
	return err
}

// RollbackHandler runs failover.RollbackGroup as a job: the group's addresses go back to
// the servers its last rebuild kept.
type RollbackHandler struct {
	Groups func(name string) bool
	Deps   GroupDeps
}

func (h RollbackHandler) Check(target string, options json.RawMessage) error {
	return checkWholeGroup(target, options, h.Groups)
}

func (h RollbackHandler) Run(ctx context.Context, w *Work) error {
	deps, err := h.Deps(ctx, w.Target, rolloutEvents(ctx, w))
	if err != nil {
		return err
	}
	w.Decide(ctx, fmt.Sprintf("roll back %s: requested by %s", w.Target, orDefault(w.Record.RequestedBy, "hand")))
	res, err := failover.RollbackGroup(ctx, deps)
	if res.Rollout != "" {
		w.Rollout(ctx, res.Rollout)
		back, failed := 0, 0
		for _, s := range res.Slots {
			switch s.State {
			case failover.StateRolledBack:
				back++
			case failover.StateFailed:
				failed++
			}
		}
		w.Count(ctx, back, failed)
		w.Decide(ctx, fmt.Sprintf("rollout %s: %d slots rolled back, %d failed (%s)", res.Rollout, back, failed, orDefault(res.Status, "stopped")))
	}
	return err
}
