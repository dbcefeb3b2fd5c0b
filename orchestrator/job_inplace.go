package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/remint-dev/remint/inplace"
)

// Job kinds of in-place upgrades and of the policy's choice.
const (
	KindInPlace = "inplace" // inplace.Run on a group's servers: the options say what
	KindUpdate  = "update"  // Decide, then a rebuild or an in-place run
)

// InPlaceOptions are an in-place (or update) job's options: the "deploy with options"
// switches, and optionally a reboot policy that overrides reboot_if_required.
type InPlaceOptions struct {
	Options
	// Reboot is never, if-required or always; "" follows reboot_if_required
	// (if-required when set, never otherwise).
	Reboot string `json:"reboot,omitempty"`
	// Slot restricts the run to the server of this slot; a job on a slot target
	// (group/<slot>) sets it.
	Slot *int `json:"slot,omitempty"`
	// Force patches in place a group the policy (rebuild first) would rebuild, as
	// `remint inplace --force` and `deploy --in-place` do; inplace jobs only.
	Force bool `json:"force,omitempty"`
}

// RebootPolicy is the inplace reboot policy the options ask for.
func (o InPlaceOptions) RebootPolicy() string {
	switch {
	case o.Reboot != "":
		return o.Reboot
	case o.RebootIfRequired:
		return inplace.RebootIfRequired
	}
	return inplace.RebootNever
}

// check refuses options an in-place run cannot carry out.
func (o InPlaceOptions) check() error {
	if o.Reboot != "" {
		if _, err := inplace.ParseReboot(o.Reboot); err != nil {
			return err
		}
	}
	if !o.ApplySecurityUpgrades && !o.ApplyDockerUpgrades && !o.ApplyWeaveUpgrades && o.Reboot != inplace.RebootAlways {
		return errors.New("nothing to do in place: ask for apply_security_upgrades, apply_docker_upgrades, apply_weave_upgrades or reboot always (reboot_if_required alone installs nothing)")
	}
	return nil
}

// InPlaceRunner runs the in-place use case (inplace.Prepare and inplace.Run) on a group
// with the options, holding the group's lease; resume continues the group's unfinished
// run first. progress is told each server's result as it changes.
type InPlaceRunner func(ctx context.Context, group string, o InPlaceOptions, resume bool, progress func(inplace.ServerResult)) (inplace.Summary, error)

// InPlaceHandler runs an in-place upgrade as a job, recording the updates installed and
// failed. A job cut short resumes the group's recorded run: servers that succeeded are
// not patched again.
type InPlaceHandler struct {
	Groups func(name string) bool
	Patch  InPlaceRunner
	// Facts, when set, lets the policy refuse a group it would rebuild (unless forced),
	// as the local `remint inplace` does.
	Facts FactsReader
}

func (h InPlaceHandler) Check(target string, options json.RawMessage) error {
	if err := checkTarget(target, h.Groups); err != nil {
		return err
	}
	var o InPlaceOptions
	if err := decodeStrict(options, &o); err != nil {
		return err
	}
	return o.check()
}

func (h InPlaceHandler) Run(ctx context.Context, w *Work) error {
	var o InPlaceOptions
	if err := decodeStrict(w.Record.Options, &o); err != nil {
		return err
	}
	w.Decide(ctx, fmt.Sprintf("in-place %s: requested %s (%s, reboot %s)", w.Target, requestedBy(w), o.Options, o.RebootPolicy()))
	if h.Facts != nil {
		group, _ := SplitTarget(w.Target)
		f, err := h.Facts(ctx, group)
		if err != nil {
			return fmt.Errorf("gather the facts of %s: %w", group, err)
		}
		d, err := Decide(w.Now(), f, Request{Options: o.Options})
		if err != nil {
			return err
		}
		if d.Action == ActionRebuild {
			if !o.Force {
				return fmt.Errorf("in place on %s refused: the policy (rebuild first) says %q; queue an update or rebuild job instead, or set force to patch in place anyway", w.Target, d.Reason)
			}
			w.Decide(ctx, fmt.Sprintf("in place although the policy would rebuild (forced): %s", d.Reason))
		}
	}
	_, err := h.runInPlace(ctx, w, o)
	return err
}

// runInPlace runs the in-place use case for the job and records its counts.
func (h InPlaceHandler) runInPlace(ctx context.Context, w *Work, o InPlaceOptions) (inplace.Summary, error) {
	if err := o.check(); err != nil {
		return inplace.Summary{}, err
	}
	if run := w.Run(); run != nil {
		if err := w.CheckStep(*run, "in-place upgrade of "+w.Target); err != nil {
			if !w.Resuming {
				return inplace.Summary{}, err
			}
			// The cut-short attempt's servers under way are finished (inplace.Run, with the
			// window end as its deadline, starts no other): refusing here would leave an
			// upgrade or a reboot half done.
			w.Decide(ctx, windowClosedOnResume(*run, w.Now()))
		}
		// No next server starts once the run's window closed (inplace.Deps.Deadline).
		ctx = WithWindowEnd(ctx, run.End)
	}
	if w.Resuming {
		w.Decide(ctx, "an earlier attempt was cut short: continue its in-place run from the recorded state first")
	}
	last := map[string]string{}
	group, slot := SplitTarget(w.Target)
	if slot >= 0 {
		o.Slot = &slot
	}
	sum, err := h.Patch(ctx, group, o, w.Resuming, func(r inplace.ServerResult) {
		key := r.Phase + "/" + r.Status
		if last[r.Server.ID] == key {
			return
		}
		last[r.Server.ID] = key
		level := "info"
		msg := fmt.Sprintf("in-place %s: phase %s, %s", r.Server.Name, r.Phase, r.Status)
		if r.Status == inplace.StatusFailed {
			level, msg = "error", msg+": "+r.Error
		}
		w.Event(ctx, level, msg)
	})
	for _, r := range sum.Servers {
		for _, e := range ServerOutcome(r) {
			w.Event(ctx, e.Level, e.Message)
		}
	}
	installed, failed := UpdateCounts(sum)
	w.Count(ctx, installed, failed)
	w.q.observe(func(o Observer) { o.InPlaceCounted(w.Target, installed, failed) })
	if sum.Run != "" {
		w.Decide(ctx, fmt.Sprintf("in-place run %s of %s: %s; %d of %d servers succeeded, %d failed, %d not started; %d updates installed, %d failed%s",
			sum.Run, w.Target, sum.Status, sum.Succeeded, len(sum.Servers), sum.Failed, sum.NotStarted, installed, failed, rebootNote(sum)))
	}
	return sum, err
}

// OutcomeLine is one line of a server's in-place outcome for a job's event log.
type OutcomeLine struct {
	Level   string // info, error
	Message string
}

// ServerOutcome says what an in-place run changed on one server, for the job's event log:
// each security update installed (or failed) from → to, the Docker engine and Weave Net
// moves, and the reboot: wanted by which packages, done (how, with the downtime) or not.
func ServerOutcome(r inplace.ServerResult) []OutcomeLine {
	var out []OutcomeLine
	add := func(level, format string, args ...any) {
		out = append(out, OutcomeLine{Level: level, Message: fmt.Sprintf("in-place %s: ", r.Server.Name) + fmt.Sprintf(format, args...)})
	}
	if r.Security != nil {
		for _, c := range r.Security.Installed {
			add("info", "installed %s %s → %s", c.Name, orDefault(c.From, "(none)"), c.To)
		}
		for _, c := range r.Security.Failed {
			add("error", "failed to install %s %s → %s: %s", c.Name, orDefault(c.From, "(none)"), c.To, c.Error)
		}
	}
	if r.Docker != nil && r.Docker.Changed {
		add("info", "docker.io %s → %s", r.Docker.From, r.Docker.To)
	}
	if r.Weave != nil && r.Weave.Changed {
		add("info", "Weave Net %s → %s", orDefault(r.Weave.From, "(none)"), r.Weave.To)
	}
	if rb := r.Reboot; rb != nil && (rb.Wanted || rb.Done) {
		why := "reboot (policy " + orDefault(rb.Policy, "always") + ")"
		if rb.Wanted {
			why = "reboot wanted by " + orDefault(strings.Join(rb.Packages, ", "), "an upgrade (/var/run/reboot-required)")
		}
		switch {
		case rb.Done:
			add("info", "%s: rebooted through %s, downtime %s", why, orDefault(rb.Via, "the cloud"), rb.Downtime.Round(time.Millisecond))
		default:
			add("info", "%s: not rebooted (reboot policy %s)", why, orDefault(rb.Policy, "never"))
		}
	}
	return out
}

// UpdateCounts counts the updates an in-place run installed and failed: each security
// package, a Docker engine upgrade and a Weave Net upgrade count one; a server that
// failed in its Docker or Weave phase counts one failed update.
func UpdateCounts(sum inplace.Summary) (installed, failed int) {
	for _, r := range sum.Servers {
		if r.Security != nil {
			installed += len(r.Security.Installed)
			failed += len(r.Security.Failed)
		}
		if r.Docker != nil && r.Docker.From != r.Docker.To && r.Status == inplace.StatusSucceeded {
			installed++
		}
		if r.Weave != nil && r.Weave.Changed && r.Status == inplace.StatusSucceeded {
			installed++
		}
		if r.Status == inplace.StatusFailed && (r.Phase == inplace.PhaseDocker || r.Phase == inplace.PhaseWeave) {
			failed++
		}
	}
	return installed, failed
}

// Downtime sums the reboots' downtime of an in-place run; reboots counts them.
func Downtime(sum inplace.Summary) (reboots int, downtime time.Duration) {
	for _, r := range sum.Servers {
		if r.Reboot != nil && r.Reboot.Done {
			reboots++
			downtime += r.Reboot.Downtime
		}
	}
	return reboots, downtime
}

func rebootNote(sum inplace.Summary) string {
	n, d := Downtime(sum)
	if n == 0 {
		return ", no reboot"
	}
	return fmt.Sprintf(", %s (downtime %s in all)", plural(n, "reboot", "reboots"), d.Round(time.Millisecond))
}

func requestedBy(w *Work) string {
	if w.Record.Schedule != "" {
		return "by schedule " + w.Record.Schedule
	}
	if w.Record.RequestedBy != "" {
		return "by " + w.Record.RequestedBy // "token ci", "cli", "api"
	}
	return "by hand"
}

// FactsReader gathers the policy's facts for a group (quota, surge, image, addresses).
type FactsReader func(ctx context.Context, group string) (Facts, error)

// UpdateHandler lets the policy choose (Decide, rebuild first) and runs the choice: a
// rebuild onto the group's image (its pin, else the latest), or the options in place. A schedule's action update
// maps to it.
type UpdateHandler struct {
	Groups  func(name string) bool
	Facts   FactsReader
	Rebuild RebuildHandler
	InPlace InPlaceHandler
}

func (h UpdateHandler) Check(target string, options json.RawMessage) error {
	if err := checkTarget(target, h.Groups); err != nil {
		return err
	}
	var o InPlaceOptions
	if err := decodeStrict(options, &o); err != nil {
		return err
	}
	if o.Force {
		return errors.New("force: an update lets the policy choose; queue a rebuild or an inplace job to force one")
	}
	if o.Reboot != "" {
		if _, err := inplace.ParseReboot(o.Reboot); err != nil {
			return err
		}
	}
	return nil
}

func (h UpdateHandler) Run(ctx context.Context, w *Work) error {
	var o InPlaceOptions
	if err := decodeStrict(w.Record.Options, &o); err != nil {
		return err
	}
	group, slot := SplitTarget(w.Target)
	f, err := h.Facts(ctx, group)
	if err != nil {
		return fmt.Errorf("gather the facts of %s: %w", group, err)
	}
	d, err := Decide(w.Now(), f, Request{Options: o.Options})
	if err != nil {
		return err
	}
	w.Decide(ctx, fmt.Sprintf("update %s requested %s: %s", w.Target, requestedBy(w), d.Reason))
	for _, n := range d.Notes {
		w.Event(ctx, "info", "note: "+n)
	}
	for _, x := range d.Warnings {
		w.Event(ctx, "warn", "warning: "+x)
	}
	switch d.Action {
	case ActionRebuild:
		if slot >= 0 {
			w.Decide(ctx, fmt.Sprintf("path: rebuild of slot %d of group %s only (the other slots are kept)", slot, group))
		}
		return h.Rebuild.rebuild(ctx, w, RebuildOptions{}) // the image the facts resolved
	case ActionInPlace:
		if slot >= 0 {
			w.Decide(ctx, fmt.Sprintf("path: in place on the server of slot %d of group %s only", slot, group))
		}
		_, err := h.InPlace.runInPlace(ctx, w, o)
		return err
	}
	return nil
}

// A job's target is a group ("web"), or one slot of a group ("web/0"): an update of
// that slot's server alone (the STACKIT-compatible API asks for these, by server id). A
// slot rather than a server id, because a rebuild replaces the server: the slot's history
// and schedules carry on with its replacement. Group names have no '/'.

// SlotTarget is the job target of slot n of group.
func SlotTarget(group string, slot int) string { return group + "/" + strconv.Itoa(slot) }

// SplitTarget splits a target into its group and slot (-1 for a whole group).
func SplitTarget(target string) (group string, slot int) {
	group, rest, ok := strings.Cut(target, "/")
	if !ok {
		return group, -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return group, -1
	}
	return group, n
}

// checkTarget accepts a group of the manifest, or a slot target in one.
func checkTarget(target string, groups func(string) bool) error {
	group, slot := SplitTarget(target)
	if !groups(group) {
		return fmt.Errorf("group %q is not in the manifest", group)
	}
	if group != target && slot < 0 {
		return fmt.Errorf("target %q: want a group, or group/<slot number>", target)
	}
	return nil
}
