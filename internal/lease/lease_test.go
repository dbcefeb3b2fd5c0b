package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAcquireRefusesWithTheHolderAndRenewsPastTheTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	a := &Manager{Store: st, TTL: 300 * time.Millisecond, Holder: store.LeaseHolder{Host: "hosta", PID: 1234, Command: "remint rebuild web"}}
	b := &Manager{Store: st, TTL: 300 * time.Millisecond, Holder: store.LeaseHolder{Host: "hostb", PID: 99, Command: "remint rebuild web"}}

	la, err := a.Acquire(ctx, GroupKey("web"))
	require.NoError(t, err)
	require.Equal(t, "group/web", la.Key())

	// Held well past its TTL: the background renewal keeps it.
	time.Sleep(time.Second)
	require.NoError(t, la.Context().Err())
	_, err = b.Acquire(ctx, GroupKey("web"))
	var held *HeldError
	require.ErrorAs(t, err, &held)
	require.ErrorIs(t, err, store.ErrLeaseHeld)
	require.Regexp(t, "^group web is being changed by `remint rebuild web` \\(pid 1234 on host hosta\\) since [0-9:]{8}Z, lease renewed 0s ago$", err.Error())

	// Another group is free.
	lo, err := b.Acquire(ctx, GroupKey("db"))
	require.NoError(t, err)
	require.NoError(t, lo.Release(ctx))

	// Released: taken at once; the released lease's context is done.
	require.NoError(t, la.Release(ctx))
	require.NoError(t, la.Release(ctx), "releasing twice is fine")
	require.Error(t, la.Context().Err())
	lb, err := b.Acquire(ctx, GroupKey("web"))
	require.NoError(t, err)
	require.NoError(t, lb.Release(ctx))
}

func TestAcquireWaitsForTheHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	a := &Manager{Store: st, TTL: time.Second, Holder: store.LeaseHolder{Command: "a"}}
	la, err := a.Acquire(ctx, FamilyKey("debian-12"))
	require.NoError(t, err)
	go func() {
		time.Sleep(400 * time.Millisecond)
		la.Release(ctx)
	}()
	b := &Manager{Store: st, TTL: time.Second, Wait: 5 * time.Second, Holder: store.LeaseHolder{Command: "b"}}
	start := time.Now()
	lb, err := b.Acquire(ctx, FamilyKey("debian-12"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	defer lb.Release(ctx)

	// A wait that runs out says how long it waited.
	c := &Manager{Store: st, TTL: time.Second, Wait: 500 * time.Millisecond, Holder: store.LeaseHolder{Command: "c"}}
	_, err = c.Acquire(ctx, FamilyKey("debian-12"))
	var held *HeldError
	require.ErrorAs(t, err, &held)
	require.Equal(t, "b", held.Current.Holder.Command)
	require.Contains(t, err.Error(), "image family debian-12 is being changed by `b`")
	require.Contains(t, err.Error(), "; waited ")
}

// A killed holder stops renewing: its lease expires within the TTL and is taken over;
// the old holder, if it comes back, finds it lost and its context cancelled.
func TestExpiredLeaseIsTakenOverAndTheOldHolderLosesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	ttl := 400 * time.Millisecond
	// The "killed" holder: acquired straight in the store, never renewed.
	dead, err := st.AcquireLease(ctx, GroupKey("web"), store.LeaseHolder{Command: "killed"}, ttl, time.Now())
	require.NoError(t, err)
	b := &Manager{Store: st, TTL: ttl, Holder: store.LeaseHolder{Command: "b"}}
	_, err = b.Acquire(ctx, GroupKey("web"))
	require.ErrorIs(t, err, store.ErrLeaseHeld)
	time.Sleep(ttl)
	lb, err := b.Acquire(ctx, GroupKey("web"))
	require.NoError(t, err)
	defer lb.Release(ctx)
	_, err = st.RenewLease(ctx, GroupKey("web"), dead.Token, ttl, time.Now())
	require.ErrorIs(t, err, store.ErrLeaseLost)

	// A holder whose lease was taken over behind its back: the renewal loop notices
	// within TTL/3 and cancels the work.
	require.NoError(t, st.ReleaseLease(ctx, GroupKey("web"), lb.rec.Token))
	_, err = st.AcquireLease(ctx, GroupKey("web"), store.LeaseHolder{Command: "thief"}, time.Minute, time.Now())
	require.NoError(t, err)
	select {
	case <-lb.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease's context was not cancelled after it was lost")
	}
	require.True(t, errors.Is(context.Cause(lb.Context()), ErrLost), "cause: %v", context.Cause(lb.Context()))
	require.Contains(t, context.Cause(lb.Context()).Error(), "group web: lease lost")
}

func TestTTLFromEnv(t *testing.T) {
	t.Setenv(EnvTTL, "")
	d, err := TTLFromEnv()
	require.NoError(t, err)
	require.Equal(t, DefaultTTL, d)
	t.Setenv(EnvTTL, "2s")
	d, err = TTLFromEnv()
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, d)
	t.Setenv(EnvTTL, "soon")
	_, err = TTLFromEnv()
	require.ErrorContains(t, err, "REMINT_LEASE_TTL")
}

func TestHeldErrorNamesTheDayWhenNotToday(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 12, 1, 3, 0, time.UTC)
	h := store.LeaseHolder{Host: "x", PID: 1234, Command: "remint rebuild web"}
	e := &HeldError{Key: GroupKey("web"), Current: store.Lease{Holder: h, Acquired: at, Renewed: at.Add(10 * time.Second)}, Now: at.Add(12 * time.Second)}
	require.Equal(t, "group web is being changed by `remint rebuild web` (pid 1234 on host x) since 12:01:03Z, lease renewed 2s ago", e.Error())
	e.Now = at.Add(24 * time.Hour)
	require.Contains(t, e.Error(), "since 2026-11-22T12:01:03Z,")
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	require.Equal(t, "group web", Describe(GroupKey("web")))
	require.Equal(t, "image family debian-12", Describe(FamilyKey("debian-12")))
	require.Equal(t, "odd", Describe("odd"))
}

// A lease claimed for the work (the job worker took it before starting the job) is
// carried on by Acquire in the work's ctx, not refused as held; a claim no longer the
// claimant's (released, or expired and taken) is taken anew. A lease taken in a job's
// ctx names the job.
func TestAcquireCarriesOnAClaimedLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	claim, err := st.AcquireLease(ctx, GroupKey("web"), store.LeaseHolder{Host: "h", PID: 1, Command: "remint serve (1 workers): update web/0", Job: 7}, time.Minute, now)
	require.NoError(t, err)
	m := &Manager{Store: st, TTL: time.Minute, Holder: store.LeaseHolder{Host: "h", PID: 1, Command: "remint serve: job on group web"}}
	_, err = m.Acquire(ctx, GroupKey("web"))
	require.ErrorIs(t, err, store.ErrLeaseHeld, "without the claim in ctx it is someone else's")

	jobCtx := WithClaims(WithJob(ctx, 7), map[string]string{GroupKey("web"): claim.Token})
	l, err := m.Acquire(jobCtx, GroupKey("web"))
	require.NoError(t, err)
	cur, err := st.GetLease(ctx, GroupKey("web"))
	require.NoError(t, err)
	require.Equal(t, int64(7), cur.Holder.Job)
	require.NoError(t, l.Release(ctx))

	// Released: the stale claim is taken anew, for the job.
	l, err = m.Acquire(jobCtx, GroupKey("web"))
	require.NoError(t, err)
	cur, err = st.GetLease(ctx, GroupKey("web"))
	require.NoError(t, err)
	require.Equal(t, "remint serve: job on group web", cur.Holder.Command)
	require.Equal(t, int64(7), cur.Holder.Job)
	require.NoError(t, l.Release(ctx))
}

// Wait: Forever waits for a lease held far longer than any fixed wait, until it is
// released; it says so once per holder (WithWaitNotice, again when another holder took
// the lease meanwhile), and a cancelled context ends the wait.
func TestAcquireWaitsForeverAndSaysSoOncePerHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	key := GroupKey("web")
	a, err := st.AcquireLease(ctx, key, store.LeaseHolder{Host: "x", PID: 1, Command: "remint rebuild web"}, time.Minute, time.Now())
	require.NoError(t, err)
	var (
		notices []string
		c       store.Lease
		second  = make(chan struct{})
	)
	notice := func(held store.Lease) {
		notices = append(notices, WaitingText(held, 7))
		switch len(notices) {
		case 1:
			// Another holder takes the lease before the waiter's next try.
			// (Acquire's goroutine: t.Error, not require.)
			if err := st.ReleaseLease(ctx, key, a.Token); err != nil {
				t.Error(err)
			}
			var err error
			if c, err = st.AcquireLease(ctx, key, store.LeaseHolder{Host: "y", PID: 2, Command: "remint serve: job on group web", Job: 3}, time.Minute, time.Now()); err != nil {
				t.Error(err)
			}
		case 2:
			close(second)
		}
	}
	ttl := 300 * time.Millisecond
	b := &Manager{Store: st, TTL: ttl, Wait: Forever, Holder: store.LeaseHolder{Command: "remint emergency"}}
	type result struct {
		l   *Lease
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := b.Acquire(WithWaitNotice(WithJob(ctx, 7), notice), key)
		done <- result{l, err}
	}()
	<-second
	// Past 3 TTLs the waiter still waits (many tries, no further notice).
	time.Sleep(4 * ttl)
	select {
	case r := <-done:
		t.Fatalf("Acquire returned while the lease was held: %v", r.err)
	default:
	}
	require.NoError(t, st.ReleaseLease(ctx, key, c.Token))
	r := <-done
	require.NoError(t, r.err)
	defer r.l.Release(ctx)
	require.Len(t, notices, 2, "%q", notices)
	require.Regexp(t, "^waiting for group web: held by `remint rebuild web` \\(pid 1 on host x\\) since \\S+Z$", notices[0])
	require.Regexp(t, "^waiting for group web: held by `remint serve: job on group web` \\(pid 2 on host y, job 3\\) since \\S+Z$", notices[1])
	cur, err := st.GetLease(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(7), cur.Holder.Job)

	// Cancelled while it waits: it gives up.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := b.Acquire(WithWaitNotice(cctx, func(store.Lease) { cancel() }), key)
		done <- result{nil, err}
	}()
	require.ErrorIs(t, (<-done).err, context.Canceled)
}

// A lease the waiter's own job holds is its earlier attempt's: the text says so.
func TestWaitingTextOwnJob(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 12, 1, 3, 0, time.UTC)
	held := store.Lease{Key: FamilyKey("debian-12"), Holder: store.LeaseHolder{Host: "x", PID: 9, Command: "remint serve: job emergency", Job: 42},
		Acquired: at, Expires: at.Add(30 * time.Second)}
	require.Equal(t, "waiting for image family debian-12: held by `remint serve: job emergency` (pid 9 on host x, job 42) since 2026-11-22T12:01:03Z",
		WaitingText(held, 7))
	require.Equal(t, "waiting for image family debian-12: held by `remint serve: job emergency` (pid 9 on host x, job 42) since 2026-11-22T12:01:03Z"+
		" (an earlier attempt of this job; its lease expires at 2026-11-22T12:01:33Z unless that attempt still runs)", WaitingText(held, 42))
}
