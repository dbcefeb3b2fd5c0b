package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/store"
)

// Work is one attempt of a job, handed to its Handler: what the job is, and where the
// handler reports what it decides and does (saved as it goes).
type Work struct {
	ID       int64
	Kind     string
	Target   string
	Attempt  int
	Record   store.JobRecord // the job's options, schedule and run
	Resuming bool            // an earlier attempt was cut short (process died or stopped)
	// Waited says what the job waited its turn for before this attempt started
	// (waitedNote), "" when it did not wait.
	Waited string

	q       *Queue
	mu      sync.Mutex
	outcome store.JobOutcome
}

// Run is the schedule run (maintenance window) the job belongs to, or nil.
func (w *Work) Run() *Run {
	if w.Record.RunStart.IsZero() {
		return nil
	}
	return &Run{Start: w.Record.RunStart, End: w.Record.RunEnd}
}

// Now is the queue's clock.
func (w *Work) Now() time.Time { return w.q.cfg.Now() }

// CheckStep is CheckStep for the job's run at the queue's clock. When the job waited its
// turn for a busy group or family, the refusal says so: the wait is why it starts late.
func (w *Work) CheckStep(run Run, step string) error {
	err := CheckStep(run, w.Now(), step)
	if err != nil && w.Waited != "" {
		return fmt.Errorf("%w (%s)", err, w.Waited)
	}
	return err
}

// Event appends a line to the job's event log.
func (w *Work) Event(ctx context.Context, level, msg string) {
	w.q.event(context.WithoutCancel(ctx), w.ID, w.Attempt, level, msg)
}

// Decide records a decision and its reason (also as an event).
func (w *Work) Decide(ctx context.Context, reason string) {
	w.update(ctx, func(o *store.JobOutcome) { o.Decisions = append(o.Decisions, reason) })
	w.Event(ctx, "info", "decision: "+reason)
}

// Rollout records a rollout the job ran or resumed.
func (w *Work) Rollout(ctx context.Context, id string) {
	w.update(ctx, func(o *store.JobOutcome) {
		for _, r := range o.Rollouts {
			if r == id {
				return
			}
		}
		o.Rollouts = append(o.Rollouts, id)
	})
}

// Rollouts are the rollouts the job recorded so far (its earlier attempts' too).
func (w *Work) Rollouts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.outcome.Rollouts)
}

// Count adds to the installed and failed update counts.
func (w *Work) Count(ctx context.Context, installed, failed int) {
	w.update(ctx, func(o *store.JobOutcome) { o.Installed += installed; o.Failed += failed })
}

func (w *Work) update(ctx context.Context, f func(*store.JobOutcome)) {
	w.mu.Lock()
	f(&w.outcome)
	o := w.outcome
	w.mu.Unlock()
	if err := w.q.st.SaveJobOutcome(context.WithoutCancel(ctx), w.ID, o, time.Time{}); err != nil {
		w.q.log.Warn("could not save job outcome", "job", w.ID, "err", err)
	}
}

// worker is River's worker for every remint job: it dispatches on the kind.
type worker struct {
	river.WorkerDefaults[jobArgs]
	q *Queue
}

func (wk *worker) Timeout(*river.Job[jobArgs]) time.Duration { return -1 }

func (wk *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	q := wk.q
	h, ok := q.reg[job.Args.JobKind]
	if !ok {
		// Inserted by a build that knew the kind; this one does not.
		return river.JobCancel(fmt.Errorf("job kind %q has no handler in this remint (kinds: %v)", job.Args.JobKind, q.reg.Kinds()))
	}
	// The leases the handler needs, or stay queued (snoozed) while someone else has one:
	// before the attempt counts as started.
	claims, err := wk.takeTurn(ctx, h, job)
	if err != nil {
		return err
	}
	defer q.releaseClaims(ctx, claims)
	key := jobLeaseKey(job.ID)
	l, err := q.st.AcquireLease(ctx, key, q.cfg.Holder, q.cfg.LeaseTTL, q.cfg.Now())
	if errors.Is(err, store.ErrLeaseHeld) {
		// An earlier attempt's worker is alive (rescued too early): try again later.
		q.event(ctx, job.ID, job.Attempt, "warn", fmt.Sprintf("attempt %d waits: %v", job.Attempt, err))
		return river.JobSnooze(q.cfg.LeaseTTL)
	}
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.working[job.ID] = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.working, job.ID)
		q.mu.Unlock()
	}()
	renewCtx, stopRenew := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRenew()
	go wk.renew(renewCtx, key, l.Token, false)
	for k, token := range claims {
		go wk.renew(renewCtx, k, token, true)
	}

	rec, err := q.st.GetJob(ctx, job.ID)
	if err != nil {
		return err
	}
	w := &Work{ID: job.ID, Kind: job.Args.JobKind, Target: job.Args.Target, Attempt: job.Attempt, Record: rec, q: q,
		outcome: rec.JobOutcome, Resuming: job.Attempt > 1 || !rec.Started.IsZero()}
	// Read before this attempt's first event: a wait for a busy group or family is the
	// last event then.
	if last, err := q.st.LastJobEvent(ctx, job.ID); err == nil {
		w.Waited = waitedNote(last)
	} else if !errors.Is(err, store.ErrNotFound) {
		q.log.Warn("could not read the job's last event", "job", job.ID, "err", err)
	}
	attemptStart := q.cfg.Now()
	if err := q.st.JobStarted(ctx, job.ID, attemptStart); err != nil {
		return err
	}
	if w.Resuming {
		q.event(ctx, job.ID, job.Attempt, "info", fmt.Sprintf("attempt %d: resuming %s %s", job.Attempt, w.Kind, w.Target))
	} else {
		q.event(ctx, job.ID, job.Attempt, "info", fmt.Sprintf("running %s %s", w.Kind, w.Target))
	}
	q.log.Info("job started", "job", job.ID, "kind", w.Kind, "target", w.Target, "attempt", job.Attempt)

	runErr := h.Run(lease.WithClaims(lease.WithJob(ctx, job.ID), claims), w)
	firstStart := rec.Started
	if firstStart.IsZero() {
		firstStart = attemptStart
	}
	ended := func(status string, o store.JobOutcome) {
		q.observe(func(ob Observer) {
			ob.JobEnded(JobEnd{Kind: w.Kind, Target: w.Target, Status: status, Duration: q.cfg.Now().Sub(firstStart),
				Installed: o.Installed, Failed: o.Failed})
		})
	}

	q.mu.Lock()
	stopping := q.stopping
	q.mu.Unlock()
	bg := context.WithoutCancel(ctx)
	w.mu.Lock()
	o := w.outcome
	w.mu.Unlock()
	switch {
	case runErr == nil:
		o.Reason = ""
		if err := q.st.SaveJobOutcome(bg, job.ID, o, q.cfg.Now()); err != nil {
			return err
		}
		q.event(bg, job.ID, job.Attempt, "info", fmt.Sprintf("succeeded: %d installed, %d failed", o.Installed, o.Failed))
		q.log.Info("job succeeded", "job", job.ID, "kind", w.Kind, "target", w.Target)
		ended(StatusSucceeded, o)
		return nil
	case stopping && ctx.Err() != nil:
		// SIGTERM: the handler stopped after its current step; the next daemon resumes.
		o.Reason = "interrupted by shutdown: resumes when a daemon starts again"
		_ = q.st.SaveJobOutcome(bg, job.ID, o, time.Time{})
		q.event(bg, job.ID, job.Attempt, "warn", fmt.Sprintf("stopped by shutdown after its current step (%v); left to resume", runErr))
		q.log.Warn("job stopped by shutdown; it resumes on the next start", "job", job.ID, "err", runErr)
		return river.JobSnooze(0)
	case ctx.Err() != nil:
		o.Reason = fmt.Sprintf("cancelled: %v", runErr)
		_ = q.st.SaveJobOutcome(bg, job.ID, o, q.cfg.Now())
		q.event(bg, job.ID, job.Attempt, "warn", o.Reason)
		q.log.Warn("job cancelled", "job", job.ID, "err", runErr)
		ended(StatusCancelled, o)
		return river.JobCancel(runErr)
	default:
		o.Reason = runErr.Error()
		_ = q.st.SaveJobOutcome(bg, job.ID, o, q.cfg.Now())
		q.event(bg, job.ID, job.Attempt, "error", "failed: "+runErr.Error())
		q.log.Error("job failed", "job", job.ID, "kind", w.Kind, "target", w.Target, "err", runErr)
		ended(StatusFailed, o)
		return runErr
	}
}

// renew keeps a lease of the attempt alive until ctx ends or the lease is no longer
// the attempt's (a claimed lease its handler released). The attempt's own lease
// ("job/<id>") is never released: once the attempt ended it expires within the TTL, by
// when River has recorded the job's end.
func (wk *worker) renew(ctx context.Context, key, token string, claim bool) {
	q := wk.q
	t := time.NewTicker(q.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := q.st.RenewLease(ctx, key, token, q.cfg.LeaseTTL, q.cfg.Now())
			switch {
			case err == nil, ctx.Err() != nil:
			case claim && errors.Is(err, store.ErrLeaseLost):
				return
			default:
				q.log.Warn("could not renew job lease", "lease", key, "err", err)
			}
		}
	}
}

func jobLeaseKey(id int64) string { return "job/" + strconv.FormatInt(id, 10) }

// Rescue makes jobs whose worker died available again: a running job not worked by this
// process whose attempt lease expired (or which never took one within two TTLs of
// starting). It returns the ids rescued. The daemon calls it at start and then every TTL.
func (q *Queue) Rescue(ctx context.Context) ([]int64, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(riverKind).States(rivertype.JobStateRunning).First(1000))
	if err != nil {
		return nil, fmt.Errorf("rescue jobs: list running jobs: %w", err)
	}
	now := q.cfg.Now()
	var rescued []int64
	for _, row := range res.Jobs {
		q.mu.Lock()
		mine := q.working[row.ID]
		q.mu.Unlock()
		if mine {
			continue
		}
		l, err := q.st.GetLease(ctx, jobLeaseKey(row.ID))
		var why string
		switch {
		case errors.Is(err, store.ErrNotFound):
			if row.AttemptedAt == nil || now.Sub(*row.AttemptedAt) < 2*q.cfg.LeaseTTL {
				continue // its worker may be about to take the lease
			}
			why = fmt.Sprintf("attempt %d never took its lease (started %s)", row.Attempt, row.AttemptedAt.UTC().Format(time.RFC3339))
		case err != nil:
			return rescued, err
		case now.Before(l.Expires):
			continue // alive
		default:
			why = fmt.Sprintf("attempt %d stopped renewing its lease at %s (pid %d on %s died)",
				row.Attempt, l.Renewed.UTC().Format(time.RFC3339), l.Holder.PID, l.Holder.Host)
		}
		// River offers no call to requeue a running job (JobRetry leaves running jobs
		// alone, its rescuer works by age only): set it available in its own table, as
		// River's rescuer does, allowing one more attempt.
		requeue := `UPDATE river_job SET state = 'available', max_attempts = max(max_attempts, attempt + 1) WHERE id = ? AND state = 'running'`
		if q.st.Postgres() {
			requeue = `UPDATE river_job SET state = 'available', max_attempts = GREATEST(max_attempts, attempt + 1) WHERE id = $1 AND state = 'running'`
		}
		r, err := q.st.DB().ExecContext(ctx, requeue, row.ID)
		if err != nil {
			return rescued, fmt.Errorf("rescue job %d: %w", row.ID, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			continue
		}
		q.event(ctx, row.ID, row.Attempt, "warn", "rescued: "+why+"; queued again to resume")
		q.log.Warn("rescued a job whose worker died", "job", row.ID, "why", why)
		rescued = append(rescued, row.ID)
	}
	return rescued, nil
}
