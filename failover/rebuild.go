package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// Deps wire the group use cases (Rebuild, RollbackGroup, AdoptGroup): the executor's
// options (Options.Spec is the group as the manifest says), the lease and the images.
type Deps struct {
	Options
	Leases  Leaser      // required for every use case that changes the group
	Catalog Catalog     // resolves the target version (Rebuild)
	Images  ImageReader // reads pinned images, and image versions when adopting
}

// RebuildRequest is what a rebuild is asked to do beyond the group's manifest.
type RebuildRequest struct {
	// Image is the target version: "" (the group's image setting), "latest" or YYYY.MM.N.
	Image string
	// Strategy, MaxSurge and MaxUnavailable override the group's rollout knobs when set.
	Strategy       string
	MaxSurge       *int
	MaxUnavailable *int
	// Force replaces servers already on the target too.
	Force bool
	// Slot, when set, narrows the rollout to this slot (its server replaced, or created
	// when it has none); the other slots are kept and nothing is removed.
	Slot *int
	// Resume only finishes an unfinished rollout; no new one starts.
	Resume bool
	// Earlier are the rollouts this same request started before (a job's earlier
	// attempts, cut short): once one of them completed, here by the resume or before,
	// the request is done with Force: its servers are not replaced a second time.
	Earlier []string
	// DryRun plans and stops: nothing is changed and no lease is taken.
	DryRun bool
}

// RebuildResult is what a rebuild did.
type RebuildResult struct {
	Group  string
	Target Target
	// Plan is the new rollout's plan (or, with DryRun, the plan that would run).
	Plan *Plan
	// Retired counts old servers deleted because their keep-old time was over.
	Retired int
	// Resumed is the unfinished rollout finished first, if there was one.
	Resumed *Result
	// Rollout is the new rollout, if one ran.
	Rollout *Result
	// Orphans are the orphans found; DeletedOrphans those deleted.
	Orphans        []Orphan
	DeletedOrphans []Orphan
	// UpToDate says every slot already was on the target: nothing to do.
	UpToDate bool
	// Events are every event of the rebuild, in order (also sent to Options.Events).
	Events []Event
}

// UnadoptedError refuses a first deploy into a group whose servers already exist in the
// cloud but are recorded in no slot: creating a second set beside them is never what
// was meant. It is a bad request (wrapped in BadRequestError).
type UnadoptedError struct {
	Group   string
	Servers []string
}

func (e *UnadoptedError) Error() string {
	return fmt.Sprintf("group %s has servers in the cloud (%s) but none recorded in the state store: run `remint group adopt %s` first, or delete them",
		e.Group, strings.Join(e.Servers, ", "), e.Group)
}

// apply returns the group's spec with the request's overrides.
func (r RebuildRequest) apply(s Spec) (Spec, error) {
	if r.Strategy != "" {
		if r.Strategy != StrategyRolling && r.Strategy != StrategyBlueGreen {
			return s, badRequest("strategy %q: want %s or %s", r.Strategy, StrategyRolling, StrategyBlueGreen)
		}
		s.Strategy = r.Strategy
		// Blue/green moves one group address at once; a group with a single address
		// switched to blue/green here uses it that way.
		if s.Strategy == StrategyBlueGreen && len(s.Addresses) == 1 {
			s.AddressMode = AddressGroup
		}
	}
	if r.MaxSurge != nil {
		if *r.MaxSurge < 0 {
			return s, badRequest("max surge %d: must not be negative", *r.MaxSurge)
		}
		s.MaxSurge = *r.MaxSurge
	}
	if r.MaxUnavailable != nil {
		if *r.MaxUnavailable < 0 {
			return s, badRequest("max unavailable %d: must not be negative", *r.MaxUnavailable)
		}
		s.MaxUnavailable = *r.MaxUnavailable
	}
	if err := s.Validate(); err != nil {
		return s, BadRequestError{err}
	}
	s.OnlySlot = r.Slot
	return s, nil
}

// Rebuild is the rebuild use case, what `remint rebuild` runs: with the group's lease
// held, it retires old servers whose keep-old time is over, finishes an unfinished
// rollout, refuses servers never adopted, deletes orphans older than OrphanMinAge,
// resolves the target image, plans, and runs a new rollout unless every slot is on the
// target already. Losing the lease stops it (the rollout stays recorded and resumes).
//
// Past Options.Deadline (a run resumed after its maintenance window closed) it still
// finishes the steps the unfinished rollout had under way, so no slot is left half
// replaced, but starts no new slot and no new rollout: it returns a *DeadlineError
// naming what is left.
//
// A second Rebuild of the group while the first runs fails with a *lease.HeldError,
// before anything is read or changed. Bad input is a BadRequestError.
func Rebuild(ctx context.Context, d Deps, req RebuildRequest) (res RebuildResult, err error) {
	res.Group = d.Spec.Group
	spec, err := req.apply(d.Spec)
	if err != nil {
		return res, err
	}
	ex, events, err := d.executor(spec)
	if err != nil {
		return res, err
	}
	defer func() { res.Events = events.list() }()

	if req.DryRun {
		if err := ex.RequireRecorded(ctx); err != nil {
			return res, err
		}
		target, err := ResolveTarget(ctx, d.Catalog, d.Images, spec, req.Image)
		if err != nil {
			return res, err
		}
		plan, err := ex.Plan(ctx, target, req.Force)
		res.Target, res.Plan = target, &plan
		return res, err
	}

	l, err := d.acquire(ctx, spec.Group)
	if err != nil {
		return res, err
	}
	defer l.Release(ctx)
	ctx = l.Context()
	// Before any change: a state recording servers or addresses that are gone would fail
	// half-way; say per slot what is missing and how to get out (ErrStaleState).
	if err := ex.RequireRecorded(ctx); err != nil {
		return res, err
	}

	if res.Retired, err = ex.RetireExpired(ctx, ex.now()); err != nil {
		return res, err
	} else if res.Retired > 0 {
		ex.log.Info("retired old servers whose keep-old time is over", "group", spec.Group, "count", res.Retired)
	}

	unfinished, err := ex.Unfinished(ctx)
	if err != nil {
		return res, err
	}
	if unfinished != "" {
		r, err := ex.Run(ctx, unfinished)
		res.Resumed = &r
		if err != nil {
			return res, err
		}
	}

	if !req.Resume {
		if err := ex.refuseUnadopted(ctx); err != nil {
			return res, err
		}
	}
	if err := ex.sweepGroupOrphans(ctx, &res, OrphanMinAge(spec, l.TTL())); err != nil {
		return res, err
	}
	if req.Resume {
		if unfinished == "" {
			ex.log.Info("nothing to resume", "group", spec.Group)
		}
		return res, nil
	}

	if req.Force {
		if id, err := ex.completedOf(ctx, req.Earlier); err != nil {
			return res, err
		} else if id != "" {
			req.Force = false
			ex.emit(ctx, Event{Slot: -1, Step: "forced-done",
				Message: fmt.Sprintf("the forced replacement was done by rollout %s of this request: only slots not on the target are replaced", id)})
		}
	}

	target, err := ResolveTarget(ctx, d.Catalog, d.Images, spec, req.Image)
	if err != nil {
		return res, err
	}
	res.Target = target
	plan, err := ex.Plan(ctx, target, req.Force)
	if err != nil {
		return res, err
	}
	if len(plan.Work()) == 0 {
		res.UpToDate = true
		ex.emit(ctx, Event{Slot: -1, Step: "up-to-date",
			Message: fmt.Sprintf("every slot is on %s: nothing to do (--force replaces anyway)", target.Version)})
		return res, nil
	}
	if ex.window().passed() {
		// The window closed (a resumed run finished what was under way): no new rollout
		// starts; say what is left for the next run.
		de := ex.planDeadlineError(plan)
		ex.emit(ctx, Event{Slot: -1, Step: "window-closed", Failed: true, Message: de.Error()})
		return res, de
	}
	plan, id, err := ex.Prepare(ctx, target, req.Force)
	if err != nil {
		return res, err
	}
	res.Plan = &plan
	r, err := ex.Run(ctx, id)
	res.Rollout = &r
	return res, err
}

// RollbackGroup is the rollback use case, what `remint rollback` runs: with the group's
// lease held, Executor.Rollback.
func RollbackGroup(ctx context.Context, d Deps) (Result, error) {
	ex, _, err := d.executor(d.Spec)
	if err != nil {
		return Result{}, err
	}
	l, err := d.acquire(ctx, d.Spec.Group)
	if err != nil {
		return Result{}, err
	}
	defer l.Release(ctx)
	return ex.Rollback(l.Context())
}

// AdoptGroup is the adopt use case, what `remint group adopt` runs: with the group's
// lease held, Executor.Adopt, naming image versions from the images' properties.
func AdoptGroup(ctx context.Context, d Deps) ([]Adopted, []string, error) {
	ex, _, err := d.executor(d.Spec)
	if err != nil {
		return nil, nil, err
	}
	l, err := d.acquire(ctx, d.Spec.Group)
	if err != nil {
		return nil, nil, err
	}
	defer l.Release(ctx)
	var versionOf func(ctx context.Context, imageID string) string
	if d.Images != nil {
		versionOf = func(ctx context.Context, imageID string) string {
			img, err := d.Images.GetImage(ctx, imageID)
			if err != nil {
				return ""
			}
			return img.Properties[catalog.PropVersion]
		}
	}
	return ex.Adopt(l.Context(), versionOf)
}

// executor builds the executor for spec; its events are also collected.
func (d Deps) executor(spec Spec) (*Executor, *eventLog, error) {
	o := d.Options
	o.Spec = spec
	log := &eventLog{sink: o.Events}
	o.Events = log.add
	ex, err := NewExecutor(o)
	return ex, log, err
}

type eventLog struct {
	mu     sync.Mutex
	sink   func(Event)
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	if l.sink != nil {
		l.sink(e)
	}
}

func (l *eventLog) list() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// refuseUnadopted returns an UnadoptedError (a bad request) when the store records no
// slot of the group but servers of the group exist in the cloud.
func (e *Executor) refuseUnadopted(ctx context.Context) error {
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil || len(slots) > 0 {
		return err
	}
	var servers []openstack.Server
	err = e.do(ctx, func(ctx context.Context) (err error) {
		servers, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: e.spec.Group + "-"})
		return err
	})
	if err != nil {
		return fmt.Errorf("list servers of group %s: %w", e.spec.Group, err)
	}
	var names []string
	for _, s := range servers {
		if _, ok := e.slotOf(s); ok && s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
			names = append(names, s.Name)
		}
	}
	if len(names) > 0 {
		return BadRequestError{&UnadoptedError{Group: e.spec.Group, Servers: names}}
	}
	return nil
}

// sweepGroupOrphans finds the group's orphans and deletes those at least minAge old.
// A group with no recorded slot has no orphans to delete: its servers, if any, are
// waiting to be adopted (refuseUnadopted stopped the rebuild before this).
func (e *Executor) sweepGroupOrphans(ctx context.Context, res *RebuildResult, minAge time.Duration) error {
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil || len(slots) == 0 {
		return err
	}
	e.setRollout("") // orphan events belong to no rollout
	orphans, err := e.Orphans(ctx, e.now())
	if err != nil {
		return err
	}
	res.Orphans = orphans
	res.DeletedOrphans, err = e.deleteOrphans(ctx, orphans, minAge)
	return err
}

// completedOf returns the first of ids that is a completed rollout ("" when none is).
func (e *Executor) completedOf(ctx context.Context, ids []string) (string, error) {
	for _, id := range ids {
		ro, err := e.store.GetRollout(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read rollout %s of this request: %w", id, err)
		}
		if ro.Status == store.RolloutCompleted {
			return id, nil
		}
	}
	return "", nil
}
