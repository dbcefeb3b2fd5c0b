package orchestrator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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
	d.log().Info("daemon started", "schedules", len(d.Schedules), "kinds", d.Queue.Kinds())
	d.step(ctx)
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
	if _, err := d.Queue.Rescue(ctx); err != nil && ctx.Err() == nil {
		d.log().Error("rescue jobs", "err", err)
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
// are recorded missed; a busy target's run is recorded skipped. A schedule seen for the
// first time starts from now: it does not catch up runs from before it existed.
func (d *Daemon) FireSchedules(ctx context.Context, now time.Time) error {
	var errs []error
	for _, s := range d.Schedules {
		if err := d.fire(ctx, s, now); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (d *Daemon) fire(ctx context.Context, s NamedSchedule, now time.Time) error {
	last, _, seen, err := d.Store.ScheduleLastFired(ctx, s.Name)
	if err != nil {
		return err
	}
	if !seen {
		d.log().Info("schedule registered", "schedule", s.Name, "rule", s.Schedule.Rule())
		return d.Store.SetScheduleFired(ctx, nil, s.Name, s.Schedule.Rule(), now, now)
	}
	c := s.Schedule.CatchUp(last, now)
	for _, m := range c.Missed {
		reason := fmt.Sprintf("missed: its window closed at %s while no daemon was up", m.End.UTC().Format(time.RFC3339))
		if err := d.Store.RecordScheduleRun(ctx, nil, store.ScheduleRun{Schedule: s.Name, Target: s.Target, Start: m.Start, End: m.End,
			Outcome: store.RunMissed, Reason: reason, Recorded: now}); err != nil {
			return err
		}
		d.log().Warn("schedule run missed", "schedule", s.Name, "run", m.Start, "reason", reason)
		if err := d.Store.SetScheduleFired(ctx, nil, s.Name, s.Schedule.Rule(), m.Start, now); err != nil {
			return err
		}
	}
	if c.MissedTotal > len(c.Missed) {
		d.log().Warn("more schedule runs missed than listed", "schedule", s.Name, "missed", c.MissedTotal)
	}
	if c.Run == nil {
		return nil
	}
	run := *c.Run
	skip := func(reason string) error {
		d.log().Warn("schedule run skipped", "schedule", s.Name, "run", run.Start, "reason", reason)
		if err := d.Store.RecordScheduleRun(ctx, nil, store.ScheduleRun{Schedule: s.Name, Target: s.Target, Start: run.Start, End: run.End,
			Outcome: store.RunSkipped, Reason: reason, Recorded: now}); err != nil {
			return err
		}
		return d.Store.SetScheduleFired(ctx, nil, s.Name, s.Schedule.Rule(), run.Start, now)
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
	if err != nil {
		return err
	}
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
		last, _, seen, err := d.Store.ScheduleLastFired(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen && now.Sub(last) < every {
			continue
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
			d.log().Info("image retention queued", "family", f, "job", j.ID)
		}
	}
	return errors.Join(errs...)
}
