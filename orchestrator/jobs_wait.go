package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/store"
)

// Jobs wait their turn. Two jobs on different targets may need the same lease: updates of
// web/0 and web/1 both change group web, and a `remint rebuild web` run by hand on the
// same state holds it too. Before an attempt starts, the worker asks the handler which
// leases it takes (LeaseKeyer) and peeks at them: while another live holder has one,
// the job stays queued (River snoozes it; a snooze is not an attempt, so a long wait
// never uses up the job's attempts) and says once what it waits for. The handler's own
// wait for the lease (a few TTLs) stays for the race between the peek and its acquire.

// LeaseKeyer is implemented by handlers whose work holds leases (lease.GroupKey,
// lease.FamilyKey): the keys a job on target takes.
type LeaseKeyer interface {
	LeaseKeys(target string) []string
}

// maxWaitPoll is the longest a waiting job sleeps between two looks at the lease.
const maxWaitPoll = 5 * time.Second

// heldByOther returns the first of keys whose lease a live holder other than job id
// has, or nil. An expired lease is free (its holder died; the handler takes it over). One
// held for the same job is its own earlier attempt's, not a reason to wait: the job's
// attempt lease ("job/<id>", taken next) tells whether that attempt still runs (rescued
// too early) or its process died, when the handler waits for the lease to expire.
func (q *Queue) heldByOther(ctx context.Context, id int64, keys []string) (*store.Lease, error) {
	now := q.cfg.Now()
	for _, key := range keys {
		l, err := q.st.GetLease(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("job %d: look at the lease of %s: %w", id, lease.Describe(key), err)
		case !now.Before(l.Expires), l.Holder.Job == id:
			continue
		}
		return &l, nil
	}
	return nil, nil
}

// waitTurn returns a snooze (with a job event the first time, or when the holder
// changed) when the job's handler needs a lease another live holder has; nil when the
// job may start. A failed look is logged and lets the job start: the handler's own wait
// for the lease decides then.
func (wk *worker) waitTurn(ctx context.Context, h Handler, job *river.Job[jobArgs]) error {
	lk, ok := h.(LeaseKeyer)
	if !ok {
		return nil
	}
	q := wk.q
	held, err := q.heldByOther(ctx, job.ID, lk.LeaseKeys(job.Args.Target))
	if err != nil {
		q.log.Warn("could not look whether the job's leases are free; starting it", "job", job.ID, "err", err)
		return nil
	}
	if held == nil {
		return nil
	}
	msg := fmt.Sprintf("waiting for %s: held by %s since %s", lease.Describe(held.Key), lease.HolderText(held.Holder),
		held.Acquired.UTC().Format(time.RFC3339))
	last, err := q.st.LastJobEvent(ctx, job.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		q.log.Warn("could not read the job's last event", "job", job.ID, "err", err)
	}
	if last.Message != msg {
		q.event(ctx, job.ID, job.Attempt, "info", msg)
		q.log.Info("job waits for a lease", "job", job.ID, "kind", job.Args.JobKind, "target", job.Args.Target,
			"lease", held.Key, "holder", held.Holder.Command, "holder_job", held.Holder.Job)
	}
	return river.JobSnooze(min(q.cfg.LeaseTTL, maxWaitPoll))
}

// groupLeaseKeys is the lease of the group a target (a group, or one slot of it) is in.
func groupLeaseKeys(target string) []string {
	group, _ := SplitTarget(target)
	return []string{lease.GroupKey(group)}
}

func (RebuildHandler) LeaseKeys(target string) []string    { return groupLeaseKeys(target) }
func (RollbackHandler) LeaseKeys(target string) []string   { return groupLeaseKeys(target) }
func (RetireKeptHandler) LeaseKeys(target string) []string { return groupLeaseKeys(target) }
func (InPlaceHandler) LeaseKeys(target string) []string    { return groupLeaseKeys(target) }
func (UpdateHandler) LeaseKeys(target string) []string     { return groupLeaseKeys(target) }

func (BuildImageHandler) LeaseKeys(family string) []string {
	return []string{lease.FamilyKey(family)}
}
