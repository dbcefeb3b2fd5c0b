package failover

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/prometheus/promtest"
	"github.com/remint-dev/remint/internal/store"
)

var (
	v1 = Target{ImageID: "img-v1", Version: "2026.10.1"}
	v2 = Target{ImageID: "img-v2", Version: "2026.11.1"}
)

type harness struct {
	t     *testing.T
	cloud *fakeCloud
	store *store.Store
	spec  Spec

	mu     sync.Mutex
	events []Event
}

func fakeSpec(count int, strategy string, surge, unavail int) Spec {
	s := Spec{
		Group: "web", Count: count, Strategy: strategy, AddressMode: AddressPerServer,
		MaxSurge: surge, MaxUnavailable: unavail, HealthGate: true, Flavor: "m1.small", Network: "private",
		Health: Health{HealthyThreshold: 2},
	}
	n := count
	if strategy == StrategyBlueGreen && count > 1 && count%2 == 1 {
		s.AddressMode, n = AddressGroup, 1 // odd blue/green groups use one group address
	}
	for range n {
		s.Addresses = append(s.Addresses, manifest.Address{AllocateFrom: "public"})
	}
	return s
}

func newHarness(t *testing.T, seed uint64, spec Spec) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	c := newFakeCloud(seed)
	c.group, c.count = spec.Group, spec.Count
	return &harness{t: t, cloud: c, store: st, spec: spec}
}

func (h *harness) executor(crash func(string) error) *Executor {
	h.t.Helper()
	ex, err := NewExecutor(Options{
		Cloud: h.cloud, Store: h.store, Spec: h.spec,
		Prober: fakeProber{h.cloud}, Gate: fakeGate{h.cloud},
		Policy:      health.Policy{Interval: time.Millisecond, Timeout: 50 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Deadline: 400 * time.Millisecond},
		StepBackoff: func() retry.Backoff { return retry.WithMaxRetries(20, retry.NewConstant(time.Millisecond)) },
		Events: func(e Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
		Drain:    -1,
		BootPoll: time.Millisecond,
		crash:    crash,
	})
	require.NoError(h.t, err)
	return ex
}

// rollout plans and runs (or resumes) a rollout to target.
func (h *harness) rollout(ctx context.Context, ex *Executor, target Target, force bool) (Result, error) {
	_, id, err := ex.Prepare(ctx, target, force)
	if errors.Is(err, ErrUnfinished) {
		return ex.Run(ctx, id)
	}
	if err != nil {
		return Result{}, err
	}
	return ex.Run(ctx, id)
}

// deploy brings the group up on v1 with no faults and starts checking invariants.
func (h *harness) deploy() {
	h.t.Helper()
	res, err := h.rollout(context.Background(), h.executor(nil), v1, false)
	require.NoError(h.t, err)
	require.True(h.t, res.OK())
	h.assertConverged(v1)
	h.cloud.mu.Lock()
	h.cloud.inv, h.cloud.surge, h.cloud.unavail = true, h.spec.MaxSurge, h.spec.MaxUnavailable
	if h.spec.Strategy == StrategyBlueGreen {
		h.cloud.surge = h.spec.Count
	}
	h.cloud.mu.Unlock()
}

// assertConverged checks the end state of a complete rollout to target: every slot
// has exactly one server, on target, healthy, behind its address; nothing else exists.
func (h *harness) assertConverged(target Target) {
	h.t.Helper()
	ctx := context.Background()
	slots, err := h.store.Slots(ctx, h.spec.Group)
	require.NoError(h.t, err)
	require.Len(h.t, slots, h.spec.Count)
	h.cloud.mu.Lock()
	defer h.cloud.mu.Unlock()
	require.Len(h.t, h.cloud.servers, h.spec.Count, "servers: %v", h.serverNames())
	addrs, err := h.store.Addresses(ctx, h.spec.Group)
	require.NoError(h.t, err)
	addrOf := map[int]string{}
	for _, a := range addrs {
		addrOf[a.Slot] = a.ID
	}
	for _, sl := range slots {
		s, ok := h.cloud.servers[sl.ServerID]
		require.True(h.t, ok, "slot %d: server %s missing", sl.Slot, sl.ServerID)
		require.Equal(h.t, target.ImageID, s.ImageID, "slot %d", sl.Slot)
		require.Equal(h.t, target.Version, sl.ImageVersion)
		require.True(h.t, s.up(), "slot %d not healthy", sl.Slot)
		require.Equal(h.t, strconv.Itoa(sl.Slot), s.Metadata[MetaSlot])
		if _, want := h.spec.addressOf(sl.Slot); want {
			fip := h.cloud.fips[addrOf[sl.Slot]]
			require.NotNil(h.t, fip, "slot %d has no recorded address", sl.Slot)
			require.Equal(h.t, s.port, fip.PortID, "slot %d: address %s does not point at its server", sl.Slot, fip.Address)
		}
	}
	wantFIPs := len(h.spec.Addresses)
	require.Len(h.t, h.cloud.fips, wantFIPs, "addresses allocated once")
}

// assertConsistent checks the end state of a failed rollout: every recorded slot server
// exists and is healthy, addresses point at recorded servers (or nowhere when their
// slot is empty), and no server exists that no slot records.
func (h *harness) assertConsistent() {
	h.t.Helper()
	ctx := context.Background()
	slots, err := h.store.Slots(ctx, h.spec.Group)
	require.NoError(h.t, err)
	h.cloud.mu.Lock()
	defer h.cloud.mu.Unlock()
	recorded := map[string]bool{}
	for _, sl := range slots {
		s, ok := h.cloud.servers[sl.ServerID]
		require.True(h.t, ok, "slot %d: server %s missing", sl.Slot, sl.ServerID)
		require.True(h.t, s.up(), "slot %d not healthy", sl.Slot)
		recorded[s.port] = true
	}
	require.Len(h.t, h.cloud.servers, len(slots), "servers no slot records: %v", h.serverNames())
	for _, fip := range h.cloud.fips {
		require.True(h.t, fip.PortID == "" || recorded[fip.PortID], "address %s points at unrecorded port %s", fip.Address, fip.PortID)
	}
}

func (h *harness) serverNames() []string {
	var out []string
	for _, s := range h.cloud.servers {
		out = append(out, s.Name+"/"+s.Status)
	}
	return out
}

func (h *harness) violations() []string {
	h.cloud.mu.Lock()
	defer h.cloud.mu.Unlock()
	return append([]string(nil), h.cloud.violations...)
}

func TestRolloutFirstDeployThenRebuild(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		strategy string
		count    int
		surge    int
		unavail  int
	}{
		{"rolling-1", StrategyRolling, 1, 1, 0},
		{"rolling-3", StrategyRolling, 3, 1, 0},
		{"rolling-10-surge3", StrategyRolling, 10, 3, 0},
		{"rolling-5-surge1-unavail1", StrategyRolling, 5, 1, 1},
		{"rolling-4-unavail1", StrategyRolling, 4, 0, 1},
		{"bluegreen-3-group-address", StrategyBlueGreen, 3, 1, 0},
		{"bluegreen-4-per-server", StrategyBlueGreen, 4, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 1, fakeSpec(tt.count, tt.strategy, tt.surge, tt.unavail))
			h.deploy()
			res, err := h.rollout(context.Background(), h.executor(nil), v2, false)
			require.NoError(t, err)
			require.True(t, res.OK())
			h.assertConverged(v2)
			if tt.unavail == 0 {
				require.Empty(t, h.violations())
			}
			// Nothing left to do: a second rebuild plans only skips.
			p, _, err := h.executor(nil).Prepare(context.Background(), v2, false)
			require.NoError(t, err)
			require.Empty(t, p.Work())
		})
	}
}

// TestRolloutInvariantsUnderFaults runs rollouts over 100 seeds with transient cloud
// errors, boot failures, unhealthy images and concurrent address edits (412s). Whatever
// happens: the address always points at a healthy server, the group never has more than
// count+surge servers nor fewer than count-unavailable healthy ones, and the end state
// is either converged on the target or consistent on the old servers.
func TestRolloutInvariantsUnderFaults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("100 seeds")
	}
	completed, failed := 0, 0
	var mu sync.Mutex
	for seed := range uint64(100) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			count := 1 + int(seed%6)
			strategy := StrategyRolling
			surge, unavail := int(seed%3), int(seed/3%2)
			if surge == 0 && unavail == 0 {
				surge = 1
			}
			if seed%4 == 3 {
				strategy, surge, unavail = StrategyBlueGreen, 1, 0
			}
			spec := fakeSpec(count, strategy, surge, unavail)
			if seed%5 == 1 {
				// A bake between waves; with rollback_on_failure: all on half of them.
				spec.Bake, spec.RollbackAll = 2*time.Millisecond, seed%10 == 1
			}
			var prom *promtest.Server
			if seed%7 == 2 {
				// An alarm gate that goes off at a random moment of some rollouts.
				prom = promtest.Start(t, 0)
				spec.Alarm = &Alarm{URL: prom.URL, Query: "errors", Max: 1}
			}
			h := newHarness(t, seed, spec)
			h.deploy()
			h.cloud.mu.Lock()
			h.cloud.pTransient, h.cloud.pStale = 0.1, 0.2
			h.cloud.pBootFail = 0.04
			if seed%10 == 7 {
				h.cloud.unhealthyImages[v2.ImageID] = true
			}
			h.cloud.mu.Unlock()
			ex := h.executor(nil)
			if prom != nil {
				var mu sync.Mutex
				rng := rand.New(rand.NewPCG(seed, 11))
				events := ex.Events
				ex.Events = func(ev Event) {
					events(ev)
					mu.Lock()
					defer mu.Unlock()
					if rng.Float64() < 0.05 {
						prom.Set(5)
					}
				}
			}
			res, err := h.rollout(context.Background(), ex, v2, false)
			require.Empty(t, h.violations(), "seed %d", seed)
			h.cloud.mu.Lock()
			h.cloud.pTransient, h.cloud.pStale, h.cloud.pBootFail = 0, 0, 0
			h.cloud.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				completed++
				require.True(t, res.OK())
				h.assertConverged(v2)
				return
			}
			failed++
			require.Equal(t, store.RolloutFailed, res.Status, "seed %d: %v", seed, err)
			require.Contains(t, err.Error(), "slot web-")
			h.assertConsistent()
		})
	}
	t.Cleanup(func() { t.Logf("completed %d, failed cleanly %d", completed, failed) })
}

func TestBootFailureKeepsOldServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3, fakeSpec(3, StrategyRolling, 1, 0))
	h.deploy()
	h.cloud.mu.Lock()
	h.cloud.pBootFail = 1
	h.cloud.mu.Unlock()
	res, err := h.rollout(context.Background(), h.executor(nil), v2, false)
	require.Error(t, err)
	require.Contains(t, err.Error(), "slot web-0")
	require.Contains(t, err.Error(), "ERROR")
	require.Equal(t, store.RolloutFailed, res.Status)
	require.Empty(t, h.violations())
	h.cloud.mu.Lock()
	h.cloud.pBootFail = 0
	h.cloud.mu.Unlock()
	h.assertConverged(v1) // nothing changed: the old servers keep serving
}

func TestUnhealthyReplacementIsDeleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 4, fakeSpec(2, StrategyRolling, 1, 0))
	h.deploy()
	h.cloud.unhealthyImages[v2.ImageID] = true
	_, err := h.rollout(context.Background(), h.executor(nil), v2, false)
	require.ErrorContains(t, err, "health of replacement web-0-")
	require.Empty(t, h.violations())
	h.assertConverged(v1)
}

func TestFailedGateMovesAddressBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5, fakeSpec(2, StrategyRolling, 1, 0))
	h.deploy()
	h.cloud.gateFails[v2.ImageID] = true
	_, err := h.rollout(context.Background(), h.executor(nil), v2, false)
	require.ErrorContains(t, err, "health gate through 203.0.113.")
	h.assertConverged(v1)
	var moved bool
	for _, e := range h.events {
		moved = moved || e.Step == "moved-back"
	}
	require.True(t, moved, "the address was moved back")
}

func TestAddressTakenByAnotherServerIsNotForced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 6, fakeSpec(1, StrategyRolling, 1, 0))
	h.deploy()
	// Someone points the address at a server outside the group.
	h.cloud.mu.Lock()
	for _, fip := range h.cloud.fips {
		fip.PortID = "port-of-someone-else"
		fip.RevisionNumber++
	}
	h.cloud.mu.Unlock()
	_, err := h.rollout(context.Background(), h.executor(nil), v2, false)
	require.ErrorContains(t, err, errAddressTaken.Error())
	h.cloud.mu.Lock()
	defer h.cloud.mu.Unlock()
	for _, fip := range h.cloud.fips {
		require.Equal(t, "port-of-someone-else", fip.PortID, "never forced")
	}
	require.Len(t, h.cloud.servers, 1, "replacement deleted")
}

func TestKeepOldThenRollback(t *testing.T) {
	t.Parallel()
	spec := fakeSpec(3, StrategyRolling, 1, 0)
	spec.KeepOld = time.Hour
	h := newHarness(t, 7, spec)
	h.deploy()
	before, err := h.store.Slots(context.Background(), "web")
	require.NoError(t, err)
	res, err := h.rollout(context.Background(), h.executor(nil), v2, false)
	require.NoError(t, err)
	for _, s := range res.Slots {
		require.Equal(t, StateKept, s.State)
	}
	h.cloud.mu.Lock()
	require.Len(t, h.cloud.servers, 6, "old servers kept for rollback")
	h.cloud.mu.Unlock()

	rb, err := h.executor(nil).Rollback(context.Background())
	require.NoError(t, err)
	require.Equal(t, store.RolloutRolledBack, rb.Status)
	after, err := h.store.Slots(context.Background(), "web")
	require.NoError(t, err)
	for i := range before {
		require.Equal(t, before[i].ServerID, after[i].ServerID)
	}
	h.assertConverged(v1)
	_, err = h.executor(nil).Rollback(context.Background())
	require.ErrorIs(t, err, ErrNothingToRollBack)
}

func TestKeptServersRetireAfterKeepOld(t *testing.T) {
	t.Parallel()
	spec := fakeSpec(2, StrategyRolling, 1, 0)
	spec.KeepOld = time.Hour
	h := newHarness(t, 8, spec)
	h.deploy()
	_, err := h.rollout(context.Background(), h.executor(nil), v2, false)
	require.NoError(t, err)
	ex := h.executor(nil)
	n, err := ex.RetireExpired(context.Background(), time.Now())
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = ex.RetireExpired(context.Background(), time.Now().Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	h.assertConverged(v2)
}

func TestAdoptRecordsExistingServers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 9, fakeSpec(3, StrategyRolling, 1, 0))
	ctx := context.Background()
	for _, name := range []string{"web-0", "web-1-abc", "web-9", "other-0"} {
		_, err := h.cloud.CreateServer(ctx, specNamed(name))
		require.NoError(t, err)
	}
	adopted, notes, err := h.executor(nil).Adopt(ctx, func(context.Context, string) string { return "2026.09.1" })
	require.NoError(t, err)
	require.Len(t, adopted, 2)
	require.Equal(t, 0, adopted[0].Slot)
	require.Equal(t, "web-1-abc", adopted[1].ServerName)
	require.Equal(t, "2026.09.1", adopted[1].ImageVersion)
	require.Contains(t, notes, "slot web-2: no server (the next rebuild creates one)")
	// The next rebuild creates web-2 and replaces the others.
	for _, s := range h.cloud.servers {
		s.Status = "ACTIVE"
	}
	delete(h.cloud.servers, firstNamed(h.cloud, "web-9"))
	delete(h.cloud.servers, firstNamed(h.cloud, "other-0"))
	res, err := h.rollout(ctx, h.executor(nil), v2, false)
	require.NoError(t, err)
	require.True(t, res.OK())
	h.assertConverged(v2)
}

func specNamed(name string) openstack.ServerSpec {
	return openstack.ServerSpec{Name: name, ImageID: "img-old"}
}

func firstNamed(c *fakeCloud, name string) string {
	for id, s := range c.servers {
		if s.Name == name {
			return id
		}
	}
	return ""
}

func TestProgressReportsProbesWithoutStoringThem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 11, fakeSpec(1, StrategyRolling, 1, 0))
	ex := h.executor(nil)
	var mu sync.Mutex
	var progress []Event
	ex.Progress = func(e Event) {
		mu.Lock()
		progress = append(progress, e)
		mu.Unlock()
	}
	res, err := h.rollout(context.Background(), ex, v1, false)
	require.NoError(t, err)
	require.NotEmpty(t, progress)
	require.Equal(t, StateChecking, progress[0].Step)
	require.Contains(t, progress[len(progress)-1].Message, "2 of 2 passes")
	stored, err := h.store.Events(context.Background(), res.Rollout)
	require.NoError(t, err)
	for _, e := range stored {
		require.NotContains(t, e.Message, "passes", "probe progress is not stored")
	}
}
