package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// run is one Run's view of a rollout.
type run struct {
	rollout store.Rollout
	plan    Plan
	// deadline stops new slots and waves once the maintenance window closed.
	deadline *deadline
	mu       sync.Mutex
	// ips caches the fixed IP of servers seen ACTIVE in this run.
	ips map[string]string
	// created is when this run created each replacement; fastest is the shortest time
	// from create to seen ACTIVE so far (an upper bound of the boot time).
	createdTimes map[string]time.Time
	fastest      time.Duration
	// watch is the rollout's batched status poll (nil with PerServerPolling).
	watch *watcher
	// ports caches the port of servers (replacements as the poll found them, old servers
	// looked up in one batch); fips caches floating IPs as last read or written. A stale
	// floating IP costs nothing but a re-read: every move carries its revision (If-Match).
	ports   map[string]string
	pending map[string]*portFuture // ports the batched call is still fetching
	fips    map[string]openstack.FloatingIP
	// fastestUp is the shortest time from ACTIVE to a passing health probe so far
	// (zero once a replacement passed its first probe); upSeen says one was measured.
	fastestUp time.Duration
	upSeen    bool
}

func (r *run) setPort(server, port string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ports == nil {
		r.ports = map[string]string{}
	}
	r.ports[server] = port
}

func (r *run) port(server string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ports[server]
}

func (r *run) setPortFuture(server string, f *portFuture) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string]*portFuture{}
	}
	r.pending[server] = f
}

func (r *run) portFuture(server string) *portFuture {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[server]
}

func (r *run) setFIP(f openstack.FloatingIP) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fips == nil {
		r.fips = map[string]openstack.FloatingIP{}
	}
	r.fips[f.ID] = f
}

func (r *run) fip(id string) (openstack.FloatingIP, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.fips[id]
	return f, ok
}

func (r *run) dropFIP(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.fips, id)
}

func (r *run) up(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.upSeen || d < r.fastestUp {
		r.fastestUp, r.upSeen = d, true
	}
}

func (r *run) upDelay() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fastestUp
}

func (r *run) created(id string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.createdTimes == nil {
		r.createdTimes = map[string]time.Time{}
	}
	r.createdTimes[id] = at
}

func (r *run) createdAt(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.createdTimes[id]
	return t, ok
}

func (r *run) booted(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fastest == 0 || d < r.fastest {
		r.fastest = d
	}
}

func (r *run) fastestBoot() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fastest
}

func (r *run) setIP(id, ip string) {
	r.mu.Lock()
	r.ips[id] = ip
	r.mu.Unlock()
}

func (r *run) ip(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ips[id]
}

// Run executes (or resumes) the rollout rolloutID to its end and returns the summary.
// It returns an error when the rollout failed or was stopped; a stopped rollout (ctx
// cancelled, process killed) stays "running" in the store and a later Run resumes it.
func (e *Executor) Run(ctx context.Context, rolloutID string) (Result, error) {
	start := e.now()
	ro, err := e.store.GetRollout(ctx, rolloutID)
	if err != nil {
		return Result{}, err
	}
	if ro.Group != e.spec.Group {
		return Result{}, fmt.Errorf("rollout %s belongs to group %s, not %s", rolloutID, ro.Group, e.spec.Group)
	}
	e.setRollout(rolloutID)
	r := &run{rollout: ro, ips: map[string]string{}}
	if err := json.Unmarshal(ro.Plan, &r.plan); err != nil {
		return Result{}, fmt.Errorf("decode plan of rollout %s: %w", rolloutID, err)
	}
	steps, err := e.store.Steps(ctx, rolloutID)
	if err != nil {
		return Result{}, err
	}
	if ro.Status != store.RolloutRunning {
		return e.result(r, steps, start), nil
	}
	if err := e.recover(ctx, r, steps); err != nil {
		return e.result(r, steps, start), err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !e.PerServerPolling {
		// Nova filters names by regular expression: ask only for this rollout's
		// replacements (<group>-<slot>-<rollout>), so polls carry no old server's changes.
		opts := openstack.ListServersOpts{NamePrefix: e.spec.Group + "-", Metadata: map[string]string{MetaRollout: rolloutID},
			NameRegexp: "^" + regexp.QuoteMeta(e.spec.Group+"-") + "[0-9]+" + regexp.QuoteMeta("-"+rolloutID) + "$"}
		r.watch = newWatcher(e.cloud, opts, e.now, e.BootTimeout, e.BootPoll)
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go r.watch.run(wctx)
		e.prefetch(ctx, r, steps)
	}
	r.deadline = e.window()
	var failed []string
	if r.plan.Strategy == StrategyBlueGreen || e.spec.Bake > 0 {
		// A bake holds each wave until it passed: waves, not a sliding window.
		failed = e.runWaves(ctx, cancel, r, steps)
	} else {
		failed = e.runRolling(ctx, cancel, r, steps)
	}
	if err := context.Cause(ctx); err != nil {
		return e.result(r, steps, start), err
	}
	if len(failed) == 0 && r.deadline.stopped() {
		// The window closed: what was under way finished; nothing new starts. The
		// rollout stays running, for the next run to resume.
		de := e.deadlineError(rolloutID, steps)
		e.emit(ctx, Event{Slot: -1, Step: "window-closed", Failed: true, Message: de.Error()})
		return e.result(r, steps, start), de
	}
	if len(failed) == 0 {
		failed = e.runRemovals(ctx, cancel, r, steps)
		if err := context.Cause(ctx); err != nil {
			return e.result(r, steps, start), err
		}
		if len(failed) == 0 && r.deadline.stopped() {
			// Removals not started when the window closed wait for the next run.
			de := e.deadlineError(rolloutID, steps)
			e.emit(ctx, Event{Slot: -1, Step: "window-closed", Failed: true, Message: de.Error()})
			return e.result(r, steps, start), de
		}
	}
	if err := e.sweepOrphans(ctx, r, steps, nil); err != nil {
		return e.result(r, steps, start), err
	}
	status, msg := store.RolloutCompleted, ""
	if len(failed) > 0 {
		status, msg = store.RolloutFailed, joinLines(failed)
	}
	if err := e.store.SetRolloutStatus(ctx, rolloutID, status, msg, e.now()); err != nil {
		return e.result(r, steps, start), err
	}
	r.rollout.Status, r.rollout.Error = status, msg
	res := e.result(r, steps, start)
	if status != store.RolloutCompleted {
		// Each slot's error was its own event: name the slots, do not repeat the errors.
		e.emit(ctx, Event{Slot: -1, Step: "failed", Failed: true, Message: fmt.Sprintf("rollout %s failed: %s", rolloutID, failedSlots(failed))})
		return res, fmt.Errorf("rollout %s of group %s failed: %s", rolloutID, e.spec.Group, msg)
	}
	e.emit(ctx, Event{Slot: -1, Step: "completed", Message: fmt.Sprintf("rollout %s completed: every slot on %s", rolloutID, ro.ImageVersion)})
	return res, nil
}

// runWaves runs the plan wave by wave (blue/green: one wave whose replacements must all
// be healthy before any address moves). It stops after a wave with a failure.
func (e *Executor) runWaves(ctx context.Context, cancel context.CancelCauseFunc, r *run, steps []store.Step) []string {
	var failed []string
	bakeFailed := -1 // the slot that failed a bake
	for w := 1; w <= r.plan.Waves && len(failed) == 0; w++ {
		var wave []*store.Step
		for i := range steps {
			if steps[i].Wave == w && !terminalState(steps[i].State) && Mode(steps[i].Mode) != ModeRemove {
				wave = append(wave, &steps[i])
			}
		}
		if len(wave) == 0 {
			continue
		}
		if !underway(wave) && r.deadline.passed() {
			break
		}
		if err := e.checkAlarm(ctx, fmt.Sprintf("before wave %d", w)); err != nil && !underway(wave) {
			if ctx.Err() != nil {
				return nil
			}
			failed = append(failed, err.Error())
			break
		}
		e.emit(ctx, Event{Slot: -1, Step: "wave", Message: fmt.Sprintf("wave %d of %d: %d slots", w, r.plan.Waves, len(wave))})
		if r.plan.Strategy == StrategyBlueGreen {
			// Every replacement must be healthy before any address moves.
			errs := e.parallel(ctx, cancel, wave, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, StateHealthy) })
			if context.Cause(ctx) != nil {
				return nil
			}
			if firstErr(errs) != nil {
				// One failed: the set is not whole; clean up every replacement, keep the old set.
				e.parallel(ctx, cancel, wave, func(ctx context.Context, st *store.Step) error {
					if st.State == StateFailed {
						return nil
					}
					return e.fail(ctx, r, st, fmt.Errorf("another replacement of the blue/green set failed: %w", firstErr(errs)))
				})
			}
		}
		if e.spec.Bake > 0 {
			errs := e.parallel(ctx, cancel, wave, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, StateBaking) })
			if context.Cause(ctx) != nil {
				return nil
			}
			failed = append(failed, failures(e.spec, wave, errs)...)
			if len(failed) > 0 {
				break // a slot of the wave failed: the wave is rolled back, unbaked
			}
			if slot, err := e.bakeWave(ctx, r, w, wave); err != nil {
				bakeFailed = slot
				if context.Cause(ctx) != nil || errors.Is(err, errCrash) {
					cancel(err)
					return nil
				}
				failed = append(failed, err.Error())
				break
			}
			if e.spec.RollbackAll && w < r.plan.Waves {
				continue // baked; kept baking until the last wave passed
			}
		}
		errs := e.parallel(ctx, cancel, wave, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, "") })
		if context.Cause(ctx) != nil {
			return nil
		}
		failed = append(failed, failures(e.spec, wave, errs)...)
	}
	if e.spec.Bake > 0 && len(failed) > 0 {
		// Roll back what is still baking: the failed wave, or with rollback_on_failure:
		// all every wave so far (their old servers were kept for this).
		// A slot replaced in unavailable mode has no old server to go back to: unless it
		// is the one that failed, its healthy replacement stays.
		var baking, staying []*store.Step
		for i := range steps {
			switch st := &steps[i]; {
			case st.State != StateBaking:
			case Mode(st.Mode) == ModeUnavailable && st.OldServerID != "" && st.Slot != bakeFailed:
				staying = append(staying, st)
			default:
				baking = append(baking, st)
			}
		}
		cause := fmt.Errorf("rolled back: %s", joinLines(failed))
		e.parallel(ctx, cancel, baking, func(ctx context.Context, st *store.Step) error { return e.fail(ctx, r, st, cause) })
		if context.Cause(ctx) != nil {
			return nil
		}
		errs := e.parallel(ctx, cancel, staying, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, "") })
		if context.Cause(ctx) != nil {
			return nil
		}
		return append(failed, failures(e.spec, staying, errs)...)
	}
	if e.spec.Bake > 0 && e.spec.RollbackAll && !r.deadline.stopped() {
		// Every wave baked: the slots kept baking for a rollback of all are recorded now.
		var baked []*store.Step
		for i := range steps {
			if steps[i].State == StateBaking {
				baked = append(baked, &steps[i])
			}
		}
		errs := e.parallel(ctx, cancel, baked, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, "") })
		if context.Cause(ctx) != nil {
			return nil
		}
		failed = append(failed, failures(e.spec, baked, errs)...)
	}
	return failed
}

// runRolling runs a rolling plan as a sliding window: a slot starts as soon as a surge
// (or unavailability) token is free, in plan order, instead of waiting for the slowest
// slot of its wave. The tokens are the plan's per-wave budget, so the group never has
// more than count+surge servers nor more than unavailable slots down, exactly as with
// waves. After a failure no new slot starts; slots already under way finish.
func (e *Executor) runRolling(ctx context.Context, cancel context.CancelCauseFunc, r *run, steps []store.Step) []string {
	order := map[int]int{}
	for i, ps := range r.plan.Steps {
		order[ps.Slot] = i
	}
	var todo []*store.Step
	for i := range steps {
		if !terminalState(steps[i].State) && Mode(steps[i].Mode) != ModeRemove {
			todo = append(todo, &steps[i])
		}
	}
	sort.SliceStable(todo, func(i, j int) bool {
		// Steps already under way first: they hold budget from before an interruption.
		pi, pj := todo[i].State != StatePending, todo[j].State != StatePending
		if pi != pj {
			return pi
		}
		return order[todo[i].Slot] < order[todo[j].Slot]
	})
	tokens := map[Mode]chan struct{}{}
	for _, m := range []Mode{ModeSurge, ModeUnavailable} {
		n := 0
		for _, ps := range r.plan.Wave(1) {
			if ps.Mode == m {
				n++
			}
		}
		tokens[m] = make(chan struct{}, max(n, 1))
	}
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failed) > 0 || ctx.Err() != nil
	}
	for _, st := range todo {
		underway := st.State != StatePending
		tok := tokens[Mode(st.Mode)] // nil for creates: they need no budget
		if tok != nil {
			select {
			case tok <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		// After a failure no new slot starts, but a slot already under way (before an
		// interruption) is always finished or cleaned up.
		if !underway && stopped() {
			break
		}
		if !underway && r.deadline.passed() {
			if tok != nil {
				<-tok
			}
			break
		}
		if !underway {
			if err := e.checkAlarm(ctx, fmt.Sprintf("before slot %s", e.spec.slotName(st.Slot))); err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
				}
				if tok != nil {
					<-tok
				}
				break
			}
		}
		wg.Go(func() {
			// The budget is held until the old server has left service: once the
			// address moved and the gate passed (retiring), the old server only drains
			// and is deleted, and the next slot may start meanwhile (as Kubernetes does
			// not count terminating pods against maxSurge).
			err := e.advance(ctx, r, st, StateRetiring)
			if err == nil && st.State == StateRetiring && ctx.Err() == nil {
				if tok != nil {
					<-tok
					tok = nil
				}
				err = e.advance(ctx, r, st, "")
			}
			if errors.Is(err, errCrash) {
				cancel(err)
			}
			if ctx.Err() != nil {
				return // dying: the budget stays taken, nothing more starts
			}
			if f := failures(e.spec, []*store.Step{st}, []error{err}); len(f) > 0 {
				mu.Lock()
				failed = append(failed, f...)
				mu.Unlock()
			}
			// Release only after the failure is recorded, so no new slot slips in.
			if tok != nil {
				<-tok
			}
		})
	}
	wg.Wait()
	return failed
}

// underway reports whether any step of a wave has started (before an interruption): a
// wave under way is finished (or rolled back), whatever the alarm says before it.
func underway(wave []*store.Step) bool {
	for _, st := range wave {
		if st.State != StatePending {
			return true
		}
	}
	return false
}

// failedSlots names the slots of failures' lines ("slot web-0: …"): "slot web-0 failed",
// "slots web-0, web-2 failed"; a line about the rollout rather than a slot (an alarm gate
// before a wave, a failed bake) adds its reason, the text before its first colon.
func failedSlots(failed []string) string {
	var names, reasons []string
	for _, f := range failed {
		if rest, ok := strings.CutPrefix(f, "slot "); ok {
			name, _, _ := strings.Cut(rest, ":")
			names = append(names, name)
			continue
		}
		reason, _, _ := strings.Cut(f, ": ")
		reasons = append(reasons, reason)
	}
	var parts []string
	switch len(names) {
	case 0:
	case 1:
		parts = append(parts, "slot "+names[0]+" failed")
	default:
		parts = append(parts, "slots "+strings.Join(names, ", ")+" failed")
	}
	return strings.Join(append(parts, reasons...), "; ")
}

func failures(spec Spec, steps []*store.Step, errs []error) []string {
	var out []string
	for i, st := range steps {
		switch {
		case st.State == StateFailed:
			out = append(out, fmt.Sprintf("slot %s: %s", spec.slotName(st.Slot), st.Error))
		case errs[i] != nil:
			out = append(out, fmt.Sprintf("slot %s: %v", spec.slotName(st.Slot), errs[i]))
		}
	}
	return out
}

// parallel runs fn for every step concurrently and waits for all. A crash (simulated
// kill) cancels the others through cancel.
func (e *Executor) parallel(ctx context.Context, cancel context.CancelCauseFunc, steps []*store.Step, fn func(context.Context, *store.Step) error) []error {
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, st := range steps {
		wg.Go(func() {
			errs[i] = fn(ctx, st)
			if errors.Is(errs[i], errCrash) {
				cancel(errs[i])
			}
		})
	}
	wg.Wait()
	return errs
}

// advance drives one step's state machine until it is terminal (or reaches stopAt).
// A cloud failure fails the step (cleaning up); a cancelled ctx returns at once and
// leaves the step where the store says it is.
func (e *Executor) advance(ctx context.Context, r *run, st *store.Step, stopAt string) error {
	for !terminalState(st.State) && st.State != stopAt {
		var err error
		switch st.State {
		case StatePending:
			if Mode(st.Mode) == ModeRemove {
				err = e.enter(ctx, st, StateRemoving, st.OldServerID, "count lowered: remove the slot")
			} else if Mode(st.Mode) == ModeUnavailable && st.OldServerID != "" {
				err = e.enter(ctx, st, StateRetiringFirst, st.OldServerID, "retire the old server first (max unavailable)")
			} else {
				st.NewServerName = e.replacementName(r, st)
				err = e.enter(ctx, st, StateCreating, "", fmt.Sprintf("create %s from %s", st.NewServerName, r.rollout.ImageVersion))
			}
		case StateRemoving:
			err = e.remove(ctx, r, st)
		case StateRetiringFirst:
			err = e.retireFirst(ctx, r, st)
		case StateCreating:
			err = e.create(ctx, r, st)
		case StateBooting:
			err = e.boot(ctx, r, st)
		case StateChecking:
			err = e.check(ctx, r, st)
		case StateHealthy:
			if st.AddressID == "" {
				err = e.settle(ctx, r, st)
			} else {
				err = e.enter(ctx, st, StateMoving, st.NewServerID, fmt.Sprintf("move %s to the replacement", st.Address))
			}
		case StateMoving:
			err = e.move(ctx, r, st)
		case StateGating:
			err = e.gateCheck(ctx, r, st)
		case StateBaking:
			// The scheduler stops here (stopAt) and bakes the wave; past the bake the slot
			// is recorded and its old server retired or kept.
			err = e.afterMove(ctx, r, st)
		case StateRetiring:
			err = e.retire(ctx, r, st)
		case StateFailing:
			err = e.cleanup(ctx, r, st)
			if err == nil {
				return fmt.Errorf("%s", st.Error)
			}
		default:
			err = fmt.Errorf("unknown step state %q", st.State)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil || errors.Is(err, errCrash) {
			return err
		}
		if st.State == StateFailing {
			// Cleanup itself failed: leave the step failing so a resume finishes it.
			return fmt.Errorf("clean up slot %s: %w", e.spec.slotName(st.Slot), err)
		}
		return e.fail(ctx, r, st, err)
	}
	if st.State == StateFailed {
		return errors.New(st.Error)
	}
	return nil
}

func (e *Executor) result(r *run, steps []store.Step, start time.Time) Result {
	res := Result{Rollout: r.rollout.ID, Group: r.rollout.Group, Status: r.rollout.Status, Error: r.rollout.Error,
		Target: Target{ImageID: r.rollout.ImageID, Version: r.rollout.ImageVersion}, Duration: e.now().Sub(start)}
	for _, st := range steps {
		res.Slots = append(res.Slots, SlotResult{Slot: st.Slot, State: st.State, OldServerID: st.OldServerID, OldImageVersion: st.OldImageVersion,
			NewServerID: st.NewServerID, Address: st.Address, Error: st.Error})
	}
	return res
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func joinLines(list []string) string {
	out := ""
	for i, s := range list {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}
