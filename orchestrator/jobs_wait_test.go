package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/sim/simclient"
	"github.com/remint-dev/remint/internal/store"
)

// gatedLeaser is the jobs' lease manager; once armed, the next Acquire takes the lease
// and then holds the job there (lease renewed) until open is closed: a job that holds
// its group's lease for as long as the test needs.
type gatedLeaser struct {
	m *lease.Manager

	mu    sync.Mutex
	armed bool
	taken chan int64    // receives the job id of the gated Acquire
	open  chan struct{} // closed to let it go on
}

func (g *gatedLeaser) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.taken, g.open = true, make(chan int64, 1), make(chan struct{})
}

func (g *gatedLeaser) Acquire(ctx context.Context, key string) (*lease.Lease, error) {
	l, err := g.m.Acquire(ctx, key)
	if err != nil {
		return l, err
	}
	g.mu.Lock()
	gated := g.armed
	g.armed = false
	g.mu.Unlock()
	if gated {
		g.taken <- lease.JobOf(ctx)
		select {
		case <-g.open:
		case <-ctx.Done():
		}
	}
	return l, nil
}

// waitEnv is remint serve's queue on a state file with the update and rebuild kinds on
// the simulator (loopback driver), their group leases taken as remint serve takes them
// (waiting 3×TTL for a held one).
type waitEnv struct {
	st    *store.Store
	q     *Queue
	cloud *simclient.Cloud
	gate  *gatedLeaser
	ttl   time.Duration
}

func startWaitEnv(t *testing.T, ttl time.Duration, start bool) *waitEnv {
	t.Helper()
	cloud, m, st, _ := simState(t, apiManifest)
	ctx := context.Background()

	gate := &gatedLeaser{m: &lease.Manager{Store: st, TTL: ttl, Wait: 3 * ttl,
		Holder: lease.Self("remint serve: job on group web", time.Now())}}
	deps := func(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error) {
		spec, err := failover.SpecFromGroup(m.Groups[group])
		if err != nil {
			return failover.Deps{}, err
		}
		prober, pol, gate2, err := failover.ProbesFor(spec, nil)
		if err != nil {
			return failover.Deps{}, err
		}
		return failover.Deps{
			Options: failover.Options{Cloud: cloud.Client, Store: st, Spec: spec, Prober: prober, Policy: pol, Gate: gate2, Events: sink},
			Leases:  gate, Catalog: catalog.New(cloud.Client), Images: cloud.Client,
		}, nil
	}
	groups := func(name string) bool { _, ok := m.Groups[name]; return ok }
	rebuild := RebuildHandler{Groups: groups, Deps: deps}
	facts := func(ctx context.Context, group string) (Facts, error) {
		img, err := catalog.New(cloud.Client).Latest(ctx, "debian-12")
		if err != nil {
			return Facts{}, err
		}
		return Facts{Target: group, Replaceable: true, Servers: 2, Image: "debian-12 " + img.Version.String(), Family: "debian-12", Addresses: 1}, nil
	}
	reg := Registry{
		KindRebuild: rebuild,
		KindUpdate:  UpdateHandler{Groups: groups, Facts: facts, Rebuild: rebuild},
	}
	q, err := NewQueue(ctx, st, reg, QueueConfig{Workers: 2, PollInterval: 20 * time.Millisecond, LeaseTTL: ttl,
		Holder: lease.Self("remint serve (2 workers)", time.Now())})
	require.NoError(t, err)
	if start {
		require.NoError(t, q.Start(ctx))
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	e := &waitEnv{st: st, q: q, cloud: cloud, gate: gate, ttl: ttl}
	(&apiEnv{cloud: cloud, cat: catalog.New(cloud.Client)}).snapshot(t, "debian-12-a", []debian.Package{{Name: "openssl", Version: "3.0.11-1"}})
	return e
}

// waiting returns the job's "waiting for …" events.
func waiting(j Job) []string {
	var out []string
	for _, e := range j.Events {
		if strings.HasPrefix(e.Message, "waiting for ") {
			out = append(out, e.Message)
		}
	}
	return out
}

// waitForWaiting waits until job id says it waits for a lease, and returns it.
func waitForWaiting(t *testing.T, q *Queue, id int64) Job {
	t.Helper()
	var j Job
	var err error
	require.Eventually(t, func() bool {
		j, err = q.Get(context.Background(), id)
		return err != nil || len(waiting(j)) > 0 || j.Status == StatusFailed
	}, 30*time.Second, 20*time.Millisecond, "job %d never said it waits for the group's lease", id)
	require.NoError(t, err)
	require.NotEqual(t, StatusFailed, j.Status, "job %d failed: %s", id, j.Reason)
	return j
}

// Two STACKIT-style updates of two slots of one group (web/0, web/1) are both accepted;
// the second waits queued, says once what it waits for, and runs when the first is done.
func TestJobsOnSlotsOfOneGroupTakeTurns(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	e := startWaitEnv(t, time.Second, true)
	ctx := context.Background()
	deploy, err := e.q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web", RequestedBy: "test"}, nil)
	require.NoError(t, err)
	deployed := waitStatus(t, e.q, deploy.ID, StatusSucceeded)
	require.Equal(t, 2, deployed.Installed)
	(&apiEnv{cloud: e.cloud, cat: catalog.New(e.cloud.Client)}).snapshot(t, "debian-12-b", []debian.Package{{Name: "openssl", Version: "3.0.11-1+deb12u1"}})

	e.gate.arm()
	first, err := e.q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: "web/0", RequestedBy: "api"}, nil)
	require.NoError(t, err)
	require.Equal(t, first.ID, <-e.gate.taken, "the first update holds group web")
	second, err := e.q.Insert(ctx, JobRequest{Kind: KindUpdate, Target: "web/1", RequestedBy: "api"}, nil)
	require.NoError(t, err, "a job on another slot of the group is accepted")

	j := waitForWaiting(t, e.q, second.ID)
	require.Equal(t, StatusQueued, j.Status, "waiting, the second update stays queued")
	require.Nil(t, j.Started)
	require.Regexp(t, `^waiting for group web: held by `+"`remint serve \\(2 workers\\): update web/0`"+` \(pid \d+ on host [^,]+, job `+itoa(first.ID)+`\) since `, waiting(j)[0])
	close(e.gate.open)

	done0 := waitStatus(t, e.q, first.ID, StatusSucceeded)
	done1 := waitStatus(t, e.q, second.ID, StatusSucceeded)
	require.Equal(t, 1, done0.Installed)
	require.Equal(t, 1, done1.Installed, "%s", done1.Reason)
	require.Len(t, waiting(done1), 1, "the wait is said once, not at every look: %v", waiting(done1))
	require.Equal(t, 1, done1.Attempt, "waiting uses no attempt")
	require.Empty(t, waiting(done0))
}

// A job queued while a command run by hand holds its group's lease for longer than the
// handler's own wait (3×TTL) waits queued and succeeds once the lease is released; a job
// cancelled while it waits is cancelled and never runs.
func TestJobWaitsForAGroupHeldByHand(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	ttl := 500 * time.Millisecond
	e := startWaitEnv(t, ttl, true)
	ctx := context.Background()
	byHand := &lease.Manager{Store: e.st, TTL: ttl, Holder: store.LeaseHolder{Host: "laptop", PID: 4242, Command: "remint rebuild web"}}
	held, err := byHand.Acquire(ctx, lease.GroupKey("web"))
	require.NoError(t, err)

	j, err := e.q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web", RequestedBy: "api"}, nil)
	require.NoError(t, err)
	got := waitForWaiting(t, e.q, j.ID)
	require.Regexp(t, "^waiting for group web: held by `remint rebuild web` \\(pid 4242 on host laptop\\) since ", waiting(got)[0])
	time.Sleep(5 * ttl) // longer than the handler would wait for the lease
	got, err = e.q.Get(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, StatusQueued, got.Status, "still waiting after 5×TTL: %s", got.Reason)

	// Another job waiting behind the same holder is cancelled.
	other, err := e.q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web/1", RequestedBy: "api"}, nil)
	require.NoError(t, err)
	waitForWaiting(t, e.q, other.ID)
	_, err = e.q.Cancel(ctx, other.ID)
	require.NoError(t, err)
	// At once, or when a worker looking at the lease at that moment snoozes it.
	waitStatus(t, e.q, other.ID, StatusCancelled)

	require.NoError(t, held.Release(ctx))
	done := waitStatus(t, e.q, j.ID, StatusSucceeded)
	require.Equal(t, 2, done.Installed, "%s", done.Reason)
	require.Len(t, waiting(done), 1)
	require.Equal(t, 1, done.Attempt, "waiting uses no attempt")
	cancelled, err := e.q.Get(ctx, other.ID)
	require.NoError(t, err)
	require.Equal(t, StatusCancelled, cancelled.Status)
	require.Nil(t, cancelled.Started, "a job cancelled while it waited never ran")
}

// A job resumed after its process died is not kept waiting by the group lease its own
// earlier attempt took (it names the job): the handler takes it over once it expires.
func TestResumedJobDoesNotWaitForItsOwnLease(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	ttl := time.Second
	e := startWaitEnv(t, ttl, false)
	ctx := context.Background()
	j, err := e.q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web", RequestedBy: "api"}, nil)
	require.NoError(t, err)
	// The dead process's lease, taken for this job, still unexpired.
	_, err = e.st.AcquireLease(ctx, lease.GroupKey("web"), store.LeaseHolder{Host: "gone", PID: 99, Command: "remint serve: job on group web", Job: j.ID},
		ttl, time.Now())
	require.NoError(t, err)
	require.NoError(t, e.q.Start(ctx))
	done := waitStatus(t, e.q, j.ID, StatusSucceeded)
	require.Empty(t, waiting(done), "no wait behind its own lease")
	require.Equal(t, 2, done.Installed)
}

// groupHandler is a job kind that holds its target's group lease for a while, refusing
// at once (no wait) when someone else holds it; it counts how many run at once.
type groupHandler struct {
	m *lease.Manager

	mu                  sync.Mutex
	running, maxRunning int
}

func (h *groupHandler) count(d int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running += d
	h.maxRunning = max(h.maxRunning, h.running)
}

func (h *groupHandler) Check(string, json.RawMessage) error { return nil }
func (h *groupHandler) LeaseKeys(target string) []string    { return groupLeaseKeys(target) }

func (h *groupHandler) Run(ctx context.Context, w *Work) error {
	group, _ := SplitTarget(w.Target)
	l, err := h.m.Acquire(ctx, lease.GroupKey(group))
	if err != nil {
		return err
	}
	defer l.Release(ctx)
	h.count(1)
	defer h.count(-1)
	select {
	case <-time.After(100 * time.Millisecond):
	case <-l.Context().Done():
		return context.Cause(l.Context())
	}
	return nil
}

// Jobs on four slots of one group queued at once, worked by four workers: each takes its
// turn, one at a time, none fails because another took the group's lease between its
// look and its take (the handler here refuses a held lease at once).
func TestJobsQueuedAtOnceOnOneGroupRunOneAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	ttl := 500 * time.Millisecond
	h := &groupHandler{m: &lease.Manager{Store: st, TTL: ttl, Holder: store.LeaseHolder{Host: "test", PID: 1, Command: "test"}}}
	q, err := NewQueue(ctx, st, Registry{"hold": h}, QueueConfig{Workers: 4, PollInterval: 20 * time.Millisecond, LeaseTTL: ttl,
		Holder: store.LeaseHolder{Host: "test", PID: 1, Command: "remint serve (4 workers)"}})
	require.NoError(t, err)
	var ids []int64
	for slot := range 4 {
		j, err := q.Insert(ctx, JobRequest{Kind: "hold", Target: SlotTarget("web", slot)}, nil)
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })
	waited := 0
	for _, id := range ids {
		require.Eventually(t, func() bool {
			j, err := q.Get(ctx, id)
			require.NoError(t, err)
			return j.Status != StatusQueued && j.Status != StatusRunning
		}, 30*time.Second, 20*time.Millisecond)
		j, err := q.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, StatusSucceeded, j.Status, "job %d (%s): %s", id, j.Target, j.Reason)
		require.LessOrEqual(t, len(waiting(j)), 3, "said once per holder it waited for: %v", waiting(j))
		require.Equal(t, 1, j.Attempt)
		if len(waiting(j)) > 0 {
			waited++
		}
	}
	require.Equal(t, 1, h.maxRunning, "one at a time")
	require.GreaterOrEqual(t, waited, 1, "some waited their turn")
}

// A scheduled rebuild that waited its turn for group web (held by a command run by hand)
// until after its window closed fails its window check saying that it waited, for what,
// from when and held by whom; a job whose window closed without a wait says nothing of
// one. The clock is the queue's (moved past the window's end while the job waits).
func TestJobThatWaitedPastItsWindowSaysItWaited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	clock := &offsetClock{}
	groups := func(string) bool { return true }
	notReached := func(context.Context, string, func(failover.Event)) (failover.Deps, error) {
		return failover.Deps{}, errors.New("the rebuild started: the window check let it through")
	}
	ttl := 200 * time.Millisecond
	q, err := NewQueue(ctx, st, Registry{KindRebuild: RebuildHandler{Groups: groups, Deps: notReached}},
		QueueConfig{Workers: 2, PollInterval: 20 * time.Millisecond, LeaseTTL: ttl, Now: clock.Now,
			Holder: store.LeaseHolder{Host: "test", PID: 1, Command: "remint serve (2 workers)"}})
	require.NoError(t, err)

	// `remint rebuild web` by hand holds the group for hours (in the queue's clock).
	byHand, err := st.AcquireLease(ctx, lease.GroupKey("web"), store.LeaseHolder{Host: "laptop", PID: 4242, Command: "remint rebuild web"},
		6*time.Hour, clock.Now())
	require.NoError(t, err)
	start := clock.Now().Truncate(time.Second)
	run := &Run{Start: start, End: start.Add(2 * time.Hour)}
	waited, err := q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web", Schedule: "weekend-web", Run: run, RequestedBy: "schedule weekend-web"}, nil)
	require.NoError(t, err)
	// Another group, its window closed already: no wait.
	late, err := q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "db", Schedule: "weekend-db", RequestedBy: "schedule weekend-db",
		Run: &Run{Start: start.Add(-3 * time.Hour), End: start.Add(-time.Hour)}}, nil)
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })

	j := waitForWaiting(t, q, waited.ID)
	since := waiting(j)[0]
	var from time.Time
	for _, e := range j.Events {
		if e.Message == since {
			from = e.Time
		}
	}
	clock.set(2*time.Hour + 5*time.Minute) // past the window's end while it waits
	require.NoError(t, st.ReleaseLease(ctx, byHand.Key, byHand.Token))

	failed := waitStatus(t, q, waited.ID, StatusFailed)
	require.Regexp(t, `^rebuild of web not started: the window of the run at `+regexp.QuoteMeta(start.UTC().Format(time.RFC3339))+
		` closed at `+regexp.QuoteMeta(run.End.UTC().Format(time.RFC3339))+` \(5m\d*s? ago\): `, failed.Reason)
	require.True(t, strings.HasSuffix(failed.Reason, " (it waited for group web from "+from.UTC().Format(time.RFC3339)+
		", held by `remint rebuild web` (pid 4242 on host laptop) since "+byHand.Acquired.UTC().Format(time.RFC3339)+")"), failed.Reason)

	other := waitStatus(t, q, late.ID, StatusFailed)
	require.Contains(t, other.Reason, "rebuild of db not started: the window of the run at ")
	require.NotContains(t, other.Reason, "waited", "it did not wait")
}
