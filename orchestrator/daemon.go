package orchestrator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// NamedSchedule is a schedule of the manifest: it fires Kind on Target with Options.
type NamedSchedule struct {
	Name     string
	Schedule *Schedule
	// Kind is the job kind the schedule's action maps to; "" when no handler exists for
	// the action in this build (its runs are recorded as skipped, with why).
	Kind    string
	Action  string
	Target  string
	Options []byte // JSON
}

// Daemon is what `remint serve` runs: it fires schedules, works jobs, rescues jobs of
// dead daemons and retires kept servers when their keep-old time is over.
type Daemon struct {
	Queue     *Queue
	Store     *store.Store
	Schedules []NamedSchedule
	// RunTime makes the daemon fire the store's enabled run-time schedules too
	// (ScheduleBook), picking up changes while it runs.
	RunTime bool
	// ScheduleCheck is how often the run-time schedules' fingerprint is read to see
	// changes made by other processes (default 5s); SchedulesChanged forces a check.
	ScheduleCheck time.Duration
	// KeptGroups are the groups whose kept old servers the daemon retires on time.
	KeptGroups []string
	// RetentionFamilies are the image families whose retention the daemon enforces
	// (an image-retention job) every RetentionEvery (default 24h).
	RetentionFamilies []string
	RetentionEvery    time.Duration
	// Tick is how often schedules, rescues and keep-old times are checked (default 1s).
	Tick time.Duration
	// Now is the daemon's clock (default time.Now); schedules fire by it.
	Now    func() time.Time
	Logger *slog.Logger

	// lastRetire is the last retire-kept job queued per group: after a failure the next
	// waits retireBackoff, so a failing group does not fill the history with a job a tick.
	lastRetire map[string]int64
	// lastRescue is when step last looked for jobs of dead daemons.
	lastRescue time.Time
	// book is the schedules with their next due runs (FireSchedules).
	book scheduleBook
	// retained is when retention last ran per family, as last read or done.
	retained map[string]time.Time
	// afterStateRead, if set, runs in fire right after the stored last-fired time was
	// read: tests put another daemon's whole firing there (two daemons at one instant).
	afterStateRead func()
}

const retireBackoff = time.Minute

func (d *Daemon) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Daemon) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Run works until ctx is done, then stops the queue: running jobs finish their current
// step and are left to resume on the next start.
func (d *Daemon) Run(ctx context.Context) error {
	tick := d.Tick
	if tick <= 0 {
		tick = time.Second
	}
	if _, err := d.Queue.Rescue(ctx); err != nil {
		return err
	}
	if err := d.Queue.Start(ctx); err != nil {
		return err
	}
	d.step(ctx)
	d.log().Info("daemon started", "schedules", len(d.Schedules), "runtime_schedules", max(len(d.book.entries)-len(d.Schedules), 0), "kinds", d.Queue.Kinds())
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log().Info("stopping: running jobs finish their current step and resume on the next start")
			stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return d.Queue.Stop(stopCtx)
		case <-t.C:
			d.step(ctx)
		}
	}
}

// step is one tick: rescue, schedules, keep-old. Errors are logged; the next tick retries.
func (d *Daemon) step(ctx context.Context) {
	// A dead daemon's job can be rescued once its lease expired (the lease TTL), so
	// looking every TTL/6 (at most every 5s) is soon enough and keeps the idle loop cheap.
	if now := d.now(); d.lastRescue.IsZero() || now.Sub(d.lastRescue) >= min(5*time.Second, d.Queue.cfg.LeaseTTL/6) || now.Before(d.lastRescue) {
		d.lastRescue = now
		if _, err := d.Queue.Rescue(ctx); err != nil && ctx.Err() == nil {
			d.log().Error("rescue jobs", "err", err)
		}
	}
	if err := d.FireSchedules(ctx, d.now()); err != nil && ctx.Err() == nil {
		d.log().Error("fire schedules", "err", err)
	}
	if err := d.RetireKept(ctx, d.now()); err != nil && ctx.Err() == nil {
		d.log().Error("retire kept servers", "err", err)
	}
	if err := d.Retention(ctx, d.now()); err != nil && ctx.Err() == nil {
		d.log().Error("image retention", "err", err)
	}
}

// FireSchedules handles every schedule's runs due at now: the latest due run starts if its
// window is open and its target is not busy (Admit); runs missed while no daemon was up
// are recorded missed; a busy target's run is recorded skipped. A manifest schedule seen
// for the first time starts from now: it does not catch up runs from before it existed; a
// run-time schedule starts from when it was created, last changed or enabled.
//
// The schedules and their next due times are kept in memory: an idle tick costs one
// query (has any run-time schedule changed?) whatever the number of schedules; the store
// is read for a schedule only when one of its runs is due.
func (d *Daemon) FireSchedules(ctx context.Context, now time.Time) error {
	if err := d.syncSchedules(ctx, now); err != nil {
		return err
	}
	b := &d.book
	if b.earliestSet && now.Before(b.earliest) {
		return nil
	}
	var errs []error
	b.earliestSet, b.earliest = false, time.Time{}
	for _, e := range b.entries {
		if !e.next.IsZero() && !now.Before(e.next) {
			err := e.parse()
			if err == nil {
				err = d.fire(ctx, e, now)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule %s: %w", e.ns.Name, err))
			}
			e.release()
		}
		if e.next.IsZero() {
			continue // the rule has ended
		}
		if !b.earliestSet || e.next.Before(b.earliest) {
			b.earliestSet, b.earliest = true, e.next
		}
	}
	if len(errs) > 0 {
		b.earliestSet = false // retry the failed ones next tick
	}
	return errors.Join(errs...)
}

// schedEntry is a schedule the daemon fires, with its next due run in memory. A run-time
// schedule's parsed rule is dropped between runs (release) and parsed again when a run is
// due (parse): 10,000 parsed rules take ~70 MB, their definitions a few.
type schedEntry struct {
	ns      NamedSchedule
	runtime bool
	def     store.ScheduleDef // a run-time schedule's definition
	id      int64
	updated time.Time // a run-time schedule's updated_at: no run before it fires
	from    time.Time // handled up to: the last run fired (or registered, created, enabled)
	next    time.Time // the start of the first run after from; zero when the rule ended
}

// parse makes sure e's rule is parsed.
func (e *schedEntry) parse() error {
	if e.ns.Schedule != nil {
		return nil
	}
	spec, err := SpecOf(e.def)
	if err != nil {
		return err
	}
	ns, err := NewNamedSchedule(e.def.Name, e.def.RRule, e.def.Window, e.def.Action, e.def.Target, spec.Options)
	if err != nil {
		return err
	}
	e.ns = ns
	return nil
}

// release drops a run-time schedule's parsed rule until its next run is due.
func (e *schedEntry) release() {
	if e.runtime {
		e.ns.Schedule = nil
	}
}

// advance moves e past the runs up to from; e's rule must be parsed.
func (e *schedEntry) advance(from time.Time) {
	if from.After(e.from) {
		e.from = from
	}
	e.next = time.Time{}
	if r := e.ns.Schedule.Next(e.from, 1); len(r) == 1 {
		e.next = r[0].Start
	}
}

// scheduleBook is the daemon's in-memory view of the schedules it fires.
type scheduleBook struct {
	loaded      bool
	version     string // the run-time schedules' fingerprint when last loaded
	entries     []*schedEntry
	earliest    time.Time // the earliest next of all entries (when earliestSet)
	earliestSet bool
	ignored     map[string]bool // run-time names shadowed by the manifest (logged once)
	checked     time.Time       // when the fingerprint was last read
	changed     atomic.Bool     // SchedulesChanged was called: check at the next tick
}

// SchedulesChanged tells the daemon a run-time schedule was created, changed or deleted
// (the API on this daemon calls it): the next tick reloads instead of waiting for the
// periodic check (ScheduleCheck), which catches changes made by other processes.
func (d *Daemon) SchedulesChanged() { d.book.changed.Store(true) }

// syncSchedules loads the schedules on the first call and, on later ones, reloads the
// run-time ones when their fingerprint (count, latest update) changed.
func (d *Daemon) syncSchedules(ctx context.Context, now time.Time) error {
	b := &d.book
	if !b.loaded {
		states, err := d.Store.ScheduleStates(ctx)
		if err != nil {
			return err
		}
		var entries []*schedEntry
		for _, ns := range d.Schedules {
			e := &schedEntry{ns: ns}
			last, seen := states[ns.Name]
			if !seen {
				d.log().Info("schedule registered", "schedule", ns.Name, "rule", ns.Schedule.Rule())
				if err := d.Store.SetScheduleFired(ctx, nil, ns.Name, ns.Schedule.Rule(), now, now); err != nil {
					return err
				}
				last = now
			}
			e.advance(last)
			entries = append(entries, e)
		}
		b.entries = entries
		if d.RunTime {
			if err := d.loadRunTime(ctx, states); err != nil {
				return err
			}
		}
		b.loaded, b.earliestSet, b.checked = true, false, now
		return nil
	}
	if !d.RunTime {
		return nil
	}
	every := d.ScheduleCheck
	if every <= 0 {
		every = 5 * time.Second
	}
	if !b.changed.Swap(false) && !now.Before(b.checked) && now.Sub(b.checked) < every {
		return nil
	}
	b.checked = now
	v, err := d.Store.SchedulesVersion(ctx)
	if err != nil {
		return err
	}
	if v == b.version {
		return nil
	}
	return d.loadRunTime(ctx, nil)
}

// loadRunTime (re)reads the run-time schedules: new and enabled ones are added, changed
// ones re-parsed, disabled and deleted ones dropped (their recorded runs stay). states
// are the stored last-fired times (at start; nil on a reload, when memory has them).
func (d *Daemon) loadRunTime(ctx context.Context, states map[string]time.Time) error {
	b := &d.book
	v, err := d.Store.SchedulesVersion(ctx)
	if err != nil {
		return err
	}
	defs, err := d.Store.ListSchedules(ctx, "")
	if err != nil {
		return err
	}
	old := map[string]*schedEntry{}
	var entries []*schedEntry
	static := map[string]bool{}
	for _, e := range b.entries {
		if e.runtime {
			old[e.ns.Name] = e
			continue
		}
		static[e.ns.Name] = true
		entries = append(entries, e)
	}
	added, changed := 0, 0
	for _, def := range defs {
		if !def.Enabled {
			continue
		}
		if static[def.Name] {
			if b.ignored == nil {
				b.ignored = map[string]bool{}
			}
			if !b.ignored[def.Name] {
				b.ignored[def.Name] = true
				d.log().Warn("run-time schedule ignored: the manifest has a schedule of that name", "schedule", def.Name, "id", def.ID)
			}
			continue
		}
		prev := old[def.Name]
		if prev != nil && prev.id == def.ID && prev.updated.Equal(def.Updated) {
			entries = append(entries, prev)
			delete(old, def.Name)
			continue
		}
		def.Description = "" // not needed to fire
		e := &schedEntry{ns: NamedSchedule{Name: def.Name}, runtime: true, def: def, id: def.ID, updated: def.Updated, from: def.Updated}
		if err := e.parse(); err != nil {
			d.log().Error("run-time schedule not fired: it does not parse", "schedule", def.Name, "id", def.ID, "err", err)
			continue
		}
		from := def.Updated
		if last, ok := states[def.Name]; ok && last.After(from) {
			from = last
		}
		if prev != nil && prev.from.After(from) {
			from = prev.from
		}
		e.advance(from)
		e.release()
		entries = append(entries, e)
		if prev != nil {
			changed++
			delete(old, def.Name)
		} else {
			added++
		}
		if states == nil {
			d.log().Info("run-time schedule loaded", "schedule", def.Name, "id", def.ID, "rule", def.RRule, "next", e.next)
		}
	}
	for name := range old {
		d.log().Info("run-time schedule stopped: disabled or deleted", "schedule", name)
	}
	b.entries, b.version, b.earliestSet = entries, v, false
	if states == nil || added > 0 {
		d.log().Debug("run-time schedules loaded", "added", added, "changed", changed, "stopped", len(old), "schedules", len(entries))
	}
	return nil
}

// fire handles e's runs due at now. The stored last-fired time is read first: another
// daemon on the same database may have handled the run already. A run-time schedule's
// definition is read again: another process may have deleted or changed it. Two daemons
// that read the state at the same instant both go on, but a run is recorded once
// (store.ErrRunRecorded): the one that finds it recorded neither fires nor records it.
func (d *Daemon) fire(ctx context.Context, e *schedEntry, now time.Time) error {
	s := e.ns
	last, _, seen, err := d.Store.ScheduleLastFired(ctx, s.Name)
	if err != nil {
		return err
	}
	if d.afterStateRead != nil {
		d.afterStateRead()
	}
	if seen && last.After(e.from) {
		e.advance(last)
		if e.next.IsZero() || now.Before(e.next) {
			return nil
		}
	}
	if e.runtime {
		// Deleted, disabled or changed by another process since the last fingerprint
		// check (ScheduleCheck): fire nothing now; the next tick reloads.
		def, err := d.Store.Schedule(ctx, e.id)
		if err != nil && !errors.Is(err, store.ErrScheduleNotFound) {
			return err
		}
		if err != nil || !def.Enabled || !def.Updated.Equal(e.updated) {
			d.SchedulesChanged()
			return nil
		}
	}
	recordedElsewhere := func(r Run) {
		d.log().Debug("schedule run recorded by another daemon already: not fired here", "schedule", s.Name, "run", r.Start)
		e.advance(r.Start)
	}
	c := s.Schedule.CatchUp(e.from, now)
	for _, m := range c.Missed {
		reason := fmt.Sprintf("missed: its window closed at %s while no daemon was up", m.End.UTC().Format(time.RFC3339))
		err := d.Store.RecordScheduleRun(ctx, nil, store.ScheduleRun{Schedule: s.Name, Target: s.Target, Start: m.Start, End: m.End,
			Outcome: store.RunMissed, Reason: reason, Recorded: now})
		if errors.Is(err, store.ErrRunRecorded) {
			recordedElsewhere(m)
			continue
		}
		if err != nil {
			return err
		}
		d.log().Warn("schedule run missed", "schedule", s.Name, "run", m.Start, "reason", reason)
		if err := d.Store.SetScheduleFired(ctx, nil, s.Name, s.Schedule.Rule(), m.Start, now); err != nil {
			return err
		}
		e.advance(m.Start)
	}
	if c.MissedTotal > len(c.Missed) {
		d.log().Warn("more schedule runs missed than listed", "schedule", s.Name, "missed", c.MissedTotal)
	}
	if c.Run == nil {
		return nil
	}
	run := *c.Run
	skip := func(reason string) error {
		err := d.Store.RecordScheduleRun(ctx, nil, store.ScheduleRun{Schedule: s.Name, Target: s.Target, Start: run.Start, End: run.End,
			Outcome: store.RunSkipped, Reason: reason, Recorded: now})
		if errors.Is(err, store.ErrRunRecorded) {
			// Busy with the job another daemon fired for this very run: not a skip.
			recordedElsewhere(run)
			return nil
		}
		if err != nil {
			return err
		}
		d.log().Warn("schedule run skipped", "schedule", s.Name, "run", run.Start, "reason", reason)
		if err := d.Store.SetScheduleFired(ctx, nil, s.Name, s.Schedule.Rule(), run.Start, now); err != nil {
			return err
		}
		e.advance(run.Start)
		return nil
	}
	if s.Kind == "" {
		return skip(fmt.Sprintf("skipped: action %s has no job kind in this remint yet (kinds: %v)", s.Action, d.Queue.Kinds()))
	}
	unfinished, err := d.Queue.Unfinished(ctx)
	if err != nil {
		return err
	}
	var active []Active
	for _, j := range unfinished {
		a := Active{Target: j.Target, JobID: fmt.Sprint(j.ID), Started: j.Created}
		if j.Started != nil {
			a.Started = *j.Started
		}
		active = append(active, a)
	}
	adm := Admit(s.Name, s.Target, run, now, active)
	if !adm.Start {
		return skip(adm.Reason)
	}
	j, err := d.Queue.Insert(ctx, JobRequest{Kind: s.Kind, Target: s.Target, Options: s.Options, Schedule: s.Name, Run: &run,
		RequestedBy: "schedule " + s.Name}, func(tx *sql.Tx, id int64) error {
		if err := d.Store.RecordScheduleRun(ctx, tx, store.ScheduleRun{Schedule: s.Name, Target: s.Target, Start: run.Start, End: run.End,
			Outcome: store.RunFired, JobID: id, Reason: adm.Reason, Recorded: now}); err != nil {
			return err
		}
		return d.Store.SetScheduleFired(ctx, tx, s.Name, s.Schedule.Rule(), run.Start, now)
	})
	var dup *DuplicateError
	if errors.As(err, &dup) {
		return skip(fmt.Sprintf("skipped: %v", err))
	}
	if errors.Is(err, store.ErrRunRecorded) {
		// Another daemon fired it (and its job may have finished already, so River's
		// one-job-per-target did not refuse this one): the insert was rolled back.
		recordedElsewhere(run)
		return nil
	}
	if err != nil {
		return err
	}
	e.advance(run.Start)
	d.log().Info("schedule fired", "schedule", s.Name, "run", run.Start, "job", j.ID, "kind", s.Kind, "target", s.Target)
	d.Queue.observe(func(o Observer) { o.ScheduleFired(s.Name, run.Start, now) })
	return nil
}

// RetireKept queues a retire-kept job for each group with old servers whose keep-old time
// is over at now (unless the group has an unfinished job: a rebuild retires them first).
func (d *Daemon) RetireKept(ctx context.Context, now time.Time) error {
	if _, ok := d.Queue.reg[KindRetireKept]; !ok {
		return nil
	}
	var errs []error
	for _, g := range d.KeptGroups {
		n, err := d.Store.KeptDue(ctx, g, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n == 0 {
			continue
		}
		if id, ok := d.lastRetire[g]; ok {
			prev, err := d.Queue.Get(ctx, id)
			if err == nil && prev.Status == StatusFailed && prev.Ended != nil && now.Sub(*prev.Ended) < retireBackoff {
				continue
			}
		}
		j, err := d.Queue.Insert(ctx, JobRequest{Kind: KindRetireKept, Target: g, RequestedBy: "daemon (keep-old time over)"}, nil)
		var dup *DuplicateError
		switch {
		case errors.As(err, &dup):
		case err != nil:
			errs = append(errs, err)
		default:
			if d.lastRetire == nil {
				d.lastRetire = map[string]int64{}
			}
			d.lastRetire[g] = j.ID
			d.log().Info("keep-old time over: retire job queued", "group", g, "servers", n, "job", j.ID)
		}
	}
	return errors.Join(errs...)
}

// Retention queues an image-retention job for each family whose retention was last
// enforced RetentionEvery ago or longer (or never). The time is kept in the store
// (schedule state "retention/FAMILY"), so a restarted daemon does not run it again early.
func (d *Daemon) Retention(ctx context.Context, now time.Time) error {
	if _, ok := d.Queue.reg[KindImageRetention]; !ok {
		return nil
	}
	every := d.RetentionEvery
	if every <= 0 {
		every = 24 * time.Hour
	}
	var errs []error
	for _, f := range d.RetentionFamilies {
		name := "retention/" + f
		if t, ok := d.retained[f]; ok && now.Sub(t) < every {
			continue // known from memory: no query on an idle tick
		}
		last, _, seen, err := d.Store.ScheduleLastFired(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d.retained == nil {
			d.retained = map[string]time.Time{}
		}
		if seen {
			d.retained[f] = last
			if now.Sub(last) < every {
				continue
			}
		}
		rule := "every " + every.String()
		j, err := d.Queue.Insert(ctx, JobRequest{Kind: KindImageRetention, Target: f, RequestedBy: "daemon (retention, " + rule + ")"},
			func(tx *sql.Tx, id int64) error { return d.Store.SetScheduleFired(ctx, tx, name, rule, now, now) })
		var dup *DuplicateError
		switch {
		case errors.As(err, &dup): // the family is busy (a build): next tick
		case err != nil:
			errs = append(errs, err)
		default:
			d.retained[f] = now
			d.log().Info("image retention queued", "family", f, "job", j.ID)
		}
	}
	return errors.Join(errs...)
}
