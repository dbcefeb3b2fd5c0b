package orchestrator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/imagebuild"
	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/store"
)

// The emergency security rollout (remint emergency --security): for the families of the
// groups that are rebuilt, an out-of-cycle image when a server booted from the active one
// finds pending security updates; every replaceable group rebuilt onto its family's
// image; security upgrades in place, rebooting where required, for the rest. Planning
// (PlanEmergency) is pure and separate from running (RunEmergency); one report says what
// became of every target and which security packages changed on how many servers.

// DefaultEmergencyConcurrency is how many targets (and image builds) run at once.
const DefaultEmergencyConcurrency = 4

// EmergencyOptions are what the in-place part of an emergency does: security upgrades
// only, rebooting servers whose upgrades require it.
var EmergencyOptions = Options{ApplySecurityUpgrades: true, RebootIfRequired: true}

// EmergencyFacts are the policy's facts for one target, and whether the manifest pins
// its image.
type EmergencyFacts struct {
	Facts
	// Pinned names the manifest's pin ("version 2026.11.1", "image id …"), "" when the
	// group follows its family's latest active version.
	Pinned string `json:"pinned,omitempty"`
}

// FamilyPlan is one family whose image is checked for pending security updates (and
// rebuilt out of cycle when there are some) before its groups are rebuilt.
type FamilyPlan struct {
	Family string `json:"family"`
	// Active is the family's active version now.
	Active string `json:"active"`
	// Groups are the targets rebuilt onto the family's image.
	Groups []string `json:"groups"`
}

// EmergencyPlan is what an emergency will do, decided before anything runs.
type EmergencyPlan struct {
	Reason    string       `json:"reason,omitempty"`
	PlannedAt time.Time    `json:"planned_at"`
	Families  []FamilyPlan `json:"families"`
	Targets   Decisions    `json:"targets"`
	// Notes are families left out and why.
	Notes []string `json:"notes,omitempty"`
}

// PlanEmergency decides each target (rebuild first, as Decide does, with security
// upgrades and reboot-if-required as the in-place options) and lists the families to
// check. A group whose image the manifest pins is patched in place: an emergency does
// not move it to another image. It is pure: the same facts give the same plan.
func PlanEmergency(now time.Time, reason string, facts []EmergencyFacts) (EmergencyPlan, error) {
	p := EmergencyPlan{Reason: reason, PlannedAt: now.UTC(), Families: []FamilyPlan{}, Targets: Decisions{}}
	fams := map[string]*FamilyPlan{}
	others := map[string][]string{} // families of targets that are not rebuilt
	for _, f := range facts {
		d, err := Decide(now, f.Facts, Request{Options: EmergencyOptions})
		if err != nil {
			return EmergencyPlan{}, err
		}
		if d.Action == ActionRebuild && f.Pinned != "" {
			d.Notes = nil
			why := fmt.Sprintf("the manifest pins the image of %s (%s): an emergency does not move a pinned group onto another image", f.Target, f.Pinned)
			if f.Servers == 0 {
				d.Action, d.Reason = ActionSkip, "skip: "+why+"; and the group has no servers to patch"
			} else {
				d.Action, d.Reason = ActionInPlace, "in-place: "+why
			}
		}
		if d.Action == ActionRebuild {
			// The options are the in-place part's; a rebuild's servers boot the image.
			d.Notes = slices.DeleteFunc(d.Notes, func(n string) bool { return strings.HasPrefix(n, "options (") })
			fp := fams[f.Family]
			if fp == nil {
				fp = &FamilyPlan{Family: f.Family, Active: strings.TrimSpace(strings.TrimPrefix(f.Image, f.Family))}
				fams[f.Family] = fp
			}
			fp.Groups = append(fp.Groups, f.Target)
			d.Notes = append(d.Notes, fmt.Sprintf("rebuilt onto family %s's out-of-cycle image if a server booted from %s finds pending security updates, else onto %s itself (slots already on it are left alone)",
				f.Family, f.Image, f.Image))
		} else if f.Family != "" {
			others[f.Family] = append(others[f.Family], f.Target)
		}
		p.Targets = append(p.Targets, d)
	}
	for _, fp := range fams {
		p.Families = append(p.Families, *fp)
	}
	slices.SortFunc(p.Families, func(a, b FamilyPlan) int { return cmp.Compare(a.Family, b.Family) })
	var left []string
	for fam := range others {
		if fams[fam] == nil {
			left = append(left, fam)
		}
	}
	slices.Sort(left)
	for _, fam := range left {
		p.Notes = append(p.Notes, fmt.Sprintf("family %s: no out-of-cycle build: none of its target groups (%s) is rebuilt", fam, strings.Join(others[fam], ", ")))
	}
	return p, nil
}

// Rebuilds reports whether any target is rebuilt; InPlace whether any is patched in place.
func (p EmergencyPlan) Rebuilds() bool { return p.count(ActionRebuild) > 0 }
func (p EmergencyPlan) InPlace() bool  { return p.count(ActionInPlace) > 0 }

func (p EmergencyPlan) count(a Action) int {
	n := 0
	for _, d := range p.Targets {
		if d.Action == a {
			n++
		}
	}
	return n
}

// familyOf is the family a rebuild target boots from.
func (p EmergencyPlan) familyOf(target string) string {
	for _, f := range p.Families {
		if slices.Contains(f.Groups, target) {
			return f.Family
		}
	}
	return ""
}

// String renders the plan (--dry-run, golden files).
func (p EmergencyPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "emergency security rollout planned at %s\n", p.PlannedAt.Format(time.RFC3339))
	if p.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", p.Reason)
	}
	if len(p.Families) == 0 {
		b.WriteString("images: no family to check (no target is rebuilt)\n")
	} else {
		b.WriteString("images: build out of cycle only if a server booted from the active version finds pending security updates\n")
	}
	for _, f := range p.Families {
		fmt.Fprintf(&b, "  %s (active %s): then rebuild %s\n", f.Family, orDefault(f.Active, "none"), strings.Join(f.Groups, ", "))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	b.WriteString(p.Targets.String())
	return b.String()
}

// EmergencyDeps are what an emergency works with.
type EmergencyDeps struct {
	// Build checks a family's active image for pending security updates and builds,
	// verifies and publishes a new version when there are some
	// (imagebuild.Options.OnlyIfSecurityUpdates), recording reason, holding the family's lease.
	Build func(ctx context.Context, family, reason string) (imagebuild.Result, error)
	// Packages returns the package list recorded on a family's version.
	Packages func(ctx context.Context, family, version string) ([]debian.Package, error)
	// Rebuild runs failover.Rebuild of a group onto the family's version, holding the
	// group's lease. It and InPlace take ctx's window end (WindowEnd) as their deadline.
	Rebuild func(ctx context.Context, group, version string) (failover.RebuildResult, error)
	// InPlace runs the in-place use case on a group (security upgrades, reboot if
	// required), holding the group's lease.
	InPlace func(ctx context.Context, group string, o InPlaceOptions) (inplace.Summary, error)
	// Image, when set, reads a family's version from the catalog: with Job, a resumed
	// job finds there (in the build reason recorded on the image) the image its cut-short
	// attempt published, and reports that build instead of building or checking again.
	Image func(ctx context.Context, family, version string) (catalog.Entry, error)
	// Job names the durable job the emergency runs as ("emergency job 42 queued …"), ""
	// outside a job; each build's recorded reason starts with it (JobBuildReason).
	Job string
	// Progress, when set, is told what starts and ends (level info or error).
	Progress func(level, msg string)
	Now      func() time.Time
}

// JobBuildReason is the reason recorded on an image an emergency job builds: the job
// first (so that the catalog's truncation never cuts it), then the emergency's reason.
func JobBuildReason(job, reason string) string {
	switch {
	case job == "":
		return reason
	case reason == "":
		return job
	}
	return job + ": " + reason
}

// builtBy reports whether the build reason recorded on an image names job.
func builtBy(recorded, job string) bool {
	return job != "" && (recorded == job || strings.HasPrefix(recorded, job+": "))
}

// Family build outcomes.
const (
	BuildBuilt   = "built"
	BuildSkipped = "skipped" // nothing to ship: no pending security updates
	BuildFailed  = "failed"
	BuildPlanned = "planned"
	// BuildNotStarted: the job's maintenance window had closed (a job resumed after it).
	BuildNotStarted = "not-started"
)

// Target outcomes of an emergency.
const (
	EmergencyRebuilt  = "rebuilt"
	EmergencyUpToDate = "up-to-date" // every slot already ran the version
	EmergencyPatched  = "patched"
	EmergencySkipped  = "skipped"
	EmergencyFailed   = "failed"
	EmergencyPlanned  = "planned"
)

// FamilyResult is what became of one family's image.
type FamilyResult struct {
	Family string `json:"family"`
	Build  string `json:"build"` // built, skipped, failed, planned, not-started
	// Previous is the active version before; Version the one its groups are rebuilt onto
	// (the new version, or Previous when nothing was built).
	Previous string `json:"previous,omitempty"`
	Version  string `json:"version,omitempty"`
	ImageID  string `json:"image_id,omitempty"`
	BuildID  string `json:"build_id,omitempty"`
	// Reason says why the build was skipped, or how it failed.
	Reason string `json:"reason,omitempty"`
	// Earlier says the image was built by an earlier attempt of the same job, cut short
	// after publishing it: this attempt neither checked nor built again.
	Earlier bool `json:"earlier_attempt,omitempty"`
	// SecurityUpdates are the pending security updates the check found.
	SecurityUpdates []debian.Upgrade `json:"security_updates,omitempty"`
	// Changes are the security package changes from Previous to Version.
	Changes  []debian.Change `json:"changes,omitempty"`
	Duration time.Duration   `json:"duration_ns"`
}

// PackageTransition is one security package moved from one version to another on Servers
// of Of servers (Of: those the transition is counted over).
type PackageTransition struct {
	Name    string `json:"name"`
	From    string `json:"from"`
	To      string `json:"to"`
	Servers int    `json:"servers"`
	Of      int    `json:"of"`
}

func (t PackageTransition) String() string {
	return fmt.Sprintf("%s %s → %s on %d/%d servers", t.Name, orDefault(t.From, "(none)"), t.To, t.Servers, t.Of)
}

// EmergencyTarget is what became of one target.
type EmergencyTarget struct {
	Target   string `json:"target"`
	Action   Action `json:"action"`
	Decision string `json:"decision"` // the policy's reason
	Result   string `json:"result"`   // rebuilt, up-to-date, patched, skipped, failed, planned
	// Detail says what was done (or why not) in words.
	Detail  string `json:"detail"`
	Family  string `json:"family,omitempty"`
	Version string `json:"version,omitempty"` // rebuilt onto
	// Servers are the servers this target's run rebuilt or patched (or tried to).
	Servers          int           `json:"servers"`
	Replaced         int           `json:"servers_replaced,omitempty"`
	Created          int           `json:"servers_created,omitempty"`
	FailedServers    int           `json:"servers_failed,omitempty"`
	Rollouts         []string      `json:"rollouts,omitempty"`
	InPlaceRun       string        `json:"inplace_run,omitempty"`
	UpdatesInstalled int           `json:"updates_installed"`
	UpdatesFailed    int           `json:"updates_failed"`
	Reboots          int           `json:"reboots"`
	Downtime         time.Duration `json:"downtime_ns"`
	// Packages are the security packages that changed on this target's servers.
	Packages []PackageTransition `json:"packages"`
	// Unknown counts servers whose package changes are not known (their old image has
	// no recorded package list).
	Unknown int    `json:"servers_unknown_packages,omitempty"`
	Error   string `json:"error,omitempty"`

	changes [][]inplace.Change // per server acted on: its security package changes
}

// EmergencyReport is one emergency run.
type EmergencyReport struct {
	Reason   string            `json:"reason,omitempty"`
	DryRun   bool              `json:"dry_run"`
	Status   string            `json:"status"` // succeeded, failed, planned
	Plan     EmergencyPlan     `json:"plan"`
	Families []FamilyResult    `json:"families"`
	Targets  []EmergencyTarget `json:"targets"`
	// Servers are the servers rebuilt or patched (or tried), over all targets.
	Servers int `json:"servers"`
	// Packages aggregates the security packages that changed, over all targets.
	Packages []PackageTransition `json:"packages"`
	Duration time.Duration       `json:"duration_ns"`
}

// ErrEmergencyFailed is wrapped by RunEmergency's error when a build or target failed.
var ErrEmergencyFailed = errors.New("emergency rollout failed")

// PlannedReport is the report of a plan that does not run (--dry-run).
func PlannedReport(p EmergencyPlan) EmergencyReport {
	rep := EmergencyReport{Reason: p.Reason, DryRun: true, Status: ResultPlanned, Plan: p, Families: []FamilyResult{}, Targets: []EmergencyTarget{}, Packages: []PackageTransition{}}
	for _, f := range p.Families {
		rep.Families = append(rep.Families, FamilyResult{Family: f.Family, Build: BuildPlanned, Previous: f.Active})
	}
	for _, d := range p.Targets {
		rep.Targets = append(rep.Targets, EmergencyTarget{Target: d.Target, Action: d.Action, Decision: d.Reason, Result: EmergencyPlanned,
			Family: p.familyOf(d.Target), Packages: []PackageTransition{}})
	}
	return rep
}

// RunEmergency runs a plan: each family's check-and-build, then each of its groups'
// rebuilds once it is done; in-place targets start at once. At most concurrency builds
// and targets run at a time; each target holds its own group lease (through the deps).
// Every target runs even when another failed; the error says which failed.
func RunEmergency(ctx context.Context, d EmergencyDeps, p EmergencyPlan, concurrency int) (EmergencyReport, error) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	if concurrency < 1 {
		concurrency = DefaultEmergencyConcurrency
	}
	progress := d.Progress
	if progress == nil {
		progress = func(string, string) {}
	}
	start := now()
	rep := PlannedReport(p)
	rep.DryRun = false
	// A group or family busy with other work (a rebuild, an in-place run, a monthly
	// build) is waited for, not failed: the deps' lease managers wait as long as it
	// takes (or until the window's end), and each wait is said once here. No two
	// leases are ever held and waited for at once (a build holds its family's, a target
	// its group's, one at a time), so two emergencies over overlapping groups, or an
	// emergency and other jobs, take turns and never wait for each other in a circle.
	job := lease.JobOf(ctx)
	ctx = lease.WithWaitNotice(ctx, func(held store.Lease) { progress("info", lease.WaitingText(held, job)) })
	sem := make(chan struct{}, concurrency)
	acquire := func() bool {
		select {
		case sem <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	release := func() { <-sem }

	built := make([]chan struct{}, len(p.Families))
	var wg sync.WaitGroup
	for i := range p.Families {
		built[i] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(built[i])
			fr := &rep.Families[i]
			if !acquire() {
				fr.Build, fr.Reason = BuildFailed, "not started: "+context.Cause(ctx).Error()
				return
			}
			defer release()
			runFamily(ctx, d, p.Reason, fr, progress, now)
		}()
	}
	for i, dec := range p.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &rep.Targets[i]
			var fam *FamilyResult
			if dec.Action == ActionRebuild {
				for j, f := range p.Families {
					if f.Family == tr.Family {
						<-built[j]
						fam = &rep.Families[j]
					}
				}
			}
			if dec.Action == ActionSkip {
				tr.Result, tr.Detail = EmergencySkipped, dec.Reason
				return
			}
			if fam != nil && fam.Build == BuildFailed {
				tr.Result = EmergencyFailed
				tr.Error = fmt.Sprintf("not rebuilt: the image of family %s failed: %s", fam.Family, fam.Reason)
				tr.Detail = tr.Error
				progress("error", tr.Target+": "+tr.Error)
				return
			}
			if !acquire() {
				tr.Result, tr.Error = EmergencyFailed, "not started: "+context.Cause(ctx).Error()
				tr.Detail = tr.Error
				return
			}
			defer release()
			switch dec.Action {
			case ActionRebuild:
				runRebuildTarget(ctx, d, tr, fam, progress)
			case ActionInPlace:
				runInPlaceTarget(ctx, d, tr, progress)
			}
		}()
	}
	wg.Wait()
	aggregate(&rep)
	rep.Duration = now().Sub(start)
	var failed []string
	for _, f := range rep.Families {
		if f.Build == BuildFailed {
			failed = append(failed, fmt.Sprintf("image of %s (%s)", f.Family, f.Reason))
		}
	}
	for _, t := range rep.Targets {
		if t.Result == EmergencyFailed {
			failed = append(failed, fmt.Sprintf("%s (%s)", t.Target, t.Error))
		}
	}
	rep.Status = ResultSucceeded
	if len(failed) > 0 {
		rep.Status = ResultFailed
		return rep, fmt.Errorf("%w: %s", ErrEmergencyFailed, strings.Join(failed, "; "))
	}
	return rep, nil
}

// runFamily checks a family and builds it when it has pending security updates.
func runFamily(ctx context.Context, d EmergencyDeps, reason string, fr *FamilyResult, progress func(string, string), now func() time.Time) {
	t0 := now()
	if d.Job != "" && d.Image != nil && fr.Previous != "" {
		// A resumed job: the active version may be the one its cut-short attempt built.
		e, err := d.Image(ctx, fr.Family, fr.Previous)
		if err == nil && builtBy(e.Image.Properties[catalog.PropBuildReason], d.Job) {
			fr.Build, fr.Earlier, fr.Version, fr.ImageID = BuildBuilt, true, e.Version.String(), e.Image.ID
			fr.BuildID, fr.Previous = e.Image.Properties[catalog.PropBuildID], ""
			progress("info", fmt.Sprintf("image %s: %s was built by an earlier attempt of this job (image %s, build %s): not checked or built again",
				fr.Family, fr.Version, fr.ImageID, fr.BuildID))
			return
		}
	}
	if end := WindowEnd(ctx); !end.IsZero() && !now().Before(end) {
		// A job resumed after its window closed: its groups only finish what was under
		// way, which needs no new image.
		fr.Build, fr.Version = BuildNotStarted, fr.Previous
		fr.Reason = fmt.Sprintf("not checked or built: the maintenance window closed at %s; the groups are rebuilt onto %s only where a slot was under way",
			end.UTC().Format(time.RFC3339), orDefault(fr.Previous, "the active version"))
		progress("info", fmt.Sprintf("image %s: %s", fr.Family, fr.Reason))
		return
	}
	progress("info", fmt.Sprintf("image %s: checking %s for pending security updates", fr.Family, orDefault(fr.Previous, "the active version")))
	res, err := d.Build(ctx, fr.Family, JobBuildReason(d.Job, reason))
	fr.Duration = now().Sub(t0)
	fr.BuildID, fr.SecurityUpdates = res.BuildID, res.SecurityUpdates
	switch {
	case res.Status == "skipped" && err == nil:
		fr.Build, fr.Reason, fr.Version, fr.ImageID = BuildSkipped, res.SkipReason, res.Version, res.ImageID
		progress("info", fmt.Sprintf("image %s: nothing changed, no build: %s", fr.Family, res.SkipReason))
	case res.Status == "active" && err == nil:
		fr.Build, fr.Version, fr.ImageID = BuildBuilt, res.Version, res.ImageID
		for _, c := range res.Changes {
			if c.Security && c.To != "" {
				fr.Changes = append(fr.Changes, c)
			}
		}
		progress("info", fmt.Sprintf("image %s: built %s (image %s, build %s) in %s", fr.Family, res.Version, res.ImageID, res.BuildID, fr.Duration.Round(time.Second)))
	default:
		fr.Build = BuildFailed
		switch {
		case err != nil && res.FailedStep != "":
			fr.Reason = fmt.Sprintf("build %s failed at step %q: %v", res.BuildID, res.FailedStep, err)
		case err != nil:
			fr.Reason = err.Error()
		default:
			fr.Reason = fmt.Sprintf("build %s ended %q", res.BuildID, res.Status)
		}
		progress("error", fmt.Sprintf("image %s: %s", fr.Family, fr.Reason))
	}
}

// runRebuildTarget rebuilds a group onto its family's version and records which security
// packages changed on each replaced server (from the old and new images' package lists).
func runRebuildTarget(ctx context.Context, d EmergencyDeps, tr *EmergencyTarget, fam *FamilyResult, progress func(string, string)) {
	tr.Version = fam.Version
	progress("info", fmt.Sprintf("%s: rebuilding onto %s %s", tr.Target, fam.Family, fam.Version))
	res, err := d.Rebuild(ctx, tr.Target, fam.Version)
	if res.Target.Version != "" {
		tr.Version = res.Target.Version
	}
	lists := map[string][]debian.Package{}
	listErr := map[string]error{}
	list := func(v string) ([]debian.Package, error) {
		if l, ok := lists[v]; ok || listErr[v] != nil {
			return l, listErr[v]
		}
		l, err := d.Packages(ctx, fam.Family, v)
		lists[v], listErr[v] = l, err
		return l, err
	}
	for _, r := range []*failover.Result{res.Resumed, res.Rollout} {
		if r == nil {
			continue
		}
		tr.Rollouts = append(tr.Rollouts, r.Rollout)
		for _, s := range r.Slots {
			switch s.State {
			case failover.StateDone, failover.StateKept:
			case failover.StateFailed, failover.StateRolledBack:
				tr.Servers++
				tr.FailedServers++
				tr.changes = append(tr.changes, nil)
				continue
			default:
				continue
			}
			if s.OldServerID == "" {
				tr.Created++ // a new slot: nothing was replaced, no package moved
				continue
			}
			tr.Servers++
			tr.Replaced++
			newList, errNew := list(tr.Version)
			oldList, errOld := list(s.OldImageVersion)
			if s.OldImageVersion == "" || errNew != nil || errOld != nil {
				tr.Unknown++
				tr.changes = append(tr.changes, nil)
				continue
			}
			var ch []inplace.Change
			for _, c := range debian.Diff(oldList, newList) {
				if c.Security && c.To != "" {
					ch = append(ch, inplace.Change{Name: c.Name, From: c.From, To: c.To})
				}
			}
			tr.changes = append(tr.changes, ch)
		}
	}
	switch {
	case err != nil:
		tr.Result, tr.Error = EmergencyFailed, err.Error()
		tr.Detail = fmt.Sprintf("rebuild onto %s failed: %v", tr.Version, err)
	case res.UpToDate:
		tr.Result = EmergencyUpToDate
		tr.Detail = fmt.Sprintf("every slot already runs %s %s: nothing to replace", fam.Family, tr.Version)
	default:
		tr.Result = EmergencyRebuilt
		tr.Detail = fmt.Sprintf("rebuilt onto %s %s: %s replaced", fam.Family, tr.Version, plural(tr.Replaced, "server", "servers"))
		if tr.Created > 0 {
			tr.Detail += fmt.Sprintf(", %d created", tr.Created)
		}
		if len(tr.Rollouts) > 0 {
			tr.Detail += " (rollout " + strings.Join(tr.Rollouts, ", ") + ")"
		}
	}
	level := "info"
	if tr.Result == EmergencyFailed {
		level = "error"
	}
	progress(level, tr.Target+": "+tr.Detail)
}

// runInPlaceTarget patches a group in place: security upgrades, reboot if required.
func runInPlaceTarget(ctx context.Context, d EmergencyDeps, tr *EmergencyTarget, progress func(string, string)) {
	progress("info", tr.Target+": security upgrades in place, reboot if required")
	sum, err := d.InPlace(ctx, tr.Target, InPlaceOptions{Options: EmergencyOptions})
	tr.InPlaceRun = sum.Run
	tr.UpdatesInstalled, tr.UpdatesFailed = UpdateCounts(sum)
	tr.Reboots, tr.Downtime = Downtime(sum)
	for _, r := range sum.Servers {
		if r.Status == inplace.StatusNotStarted {
			continue
		}
		tr.Servers++
		if r.Status == inplace.StatusFailed {
			tr.FailedServers++
		}
		var ch []inplace.Change
		if r.Security != nil {
			ch = r.Security.Installed
		}
		tr.changes = append(tr.changes, ch)
	}
	switch {
	case err != nil || sum.Status == store.InplaceFailed:
		tr.Result = EmergencyFailed
		tr.Error = sum.Error
		if err != nil {
			tr.Error = err.Error()
		}
		tr.Detail = fmt.Sprintf("in-place run %s failed: %s", orDefault(sum.Run, "-"), tr.Error)
	default:
		tr.Result = EmergencyPatched
		tr.Detail = fmt.Sprintf("patched in place (run %s): %s, %s installed, %s",
			sum.Run, plural(tr.Servers, "server", "servers"), plural(tr.UpdatesInstalled, "security update", "security updates"), plural(tr.Reboots, "reboot", "reboots"))
		if tr.Reboots > 0 {
			tr.Detail += fmt.Sprintf(" (downtime %s in all)", tr.Downtime.Round(time.Millisecond))
		}
	}
	level := "info"
	if tr.Result == EmergencyFailed {
		level = "error"
	}
	progress(level, tr.Target+": "+tr.Detail)
}

// aggregate counts, per target and over all, on how many of the servers acted on each
// security package moved from one version to another.
func aggregate(rep *EmergencyReport) {
	total := map[[3]string]int{}
	rep.Servers = 0
	for i := range rep.Targets {
		t := &rep.Targets[i]
		rep.Servers += t.Servers
		per := map[[3]string]int{}
		for _, ch := range t.changes {
			seen := map[[3]string]bool{}
			for _, c := range ch {
				k := [3]string{c.Name, c.From, c.To}
				if c.Error != "" || seen[k] {
					continue
				}
				seen[k] = true
				per[k]++
				total[k]++
			}
		}
		t.Packages = transitions(per, t.Servers)
	}
	rep.Packages = transitions(total, rep.Servers)
}

func transitions(m map[[3]string]int, of int) []PackageTransition {
	out := []PackageTransition{}
	for k, n := range m {
		out = append(out, PackageTransition{Name: k[0], From: k[1], To: k[2], Servers: n, Of: of})
	}
	slices.SortFunc(out, func(a, b PackageTransition) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

// NothingChanged reports whether the run built nothing and changed no server.
func (r EmergencyReport) NothingChanged() bool {
	for _, f := range r.Families {
		if f.Build != BuildSkipped {
			return false
		}
	}
	for _, t := range r.Targets {
		if t.Replaced > 0 || t.Created > 0 || t.UpdatesInstalled > 0 || t.Reboots > 0 || t.Result == EmergencyFailed {
			return false
		}
	}
	return !r.DryRun
}

// String renders the report for a terminal: the images, each target, and the security
// packages now installed.
func (r EmergencyReport) String() string {
	if r.DryRun {
		return r.Plan.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "emergency security rollout %s in %s\n", r.Status, r.Duration.Round(time.Second))
	if r.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", r.Reason)
	}
	b.WriteString("images:\n")
	if len(r.Families) == 0 {
		b.WriteString("  none checked (no target is rebuilt)\n")
	}
	for _, f := range r.Families {
		switch f.Build {
		case BuildBuilt:
			if f.Earlier {
				fmt.Fprintf(&b, "  %s: built %s out of cycle by an earlier attempt of this job (image %s, build %s); not built again\n", f.Family, f.Version, f.ImageID, f.BuildID)
				continue
			}
			fmt.Fprintf(&b, "  %s: built %s out of cycle (was %s; image %s, build %s, %s)\n", f.Family, f.Version, orDefault(f.Previous, "none"), f.ImageID, f.BuildID, f.Duration.Round(time.Second))
			for _, c := range f.Changes {
				fmt.Fprintf(&b, "    %s %s → %s (%s)\n", c.Name, orDefault(c.From, "(none)"), c.To, c.Suite)
			}
		case BuildSkipped:
			fmt.Fprintf(&b, "  %s: nothing changed, no build: %s\n", f.Family, f.Reason)
		default:
			fmt.Fprintf(&b, "  %s: %s: %s\n", f.Family, strings.ToUpper(f.Build), f.Reason)
		}
	}
	for _, n := range r.Plan.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	b.WriteString("targets:\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "  %s: %s: %s\n", t.Target, t.Result, t.Detail)
		if t.Result == EmergencySkipped {
			continue
		}
		for _, p := range t.Packages {
			fmt.Fprintf(&b, "    %s\n", p)
		}
		if t.Unknown > 0 {
			fmt.Fprintf(&b, "    package changes unknown on %s (the old image has no recorded package list)\n", plural(t.Unknown, "server", "servers"))
		}
	}
	switch {
	case len(r.Packages) > 0:
		fmt.Fprintf(&b, "security packages now installed (over the %s rebuilt or patched):\n", plural(r.Servers, "server", "servers"))
		for _, p := range r.Packages {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	case r.NothingChanged():
		b.WriteString("nothing changed: no image built, no server replaced or patched\n")
	default:
		fmt.Fprintf(&b, "no security package changed on the %s rebuilt or patched\n", plural(r.Servers, "server", "servers"))
	}
	return b.String()
}
