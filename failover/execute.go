package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// Step states. Each is written to the store before the cloud call it leads to, so a
// process killed anywhere resumes from the last state written (see resume.go).
const (
	StatePending       = "pending"        // nothing done yet
	StateRetiringFirst = "retiring-first" // unavailable mode: the old server is deleted first
	StateCreating      = "creating"       // CreateServer next (name and tags recorded)
	StateBooting       = "booting"        // replacement created; waiting for ACTIVE
	StateChecking      = "checking"       // ACTIVE; health checks (grace, threshold, deadline)
	StateHealthy       = "healthy"        // passed; next the address moves
	StateMoving        = "moving"         // the revision-checked address update next
	StateGating        = "gating"         // address moved; checking through the address
	StateRetiring      = "retiring"       // old server deleted after the soak
	StateKept          = "kept"           // old server kept for rollback until retire_after
	StateDone          = "done"
	StateFailing       = "failing" // cleaning up: address back, replacement deleted
	StateFailed        = "failed"
	StateRolledBack    = "rolled-back"
)

// terminalState reports whether a step needs no more work from a rollout.
func terminalState(s string) bool {
	switch s {
	case StateDone, StateKept, StateFailed, StateRolledBack:
		return true
	}
	return false
}

// AddressChecker verifies, through a failover address, that the address serves the
// expected server (the post-move health gate). *HTTPGate implements it.
type AddressChecker interface {
	CheckAddress(ctx context.Context, address, serverID string) error
}

// Options wire an Executor.
type Options struct {
	Cloud  Cloud
	Store  *store.Store
	Spec   Spec
	Prober health.Prober // checks a replacement on its fixed IP; nil skips health checks
	Policy health.Policy // interval, timeout, thresholds, grace, deadline
	// Gate checks through the address after each move; nil uses Prober on the address.
	Gate AddressChecker
	// GatePolicy bounds the gate; zero uses Policy with no grace period and a threshold
	// of one pass.
	GatePolicy health.Policy
	// Events receives every event; nil drops them (they are still stored).
	Events func(Event)
	// Progress, when set, receives ephemeral progress (each health probe of a
	// replacement), which is neither stored nor sent to Events: for live terminals.
	Progress func(Event)
	Now      func() time.Time
	Logger   *slog.Logger
	// StepBackoff builds the backoff for retrying one step's cloud call after the
	// adapter's own retries gave up on a retryable error; nil: exponential from 250ms,
	// at most 6 tries.
	StepBackoff func() retry.Backoff
	// Drain is how long a server that just lost its address keeps running before it is
	// deleted, so requests already forwarded to it finish (connection draining). Zero
	// means 1s; negative means none.
	Drain time.Duration
	// crash, in tests, returns an error at chosen points to simulate kill -9.
	crash func(point string) error
}

// Executor runs rollouts of one group. It is safe to use from one goroutine at a time;
// the steps of a wave run concurrently inside Run.
type Executor struct {
	Options
	cloud Cloud
	store *store.Store
	spec  Spec
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex
	rolloutID string
}

// NewExecutor checks the options and returns an executor.
func NewExecutor(o Options) (*Executor, error) {
	if o.Cloud == nil || o.Store == nil {
		return nil, errors.New("failover executor needs a cloud and a store")
	}
	if err := o.Spec.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StepBackoff == nil {
		o.StepBackoff = func() retry.Backoff {
			return retry.WithMaxRetries(5, retry.WithJitterPercent(20, retry.NewExponential(250*time.Millisecond)))
		}
	}
	switch {
	case o.Drain == 0:
		o.Drain = time.Second
	case o.Drain < 0:
		o.Drain = 0
	}
	if o.GatePolicy == (health.Policy{}) {
		// The replacement already passed the threshold on its own address; through the
		// failover address one answer from it proves the move (failures are still retried
		// until the deadline).
		o.GatePolicy = o.Policy
		o.GatePolicy.GracePeriod = 0
		o.GatePolicy.HealthyThreshold = 1
	}
	return &Executor{Options: o, cloud: o.Cloud, store: o.Store, spec: o.Spec, log: o.Logger, now: o.Now}, nil
}

// ErrUnfinished is returned by Prepare when the group has a running rollout; resume it
// with Run (remint rebuild --resume does).
var ErrUnfinished = errors.New("the group has an unfinished rollout")

// Prepare plans a rollout of the group to target and records it (status running, every
// step pending) without touching any server. Addresses to allocate are allocated and
// recorded here, so the plan's steps carry floating IP ids.
func (e *Executor) Prepare(ctx context.Context, target Target, force bool) (Plan, string, error) {
	if r, err := e.store.UnfinishedRollout(ctx, e.spec.Group); err == nil {
		return Plan{}, r.ID, fmt.Errorf("group %s: rollout %s (to %s) is %s: %w", e.spec.Group, r.ID, r.ImageVersion, r.Status, ErrUnfinished)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Plan{}, "", err
	}
	cur, err := e.Current(ctx)
	if err != nil {
		return Plan{}, "", err
	}
	plan, err := MakePlan(PlanInput{Spec: e.spec, Target: target, Slots: cur, Force: force})
	if err != nil {
		return Plan{}, "", err
	}
	id := randomHex(4)
	e.setRollout(id)
	var steps []store.Step
	for _, ps := range plan.Work() {
		st := store.Step{Slot: ps.Slot, Wave: ps.Wave, Mode: string(ps.Mode), State: StatePending,
			OldServerID: ps.OldServerID, OldImageVersion: ps.OldImageVersion, Updated: e.now()}
		if a, ok := e.spec.addressOf(ps.Slot); ok {
			fip, err := e.resolveAddress(ctx, ps.Slot, a)
			if err != nil {
				return plan, "", err
			}
			st.AddressID, st.Address = fip.ID, fip.Address
		}
		steps = append(steps, st)
	}
	raw, err := json.Marshal(plan)
	if err != nil {
		return plan, "", fmt.Errorf("encode plan of group %s: %w", e.spec.Group, err)
	}
	now := e.now()
	r := store.Rollout{ID: id, Group: e.spec.Group, ImageID: target.ImageID, ImageVersion: target.Version,
		Strategy: plan.Strategy, Status: store.RolloutRunning, Plan: raw, Created: now, Updated: now}
	if err := e.store.CreateRollout(ctx, r, steps); err != nil {
		return plan, "", err
	}
	e.emit(Event{Slot: -1, Step: "planned", Message: fmt.Sprintf("rollout %s: %d slots to %s in %d waves (%s)", id, len(steps), target.Version, plan.Waves, plan.Strategy)})
	return plan, id, nil
}

// Plan computes the plan Prepare would record, touching nothing: the group's current
// servers from the store and the cloud, and addresses already allocated shown by address.
func (e *Executor) Plan(ctx context.Context, target Target, force bool) (Plan, error) {
	cur, err := e.Current(ctx)
	if err != nil {
		return Plan{}, err
	}
	p, err := MakePlan(PlanInput{Spec: e.spec, Target: target, Slots: cur, Force: force})
	if err != nil {
		return p, err
	}
	recs, err := e.store.Addresses(ctx, e.spec.Group)
	if err != nil {
		return p, err
	}
	for _, r := range recs {
		for i := range p.Steps {
			if p.Steps[i].Slot == r.Slot && r.Address != "" {
				p.Steps[i].Address = r.Address
			}
		}
	}
	return p, nil
}

// Current returns what each slot of the group runs now: the store's slots, checked
// against the cloud (a recorded server that no longer exists leaves its slot empty).
func (e *Executor) Current(ctx context.Context) ([]Current, error) {
	slots, err := e.store.Slots(ctx, e.spec.Group)
	if err != nil {
		return nil, err
	}
	if len(slots) == 0 {
		return nil, nil
	}
	var servers []openstack.Server
	err = e.do(ctx, func(ctx context.Context) (err error) {
		servers, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: e.spec.Group + "-"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list servers of group %s: %w", e.spec.Group, err)
	}
	byID := map[string]openstack.Server{}
	for _, s := range servers {
		byID[s.ID] = s
	}
	var out []Current
	for _, sl := range slots {
		s, ok := byID[sl.ServerID]
		if !ok || sl.Slot >= e.spec.Count {
			continue
		}
		out = append(out, Current{Slot: sl.Slot, ServerID: sl.ServerID, ServerName: s.Name, ImageID: s.ImageID, ImageVersion: sl.ImageVersion, Status: s.Status})
	}
	return out, nil
}

// run is one Run's view of a rollout.
type run struct {
	rollout store.Rollout
	plan    Plan
	mu      sync.Mutex
	// ips caches the fixed IP of servers seen ACTIVE in this run.
	ips map[string]string
	// created is when this run created each replacement; fastest is the shortest time
	// from create to seen ACTIVE so far (an upper bound of the boot time).
	createdTimes map[string]time.Time
	fastest      time.Duration
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
	var failed []string
	if r.plan.Strategy == StrategyBlueGreen {
		failed = e.runWaves(ctx, cancel, r, steps)
	} else {
		failed = e.runRolling(ctx, cancel, r, steps)
	}
	if err := context.Cause(ctx); err != nil {
		return e.result(r, steps, start), err
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
		e.emit(Event{Slot: -1, Step: "failed", Failed: true, Message: fmt.Sprintf("rollout %s failed: %s", rolloutID, failedSlots(failed))})
		return res, fmt.Errorf("rollout %s of group %s failed: %s", rolloutID, e.spec.Group, msg)
	}
	e.emit(Event{Slot: -1, Step: "completed", Message: fmt.Sprintf("rollout %s completed: every slot on %s", rolloutID, ro.ImageVersion)})
	return res, nil
}

// runWaves runs the plan wave by wave (blue/green: one wave whose replacements must all
// be healthy before any address moves). It stops after a wave with a failure.
func (e *Executor) runWaves(ctx context.Context, cancel context.CancelCauseFunc, r *run, steps []store.Step) []string {
	var failed []string
	for w := 1; w <= r.plan.Waves && len(failed) == 0; w++ {
		var wave []*store.Step
		for i := range steps {
			if steps[i].Wave == w && !terminalState(steps[i].State) {
				wave = append(wave, &steps[i])
			}
		}
		if len(wave) == 0 {
			continue
		}
		e.emit(Event{Slot: -1, Step: "wave", Message: fmt.Sprintf("wave %d of %d: %d slots", w, r.plan.Waves, len(wave))})
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
		errs := e.parallel(ctx, cancel, wave, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, "") })
		if context.Cause(ctx) != nil {
			return nil
		}
		failed = append(failed, failures(e.spec, wave, errs)...)
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
		if !terminalState(steps[i].State) {
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
		wg.Go(func() {
			err := e.advance(ctx, r, st, "")
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

// failedSlots names the slots of failures' lines ("slot web-0: …"): "slot web-0 failed",
// "slots web-0, web-2 failed".
func failedSlots(failed []string) string {
	names := make([]string, len(failed))
	for i, f := range failed {
		names[i], _, _ = strings.Cut(strings.TrimPrefix(f, "slot "), ":")
	}
	if len(names) == 1 {
		return "slot " + names[0] + " failed"
	}
	return "slots " + strings.Join(names, ", ") + " failed"
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
			if Mode(st.Mode) == ModeUnavailable && st.OldServerID != "" {
				err = e.enter(ctx, st, StateRetiringFirst, st.OldServerID, "retire the old server first (max unavailable)")
			} else {
				st.NewServerName = fmt.Sprintf("%s-%d-%s", e.spec.Group, st.Slot, r.rollout.ID)
				err = e.enter(ctx, st, StateCreating, "", fmt.Sprintf("create %s from %s", st.NewServerName, r.rollout.ImageVersion))
			}
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
				err = e.afterMove(ctx, r, st)
			} else {
				err = e.enter(ctx, st, StateMoving, st.NewServerID, fmt.Sprintf("move %s to the replacement", st.Address))
			}
		case StateMoving:
			err = e.move(ctx, r, st)
		case StateGating:
			err = e.gateCheck(ctx, r, st)
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

// fail records why the step failed and cleans up: the address goes back to the old
// server if it had moved, the replacement is deleted.
func (e *Executor) fail(ctx context.Context, r *run, st *store.Step, cause error) error {
	st.Error = cause.Error()
	if err := e.enterFailed(ctx, st, StateFailing, st.NewServerID, "failed: "+st.Error); err != nil {
		return err
	}
	if err := e.cleanup(ctx, r, st); err != nil {
		// The cleanup's failure is said once, in its own event (unless the process is
		// stopping); the step stays failing, so a resume cleans up again.
		if ctx.Err() == nil && !errors.Is(err, errCrash) {
			e.emit(Event{Slot: st.Slot, Server: st.NewServerID, Step: StateFailing, Failed: true, Message: "cleaning up failed: " + err.Error()})
		}
		return cleanupError{cause: cause, cleanup: err}
	}
	return cause
}

// cleanupError is a step's failure whose cleanup failed too. It reads as the cause
// alone (the cleanup's error was an event of its own, and often repeats the cause) and
// unwraps to both.
type cleanupError struct{ cause, cleanup error }

func (e cleanupError) Error() string   { return e.cause.Error() }
func (e cleanupError) Unwrap() []error { return []error{e.cause, e.cleanup} }

func (e *Executor) retireFirst(ctx context.Context, r *run, st *store.Step) error {
	if st.AddressID != "" {
		// Never leave the address on a server that is going away: unassociate it first.
		oldPort, err := e.portOf(ctx, st.OldServerID)
		if err != nil && !openstack.IsNotFound(err) {
			return err
		}
		if oldPort != "" {
			if _, err := e.moveAddress(ctx, st.AddressID, oldPort, "", nil); err != nil {
				return err
			}
			if err := e.wait(ctx, e.Drain); err != nil {
				return err
			}
		}
	}
	if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.OldServerID) }); err != nil {
		return fmt.Errorf("delete old server %s: %w", st.OldServerID, err)
	}
	if err := e.crashPoint("deleted old first"); err != nil {
		return err
	}
	st.NewServerName = fmt.Sprintf("%s-%d-%s", e.spec.Group, st.Slot, r.rollout.ID)
	return e.enter(ctx, st, StateCreating, "", fmt.Sprintf("old server deleted; create %s from %s", st.NewServerName, r.rollout.ImageVersion))
}

func (e *Executor) serverSpec(r *run, st *store.Step) openstack.ServerSpec {
	md := maps.Clone(e.spec.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	md[MetaGroup] = e.spec.Group
	md[MetaSlot] = strconv.Itoa(st.Slot)
	md[MetaRollout] = r.rollout.ID
	md[MetaImageVersion] = r.rollout.ImageVersion
	return openstack.ServerSpec{
		Name: st.NewServerName, ImageID: r.rollout.ImageID, Flavor: e.spec.Flavor, Network: e.spec.Network,
		KeyName: e.spec.KeyName, SecurityGroups: e.spec.SecurityGroups, UserData: []byte(e.spec.UserData), Metadata: md,
	}
}

func (e *Executor) create(ctx context.Context, r *run, st *store.Step) error {
	var srv openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		srv, err = e.cloud.CreateServer(ctx, e.serverSpec(r, st))
		return err
	})
	if err != nil {
		return fmt.Errorf("create server %s: %w", st.NewServerName, err)
	}
	if err := e.crashPoint("created"); err != nil {
		return err
	}
	st.NewServerID = srv.ID
	r.created(srv.ID, e.now())
	return e.enter(ctx, st, StateBooting, srv.ID, "created; waiting for ACTIVE")
}

func (e *Executor) boot(ctx context.Context, r *run, st *store.Step) error {
	// Servers of one rollout boot alike: once one has been seen ACTIVE, wait most of the
	// fastest boot seen before polling, instead of polling all along (a 60s boot polled
	// from 200ms doubling to 2s costs ~30 calls; this costs two or three).
	createdAt, known := r.createdAt(st.NewServerID)
	if fastest := r.fastestBoot(); known && fastest > 0 {
		if err := e.wait(ctx, createdAt.Add(fastest*9/10).Sub(e.now())); err != nil {
			return err
		}
	}
	var srv openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		srv, err = e.cloud.WaitServerActive(ctx, st.NewServerID)
		return err
	})
	if err != nil {
		return fmt.Errorf("boot replacement %s: %w", st.NewServerName, err) // the adapter says what it waited for
	}
	r.setIP(srv.ID, srv.AccessIP)
	if known {
		r.booted(e.now().Sub(createdAt))
	}
	return e.enter(ctx, st, StateChecking, srv.ID, fmt.Sprintf("ACTIVE at %s; health checks", orNone(srv.AccessIP)))
}

func (e *Executor) check(ctx context.Context, r *run, st *store.Step) error {
	ip := r.ip(st.NewServerID)
	if ip == "" {
		// Resumed here: ask once more where the server is.
		var srv openstack.Server
		err := e.do(ctx, func(ctx context.Context) (err error) {
			srv, err = e.cloud.WaitServerActive(ctx, st.NewServerID)
			return err
		})
		if err != nil {
			return fmt.Errorf("read server %s: %w", st.NewServerName, err)
		}
		ip = srv.AccessIP
		r.setIP(srv.ID, ip)
	}
	if e.Prober != nil {
		if ip == "" {
			return fmt.Errorf("server %s has no fixed IP to health-check", st.NewServerName)
		}
		var observe func(health.Result)
		if e.Progress != nil {
			observe = func(res health.Result) {
				msg := fmt.Sprintf("probe %d: %d of %d passes", res.ProbeNumber, res.Passes, max(e.Policy.HealthyThreshold, 1))
				if res.Err != nil {
					msg = fmt.Sprintf("probe %d failed: %v", res.ProbeNumber, res.Err)
				}
				e.Progress(Event{Time: e.now(), Rollout: e.currentRollout(), Group: e.spec.Group, Slot: st.Slot, Server: st.NewServerID, Step: StateChecking, Message: msg})
			}
		}
		if err := health.Wait(ctx, e.Prober, ip, e.Policy, observe); err != nil {
			return fmt.Errorf("health of replacement %s: %w", st.NewServerName, err)
		}
	}
	return e.enter(ctx, st, StateHealthy, st.NewServerID, "healthy")
}

func (e *Executor) move(ctx context.Context, r *run, st *store.Step) error {
	newPort, err := e.portOf(ctx, st.NewServerID)
	if err != nil {
		return err
	}
	oldPort := ""
	fip, err := e.readAddress(ctx, st.AddressID)
	if err != nil {
		return err
	}
	if fip.PortID != "" && fip.PortID != newPort && st.OldServerID != "" {
		if oldPort, err = e.portOf(ctx, st.OldServerID); err != nil && !openstack.IsNotFound(err) {
			return err
		}
	}
	if fip.PortID != "" && fip.PortID != newPort && fip.PortID != oldPort {
		return fmt.Errorf("failover address %s: %w (port %s, the slot's server is %s); not forcing it", st.Address, errAddressTaken, fip.PortID, orNone(st.OldServerID))
	}
	if _, err := e.moveAddress(ctx, st.AddressID, fip.PortID, newPort, &fip); err != nil {
		return err
	}
	if err := e.crashPoint("moved"); err != nil {
		return err
	}
	return e.enter(ctx, st, StateGating, st.NewServerID, fmt.Sprintf("%s moved to the replacement; checking through it", st.Address))
}

func (e *Executor) gateCheck(ctx context.Context, r *run, st *store.Step) error {
	if e.spec.HealthGate && st.Address != "" {
		var err error
		switch {
		case e.Gate != nil:
			err = health.Wait(ctx, gateProber{e.Gate, st.NewServerID}, st.Address, e.GatePolicy, nil)
		case e.Prober != nil:
			err = health.Wait(ctx, e.Prober, st.Address, e.GatePolicy, nil)
		}
		if err != nil {
			return fmt.Errorf("health gate through %s: %w", st.Address, err)
		}
	}
	return e.afterMove(ctx, r, st)
}

// afterMove records the slot's new server and decides what happens to the old one.
func (e *Executor) afterMove(ctx context.Context, r *run, st *store.Step) error {
	if err := e.store.PutSlot(ctx, store.Slot{Group: e.spec.Group, Slot: st.Slot, ServerID: st.NewServerID, ServerName: st.NewServerName,
		ImageID: r.rollout.ImageID, ImageVersion: r.rollout.ImageVersion, Updated: e.now()}); err != nil {
		return err
	}
	oldGone := st.OldServerID == "" || Mode(st.Mode) == ModeUnavailable
	switch {
	case oldGone:
		return e.enter(ctx, st, StateDone, st.NewServerID, "serving")
	case e.spec.KeepOld > 0:
		st.RetireAfter = e.now().Add(max(e.spec.KeepOld, e.spec.Soak))
		return e.enter(ctx, st, StateKept, st.OldServerID, fmt.Sprintf("serving; old server kept for rollback until %s", st.RetireAfter.Format(time.RFC3339)))
	default:
		st.RetireAfter = e.now().Add(max(e.spec.Soak, e.Drain))
		return e.enter(ctx, st, StateRetiring, st.OldServerID, "serving; retiring the old server")
	}
}

func (e *Executor) retire(ctx context.Context, r *run, st *store.Step) error {
	if err := e.wait(ctx, st.RetireAfter.Sub(e.now())); err != nil {
		return err
	}
	if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.OldServerID) }); err != nil {
		return fmt.Errorf("delete old server %s: %w", st.OldServerID, err)
	}
	if err := e.crashPoint("retired"); err != nil {
		return err
	}
	return e.enter(ctx, st, StateDone, st.NewServerID, "old server deleted")
}

// cleanup undoes a failed step: the address back to the old server when it points at the
// replacement, then the replacement (and any twin created but not recorded) deleted.
func (e *Executor) cleanup(ctx context.Context, r *run, st *store.Step) error {
	if st.AddressID != "" && st.NewServerID != "" {
		newPort, err := e.portOf(ctx, st.NewServerID)
		if err != nil && !openstack.IsNotFound(err) {
			return err
		}
		fip, err := e.readAddress(ctx, st.AddressID)
		if err != nil {
			return err
		}
		if newPort != "" && fip.PortID == newPort {
			oldPort := ""
			if st.OldServerID != "" && Mode(st.Mode) != ModeUnavailable {
				if oldPort, err = e.portOf(ctx, st.OldServerID); err != nil && !openstack.IsNotFound(err) {
					return err
				}
			}
			if _, err := e.moveAddress(ctx, st.AddressID, newPort, oldPort, &fip); err != nil {
				return fmt.Errorf("move %s back: %w", st.Address, err)
			}
			e.emit(Event{Slot: st.Slot, Server: st.OldServerID, Step: "moved-back", Message: fmt.Sprintf("%s moved back to the old server", st.Address)})
			if err := e.wait(ctx, e.Drain); err != nil {
				return err
			}
		}
	}
	victims := []string{}
	if st.NewServerID != "" {
		victims = append(victims, st.NewServerID)
	} else {
		// Created but perhaps not recorded: find it by its tags.
		tagged, err := e.tagged(ctx, r.rollout.ID)
		if err != nil {
			return err
		}
		for _, s := range tagged {
			if s.Metadata[MetaSlot] == strconv.Itoa(st.Slot) {
				victims = append(victims, s.ID)
			}
		}
	}
	for _, id := range victims {
		if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, id) }); err != nil {
			return fmt.Errorf("delete replacement %s: %w", id, err)
		}
	}
	if Mode(st.Mode) == ModeUnavailable && st.OldServerID != "" {
		// The old server went first: the slot is empty now.
		if err := e.store.DeleteSlot(ctx, e.spec.Group, st.Slot); err != nil {
			return err
		}
	}
	return e.enterFailed(ctx, st, StateFailed, st.NewServerID, "replacement deleted; "+keptMessage(st))
}

func keptMessage(st *store.Step) string {
	if st.OldServerID == "" || Mode(st.Mode) == ModeUnavailable {
		return "the slot has no server"
	}
	return "the old server keeps serving"
}

func (e *Executor) portOf(ctx context.Context, serverID string) (string, error) {
	var ports []openstack.Port
	err := e.do(ctx, func(ctx context.Context) (err error) {
		ports, err = e.cloud.PortsOfServer(ctx, serverID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("list ports of server %s: %w", serverID, err)
	}
	if len(ports) == 0 {
		return "", fmt.Errorf("server %s has no port: %w", serverID, openstack.ErrNotFound)
	}
	return ports[0].ID, nil
}

func (e *Executor) readAddress(ctx context.Context, id string) (openstack.FloatingIP, error) {
	var fip openstack.FloatingIP
	err := e.do(ctx, func(ctx context.Context) (err error) {
		fip, err = e.cloud.GetFloatingIP(ctx, id)
		return err
	})
	if err != nil {
		return fip, fmt.Errorf("read floating IP %s: %w", id, err)
	}
	return fip, nil
}

func (e *Executor) tagged(ctx context.Context, rolloutID string) ([]openstack.Server, error) {
	var out []openstack.Server
	err := e.do(ctx, func(ctx context.Context) (err error) {
		out, err = e.cloud.ListServers(ctx, openstack.ListServersOpts{NamePrefix: e.spec.Group + "-", Metadata: map[string]string{MetaRollout: rolloutID}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list servers of rollout %s: %w", rolloutID, err)
	}
	return out, nil
}

// enter writes the step's new state to the store (before the cloud call it leads to)
// and reports it.
func (e *Executor) enter(ctx context.Context, st *store.Step, state, server, msg string) error {
	return e.transition(ctx, st, state, server, msg, false)
}

func (e *Executor) enterFailed(ctx context.Context, st *store.Step, state, server, msg string) error {
	return e.transition(ctx, st, state, server, msg, true)
}

func (e *Executor) transition(ctx context.Context, st *store.Step, state, server, msg string, failed bool) error {
	if err := e.crashPoint("before " + state); err != nil {
		return err
	}
	prev := st.State
	st.State, st.Updated = state, e.now()
	if err := e.store.PutStep(ctx, *st); err != nil {
		st.State = prev
		return err
	}
	e.log.Debug("step", "group", e.spec.Group, "slot", st.Slot, "state", state, "server", server)
	e.emit(Event{Slot: st.Slot, Server: server, Step: state, Message: msg, Failed: failed})
	return e.crashPoint("after " + state)
}

// emit stamps, stores (best effort: the event log is not the state) and forwards an event.
func (e *Executor) emit(ev Event) {
	ev.Time, ev.Group, ev.Rollout = e.now(), e.spec.Group, e.currentRollout()
	if ev.Rollout != "" {
		// A cancelled ctx must not lose the record of what happened: use a short, fresh one.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := e.store.AppendEvent(ctx, store.Event{RolloutID: ev.Rollout, Group: ev.Group, Time: ev.Time, Slot: ev.Slot, Server: ev.Server, Step: ev.Step, Message: ev.Message}); err != nil {
			e.log.Warn("event not stored", "rollout", ev.Rollout, "err", err)
		}
		cancel()
	}
	if e.Events != nil {
		e.Events(ev)
	}
}

func (e *Executor) setRollout(id string) {
	e.mu.Lock()
	e.rolloutID = id
	e.mu.Unlock()
}

func (e *Executor) currentRollout() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rolloutID
}

// do retries one idempotent cloud call when it failed in a way worth retrying (the
// adapter already retried; this rides out longer faults) and never otherwise.
func (e *Executor) do(ctx context.Context, fn func(ctx context.Context) error) error {
	return retry.Do(ctx, e.StepBackoff(), func(ctx context.Context) error {
		err := fn(ctx)
		if err != nil && ctx.Err() == nil && openstack.IsRetryable(err) {
			return retry.RetryableError(err)
		}
		return err
	})
}

// wait waits d (nothing when d <= 0) or until ctx ends.
func (e *Executor) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errCrash is what the test crash hook returns: the process "dies" there.
var errCrash = errors.New("simulated crash")

func (e *Executor) crashPoint(point string) error {
	if e.crash == nil {
		return nil
	}
	return e.crash(point)
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

// gateProber adapts an AddressChecker to health.Prober for health.Wait.
type gateProber struct {
	c        AddressChecker
	serverID string
}

func (g gateProber) Probe(ctx context.Context, address string) error {
	return g.c.CheckAddress(ctx, address, g.serverID)
}

func (g gateProber) String() string { return "gate for server " + shortID(g.serverID) }

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
