package failover

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/prometheus"
)

// Options wire an Executor.
type Options struct {
	Cloud  Cloud
	Store  State // *store.Store satisfies it
	Spec   Spec
	Prober health.Prober // checks a replacement on its fixed IP (a health.ServerProber: by id); nil skips health checks
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
	// Alarm is the alarm gate; nil builds one from Spec.Alarm (Prometheus), if any.
	Alarm AlarmGate
	// PerServerPolling waits for each replacement with its own GET /servers/{id} polls
	// (the adapter's WaitServerActive) instead of the rollout's one batched poll, and
	// looks up ports and floating IPs one call at a time: the behaviour before batching,
	// kept so that make bench can show both side by side.
	PerServerPolling bool
	// BootTimeout bounds how long a replacement may take to become ACTIVE under the
	// batched poll. Zero means 30m.
	BootTimeout time.Duration
	// BootPoll is the batched poll's first interval, before any boot has been seen (it
	// then doubles up to 2s; once a boot was seen, polls follow the boot time). Zero
	// means 200ms.
	BootPoll time.Duration
	// Deadline, when set, is the end of the maintenance window: no new slot replacement
	// (or wave, or removal) starts at or after it. Steps under way finish; the rollout
	// stays running in the store (the next rebuild resumes it) and Run returns a
	// *DeadlineError saying what is left.
	Deadline time.Time
	// crash, in tests, returns an error at chosen points to simulate kill -9.
	crash func(point string) error
}

// Executor runs rollouts of one group. It is safe to use from one goroutine at a time;
// the steps of a wave run concurrently inside Run.
type Executor struct {
	Options
	cloud Cloud
	store State
	spec  Spec
	log   *slog.Logger
	now   func() time.Time
	// windowNow, when set, is the clock only the maintenance window is read by (tests
	// close the window mid-slot without skewing the boot and health-check timings).
	windowNow func() time.Time

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
	if o.Alarm == nil && o.Spec.Alarm != nil {
		o.Alarm = prometheus.Gate{Client: prometheus.Client{BaseURL: o.Spec.Alarm.URL}, Query: o.Spec.Alarm.Query, Max: o.Spec.Alarm.Max}
	}
	if o.BootPoll <= 0 {
		o.BootPoll = watchFirst
	}
	if o.BootTimeout <= 0 {
		o.BootTimeout = 30 * time.Minute
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
