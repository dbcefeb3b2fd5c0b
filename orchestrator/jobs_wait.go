package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/store"
)

// Jobs wait their turn. Two jobs on different targets may need the same lease: updates of
// web/0 and web/1 both change group web, and a `remint rebuild web` run by hand on the
// same state holds it too. Before an attempt starts, the worker asks the handler which
// leases it takes (LeaseKeyer) and takes them itself, each in one transaction (a look
// and then a take would let two waiting jobs both see a lease free): while another live
// holder has one, the job stays queued (River snoozes it; a snooze is not an attempt, so
// a long wait never uses up the job's attempts) and says once what it waits for. The
// leases taken are renewed while the job runs, carried on by the handler's own Acquire
// (lease.WithClaims) and released when the attempt ends. The handler's own wait for a
// lease (a few TTLs) stays for what the claim leaves to it: its own earlier attempt's.

// LeaseKeyer is implemented by handlers whose work holds leases (lease.GroupKey,
// lease.FamilyKey): the keys a job on target takes.
type LeaseKeyer interface {
	LeaseKeys(target string) []string
}

// maxWaitPoll is the longest a waiting job sleeps between two tries of the lease.
const maxWaitPoll = 5 * time.Second

// takeTurn takes the leases job's handler needs (key → token), or returns a snooze (with
// a job event the first time, or when the holder changed) when another live holder has
// one; it then holds none of them. A lease held for the same job is its own earlier
// attempt's, not a reason to wait: the job's attempt lease (taken next) tells whether that
// attempt still runs (rescued too early), else its process died and the handler takes the
// lease over once it expired. A failed try is logged and leaves the lease to the handler.
func (wk *worker) takeTurn(ctx context.Context, h Handler, job *river.Job[jobArgs]) (map[string]string, error) {
	lk, ok := h.(LeaseKeyer)
	if !ok {
		return nil, nil
	}
	q := wk.q
	holder := q.cfg.Holder
	holder.Job = job.ID
	holder.Command = fmt.Sprintf("%s: %s %s", orDefault(holder.Command, "remint serve"), job.Args.JobKind, job.Args.Target)
	claims := map[string]string{}
	for _, key := range lk.LeaseKeys(job.Args.Target) {
		l, err := q.st.AcquireLease(ctx, key, holder, q.cfg.LeaseTTL, q.cfg.Now())
		var held *store.LeaseHeldError
		switch {
		case err == nil:
			claims[key] = l.Token
		case errors.As(err, &held) && held.Current.Holder.Job == job.ID:
			// Its own earlier attempt's: left to the handler (see above).
		case errors.As(err, &held):
			q.releaseClaims(ctx, claims)
			wk.sayWaiting(ctx, job, held.Current)
			return nil, river.JobSnooze(min(q.cfg.LeaseTTL, maxWaitPoll))
		default:
			q.log.Warn("could not take a lease for the job before it starts; its handler will", "job", job.ID, "lease", key, "err", err)
		}
	}
	return claims, nil
}

// sayWaiting records that job waits for held, unless its last event says so already.
func (wk *worker) sayWaiting(ctx context.Context, job *river.Job[jobArgs], held store.Lease) {
	q := wk.q
	msg := lease.WaitingText(held, job.ID) // "waiting for X: held by H since T", read back by waitedNote
	last, err := q.st.LastJobEvent(ctx, job.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		q.log.Warn("could not read the job's last event", "job", job.ID, "err", err)
	}
	if last.Message == msg {
		return
	}
	q.event(ctx, job.ID, job.Attempt, "info", msg)
	q.log.Info("job waits for a lease", "job", job.ID, "kind", job.Args.JobKind, "target", job.Args.Target,
		"lease", held.Key, "holder", held.Holder.Command, "holder_job", held.Holder.Job)
}

// The job event sayWaiting records: "waiting for group web: held by `remint rebuild web`
// (pid 4242 on host laptop) since 2026-11-28T02:00:00Z".
const (
	waitingPrefix = "waiting for "
	heldBy        = ": held by "
)

// waitedNote says, from the job's last event before its attempt started, what the job
// waited for and since when: "it waited for group web from T, held by `…` since T0";
// "" when that event is not a wait (the job did not wait, or did something since).
func waitedNote(last store.JobEvent) string {
	rest, ok := strings.CutPrefix(last.Message, waitingPrefix)
	if !ok {
		return ""
	}
	what, holder, ok := strings.Cut(rest, heldBy)
	if !ok {
		return ""
	}
	return fmt.Sprintf("it waited for %s from %s, held by %s", what, last.Time.UTC().Format(time.RFC3339), holder)
}

// releaseClaims gives up leases takeTurn took; one the handler released already, or
// that is no longer ours, is left alone.
func (q *Queue) releaseClaims(ctx context.Context, claims map[string]string) {
	for key, token := range claims {
		if err := q.st.ReleaseLease(context.WithoutCancel(ctx), key, token); err != nil {
			q.log.Warn("could not release a job's lease; it expires within its TTL", "lease", key, "err", err)
		}
	}
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
