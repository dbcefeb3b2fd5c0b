package failover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
)

// ServerWatcher is the batched status poll: the boot step asks Nova once per poll about
// every replacement of the rollout in flight, instead of once per replacement, and the
// ports of every replacement that just became ACTIVE in one more call.
type ServerWatcher interface {
	// ListServersChangedSince lists the servers matching opts that changed at or after
	// since (Nova's changes-since; deleted ones with Status DELETED); zero since lists all.
	ListServersChangedSince(ctx context.Context, opts openstack.ListServersOpts, since time.Time) ([]openstack.Server, error)
	// PortsOfServers maps each server id to its ports, for many servers at once.
	PortsOfServers(ctx context.Context, serverIDs []string) (map[string][]openstack.Port, error)
}

// Polling cadence of the watcher. Before any boot has been seen, it polls
// Options.BootPoll (default watchFirst) apart, or a tenth of the time waited so far when
// that is longer (at most watchMax). Once one replacement was
// seen ACTIVE, boots of the same image and flavor take about as long: each server is
// first polled for when the fastest boot seen so far has passed since its creation (a
// little before), then every watchStep for watchNear polls, then growing by half to
// watchMax. Polls are never closer than watchGap, and a poll answers every server in
// flight, so servers created together are polled for together.
const (
	watchFirst = 200 * time.Millisecond
	watchStep  = 25 * time.Millisecond
	watchMax   = 2 * time.Second
	watchGap   = 20 * time.Millisecond
	// watchEarly is how much before the expected end of a boot the first poll goes, so
	// that the estimate tightens towards the true boot time instead of drifting up.
	watchEarly = 25 * time.Millisecond
	// watchNear is how many polls watchStep apart follow a boot's expected end before
	// the step grows: servers of a wave are polled for together, so these few cost a
	// handful of calls per wave, not per server.
	watchNear = 8
)

// watchResult is what the watcher tells one waiting slot.
type watchResult struct {
	srv   openstack.Server
	ports *portFuture // the server's ports, fetched after the slot was woken
	err   error
}

type watchWait struct {
	created  time.Time // local clock, when the create returned
	due      time.Time // next poll this waiter asks for
	step     time.Duration
	misses   int // polls since due that did not find it ACTIVE
	deadline time.Time
	done     chan watchResult
}

// watcher is one rollout's poller: one goroutine, one GET /servers/detail per poll.
type watcher struct {
	cloud   ServerWatcher
	opts    openstack.ListServersOpts
	now     func() time.Time
	timeout time.Duration // how long a boot may take
	first   time.Duration // first interval before any boot was seen

	mu      sync.Mutex
	waiting map[string]*watchWait
	since   time.Time     // Nova's clock: changes-since for the next poll
	fastest time.Duration // fastest create → seen ACTIVE so far (0: none yet)
	polls   int
	kick    chan struct{}
}

func newWatcher(cloud ServerWatcher, opts openstack.ListServersOpts, now func() time.Time, timeout, first time.Duration) *watcher {
	return &watcher{cloud: cloud, opts: opts, now: now, timeout: timeout, first: first, waiting: map[string]*watchWait{}, kick: make(chan struct{}, 1)}
}

// active waits until the poller sees server id ACTIVE (created is when its create
// returned) and returns it with its ports. ERROR fails with Nova's fault; a deleted
// server fails with openstack.ErrNotFound.
func (w *watcher) active(ctx context.Context, id string, created time.Time) (openstack.Server, *portFuture, error) {
	now := w.now()
	wt := &watchWait{created: created, step: watchStep, deadline: now.Add(w.timeout), done: make(chan watchResult, 1)}
	w.mu.Lock()
	if w.fastest > 0 {
		wt.due = created.Add(w.fastest - watchEarly)
	} else {
		wt.due, wt.step = now.Add(w.first), w.first
	}
	w.waiting[id] = wt
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case res := <-wt.done:
		return res.srv, res.ports, res.err
	case <-ctx.Done():
		w.mu.Lock()
		delete(w.waiting, id)
		w.mu.Unlock()
		return openstack.Server{}, nil, ctx.Err()
	}
}

// run polls while anyone waits, until ctx ends.
func (w *watcher) run(ctx context.Context) {
	var last time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		w.mu.Lock()
		var next time.Time
		for _, wt := range w.waiting {
			if next.IsZero() || wt.due.Before(next) {
				next = wt.due
			}
		}
		w.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(w.now()), last.Add(watchGap).Sub(w.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
			timer.Stop() // Go 1.23+: no stale tick survives Stop/Reset
			continue
		case <-timer.C:
		}
		last = w.now()
		w.poll(ctx)
	}
}

// poll asks Nova once about every server changed since the last answer and wakes the
// waiters whose server is done booting.
func (w *watcher) poll(ctx context.Context) {
	w.mu.Lock()
	since := w.since
	w.polls++
	w.mu.Unlock()
	list, err := w.cloud.ListServersChangedSince(ctx, w.opts, since)
	now := w.now()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// The adapter already retried (honouring Retry-After); back off further, and
		// fail the waiters only for errors that will not go away, or at their deadline.
		w.mu.Lock()
		defer w.mu.Unlock()
		for id, wt := range w.waiting {
			if !openstack.IsRetryable(err) || now.After(wt.deadline) {
				w.deliver(id, watchResult{err: fmt.Errorf("poll the status of server %s: %w", id, err)})
				continue
			}
			wt.step = min(max(wt.step*2, w.first), watchMax)
			wt.due = now.Add(wt.step)
		}
		return
	}
	var ready []openstack.Server
	w.mu.Lock()
	for _, s := range list {
		// Nova's timestamps have whole seconds: the next poll reaches a second back.
		if t := s.Updated.Add(-time.Second); t.After(w.since) {
			w.since = t
		}
		wt, ok := w.waiting[s.ID]
		if !ok {
			continue
		}
		switch s.Status {
		case "ACTIVE":
			ready = append(ready, s)
			if d := now.Sub(wt.created); w.fastest == 0 || d < w.fastest {
				w.fastest = d
			}
		case "ERROR":
			w.deliver(s.ID, watchResult{srv: s, err: openstack.Terminal(fmt.Errorf("server %s (%s) went to ERROR: %s", s.Name, s.ID, orNone(s.Fault)))})
		case "DELETED", "SOFT_DELETED":
			w.deliver(s.ID, watchResult{srv: s, err: openstack.Terminal(fmt.Errorf("server %s (%s) is %s: %w", s.Name, s.ID, s.Status, openstack.ErrNotFound))})
		}
	}
	isReady := map[string]bool{}
	for _, s := range ready {
		isReady[s.ID] = true
	}
	// Everyone this poll was for and who is not done asks again, a little later.
	for id, wt := range w.waiting {
		if isReady[id] || wt.due.After(now.Add(watchGap)) {
			continue
		}
		if now.After(wt.deadline) {
			w.deliver(id, watchResult{err: fmt.Errorf("server %s: %w: not ACTIVE %s after its creation", id, errBootTimeout, now.Sub(wt.created).Round(time.Second))})
			continue
		}
		wt.misses++
		switch {
		case w.fastest == 0:
			// No boot seen yet: poll a tenth of the time waited so far apart, so the
			// first wave is seen within about 10% of its boot at a few polls per rollout.
			wt.step = min(max(now.Sub(wt.created)/10, w.first), watchMax)
		case wt.misses >= watchNear:
			wt.step = min(wt.step*3/2, watchMax)
		}
		// Otherwise a boot just missed is near: the step stays short a while.
		wt.due = now.Add(wt.step)
	}
	w.mu.Unlock()
	if len(ready) == 0 {
		return
	}
	// Wake the slots now: their health checks need no port. The ports of all of them
	// follow in one more call, off the poll loop; the move waits for them.
	ids := make([]string, 0, len(ready))
	futures := map[string]*portFuture{}
	w.mu.Lock()
	for _, s := range ready {
		if _, ok := w.waiting[s.ID]; !ok {
			continue
		}
		f := &portFuture{done: make(chan struct{})}
		futures[s.ID] = f
		ids = append(ids, s.ID)
		w.deliver(s.ID, watchResult{srv: s, ports: f})
	}
	w.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	go func() {
		ports, err := w.cloud.PortsOfServers(ctx, ids)
		for id, f := range futures {
			f.ports, f.err = ports[id], err
			close(f.done)
		}
	}()
}

// portFuture is a server's ports as the batched ports call will tell them.
type portFuture struct {
	done  chan struct{}
	ports []openstack.Port
	err   error
}

// port waits for the answer and returns the server's first port ("" when the batched
// call failed or found none: the caller then looks it up alone).
func (f *portFuture) port(ctx context.Context) string {
	select {
	case <-f.done:
	case <-ctx.Done():
		return ""
	}
	if f.err != nil || len(f.ports) == 0 {
		return ""
	}
	return f.ports[0].ID
}

// deliver wakes the waiter of id (caller holds w.mu).
func (w *watcher) deliver(id string, res watchResult) {
	if wt, ok := w.waiting[id]; ok {
		delete(w.waiting, id)
		wt.done <- res
	}
}

func (w *watcher) pollCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls
}

var errBootTimeout = errors.New("boot timed out")
