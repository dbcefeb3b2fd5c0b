package failover

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// fakeCatalog knows v1 and v2 of family debian-12; v2 is the latest.
type fakeCatalog struct{}

func (fakeCatalog) Resolve(_ context.Context, family, version string) (catalog.Entry, error) {
	for _, t := range []Target{v2, v1} {
		if version == "" || version == "latest" || version == t.Version {
			v, err := catalog.ParseVersion(t.Version)
			if err != nil {
				return catalog.Entry{}, err
			}
			return catalog.Entry{Family: family, Version: v, State: catalog.Active, Image: openstack.Image{ID: t.ImageID}}, nil
		}
	}
	return catalog.Entry{}, fmt.Errorf("family %s has no version %s: %w", family, version, catalog.ErrUnknownVersion)
}

// deps wires the use cases like harness.executor wires an executor, with a lease
// manager on the harness's store.
func (h *harness) deps(holder string) Deps {
	h.spec.Image.Family = "debian-12"
	return Deps{
		Options: Options{
			Cloud: h.cloud, Store: h.store, Spec: h.spec,
			Prober: fakeProber{h.cloud}, Gate: fakeGate{h.cloud},
			Policy:      health.Policy{Interval: time.Millisecond, Timeout: 50 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Deadline: 100 * time.Millisecond},
			StepBackoff: func() retry.Backoff { return retry.WithMaxRetries(20, retry.NewConstant(time.Millisecond)) },
			Drain:       -1,
		},
		Leases:  &lease.Manager{Store: h.store, TTL: 5 * time.Second, Holder: store.LeaseHolder{Host: "test", PID: 1, Command: holder}},
		Catalog: fakeCatalog{},
	}
}

func TestRebuildDeploysThenUpgradesThenIsUpToDate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 21, fakeSpec(3, StrategyRolling, 1, 0))
	res, err := Rebuild(ctx, h.deps("remint rebuild web"), RebuildRequest{Image: v1.Version})
	require.NoError(t, err)
	require.NotNil(t, res.Rollout)
	require.True(t, res.Rollout.OK())
	h.assertConverged(v1)

	res, err = Rebuild(ctx, h.deps("remint rebuild web"), RebuildRequest{})
	require.NoError(t, err)
	require.Equal(t, v2.ImageID, res.Target.ImageID)
	require.NotNil(t, res.Plan)
	require.NotEmpty(t, res.Events)
	h.assertConverged(v2)

	res, err = Rebuild(ctx, h.deps("remint rebuild web"), RebuildRequest{})
	require.NoError(t, err)
	require.True(t, res.UpToDate)
	require.Nil(t, res.Rollout)
	require.Equal(t, "up-to-date", res.Events[len(res.Events)-1].Step)

	// The lease was released each time.
	_, err = h.store.GetLease(ctx, lease.GroupKey("web"))
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestRebuildIsRefusedWhileAnotherHoldsTheLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 22, fakeSpec(2, StrategyRolling, 1, 0))
	h.deploy()
	other := &lease.Manager{Store: h.store, TTL: time.Minute, Holder: store.LeaseHolder{Host: "hostx", PID: 1234, Command: "remint rebuild web"}}
	l, err := other.Acquire(ctx, lease.GroupKey("web"))
	require.NoError(t, err)

	for name, run := range map[string]func() error{
		"rebuild":  func() error { _, err := Rebuild(ctx, h.deps("b"), RebuildRequest{}); return err },
		"resume":   func() error { _, err := Rebuild(ctx, h.deps("b"), RebuildRequest{Resume: true}); return err },
		"rollback": func() error { _, err := RollbackGroup(ctx, h.deps("b")); return err },
		"adopt":    func() error { _, _, err := AdoptGroup(ctx, h.deps("b")); return err },
		"forget":   func() error { _, err := ForgetGroup(ctx, h.deps("b"), true); return err },
	} {
		err := run()
		var held *lease.HeldError
		require.ErrorAs(t, err, &held, name)
		require.Contains(t, err.Error(), "group web is being changed by `remint rebuild web` (pid 1234 on host hostx)", name)
	}
	rollouts, err := h.store.Rollouts(ctx, "web")
	require.NoError(t, err)
	require.Len(t, rollouts, 1, "nothing was planned or recorded")
	slots, err := h.store.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, slots, 2, "forget dropped no record while the lease was held")

	// A dry run reads only: it takes no lease.
	res, err := Rebuild(ctx, h.deps("b"), RebuildRequest{DryRun: true})
	require.NoError(t, err)
	require.Len(t, res.Plan.Work(), 2)

	require.NoError(t, l.Release(ctx))
	_, err = Rebuild(ctx, h.deps("b"), RebuildRequest{})
	require.NoError(t, err)
	h.assertConverged(v2)
}

func TestRebuildBadRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 23, fakeSpec(2, StrategyRolling, 1, 0))
	neg := -1
	for _, req := range []RebuildRequest{
		{MaxSurge: &neg},
		{MaxUnavailable: &neg},
		{Strategy: "sideways"},
		{Image: "2099.01.1"},
		{Image: "2099.01.1", DryRun: true},
	} {
		_, err := Rebuild(ctx, h.deps("a"), req)
		var bad BadRequestError
		require.ErrorAs(t, err, &bad, "%+v", req)
	}
	_, err := Rebuild(ctx, h.deps("a"), RebuildRequest{Image: "2099.01.1"})
	require.ErrorIs(t, err, catalog.ErrUnknownVersion)

	// Servers of the group that no slot records: adopt first.
	_, err = h.cloud.CreateServer(ctx, specNamed("web-0"))
	require.NoError(t, err)
	_, err = Rebuild(ctx, h.deps("a"), RebuildRequest{})
	var un *UnadoptedError
	require.ErrorAs(t, err, &un)
	require.ErrorAs(t, err, new(BadRequestError))
	require.Contains(t, err.Error(), "remint group adopt web")
}

// A server tagged with the group that no slot records and nothing keeps is an orphan:
// listed with its age and why, deleted by the next rebuild once old enough, unless a
// floating IP points at it.
func TestOrphansAreListedAndDeletedByRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec := fakeSpec(2, StrategyRolling, 1, 0)
	spec.KeepOld = time.Hour
	spec.Health.Deadline = time.Minute
	h := newHarness(t, 24, spec)
	res, err := Rebuild(ctx, h.deps("a"), RebuildRequest{Image: v1.Version})
	require.NoError(t, err)
	require.True(t, res.Rollout.OK())
	res, err = Rebuild(ctx, h.deps("a"), RebuildRequest{Image: v2.Version})
	require.NoError(t, err)
	require.True(t, res.Rollout.OK())
	require.Empty(t, res.Orphans)

	stray, err := h.cloud.CreateServer(ctx, openstack.ServerSpec{Name: "web-stray", ImageID: "img-v1", Metadata: map[string]string{MetaGroup: "web"}})
	require.NoError(t, err)
	ghost, err := h.cloud.CreateServer(ctx, openstack.ServerSpec{Name: "web-1-zzzz", ImageID: "img-v2", Metadata: map[string]string{MetaGroup: "web", MetaSlot: "1", MetaRollout: "zzzz"}})
	require.NoError(t, err)
	_, err = h.cloud.CreateServer(ctx, specNamed("web-untagged")) // not remint's: never an orphan
	require.NoError(t, err)
	other, err := h.cloud.CreateServer(ctx, openstack.ServerSpec{Name: "web-other", Metadata: map[string]string{MetaGroup: "db"}})
	require.NoError(t, err)

	ex := h.executor(nil)
	created := stray.Created // the fake stamps creation times far in the past
	orphans, err := ex.Orphans(ctx, created.Add(10*time.Second))
	require.NoError(t, err)
	require.Len(t, orphans, 2, "%+v", orphans)
	require.Equal(t, stray.ID, orphans[0].ServerID)
	require.Equal(t, 10*time.Second, orphans[0].Age)
	require.Equal(t, "tagged remint_group=web but in no slot and no rollout", orphans[0].Why)
	require.Equal(t, ghost.ID, orphans[1].ServerID)
	require.Equal(t, "tagged with rollout zzzz, which the state store does not know", orphans[1].Why)
	// The old servers kept for rollback are not orphans; nor the slots' servers.
	h.cloud.mu.Lock()
	require.Len(t, h.cloud.servers, 2+2+4)
	h.cloud.mu.Unlock()

	// Too young for the rebuild: reported and left.
	d := h.deps("a")
	d.Now = func() time.Time { return created.Add(10 * time.Second) }
	res, err = Rebuild(ctx, d, RebuildRequest{})
	require.NoError(t, err)
	require.True(t, res.UpToDate)
	require.Len(t, res.Orphans, 2)
	require.Empty(t, res.DeletedOrphans)

	// Old enough, but the stray holds a floating IP: not deleted; the ghost is.
	fip := h.cloud.allocate("someone's")
	_, err = h.cloud.AssociateFloatingIP(ctx, fip.ID, portOf(h.cloud, stray.ID), 0)
	require.NoError(t, err)
	res, err = Rebuild(ctx, h.deps("a"), RebuildRequest{})
	require.NoError(t, err)
	require.Len(t, res.DeletedOrphans, 1)
	require.Equal(t, ghost.ID, res.DeletedOrphans[0].ServerID)
	failed := false
	for _, e := range res.Events {
		if e.Step == "orphan" && e.Failed {
			failed = true
			require.Contains(t, e.Message, "holds floating IP "+fip.Address+": not deleted")
		}
	}
	require.True(t, failed, "the refusal is reported: %+v", res.Events)

	_, err = h.cloud.DisassociateFloatingIP(ctx, fip.ID, 0)
	require.NoError(t, err)
	res, err = Rebuild(ctx, h.deps("a"), RebuildRequest{})
	require.NoError(t, err)
	require.Len(t, res.DeletedOrphans, 1)
	require.Equal(t, stray.ID, res.DeletedOrphans[0].ServerID)
	require.Contains(t, eventMessages(res.Events, "orphan"), "deleted orphaned server web-stray")
	orphans, err = ex.Orphans(ctx, time.Now())
	require.NoError(t, err)
	require.Empty(t, orphans)
	h.cloud.mu.Lock()
	_, ok := h.cloud.servers[other.ID]
	h.cloud.mu.Unlock()
	require.True(t, ok, "another group's server is never touched")
}

// Servers of an unfinished rollout are the rollout's, not orphans: its resume adopts or
// deletes them.
func TestOrphansLeaveTheUnfinishedRolloutAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 25, fakeSpec(2, StrategyRolling, 1, 0))
	h.deploy()
	crash := func(point string) error {
		if point == "created" {
			return errCrash
		}
		return nil
	}
	_, err := h.rollout(ctx, h.executor(crash), v2, false)
	require.ErrorIs(t, err, errCrash)
	orphans, err := h.executor(nil).Orphans(ctx, time.Now())
	require.NoError(t, err)
	require.Empty(t, orphans, "the created-but-unrecorded replacement belongs to the unfinished rollout")

	res, err := Rebuild(ctx, h.deps("a"), RebuildRequest{Resume: true})
	require.NoError(t, err)
	require.NotNil(t, res.Resumed)
	require.True(t, res.Resumed.OK())
	require.Nil(t, res.Rollout)
	h.assertConverged(v2)
}

func portOf(c *fakeCloud, serverID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[serverID].port
}

func eventMessages(events []Event, step string) string {
	var out string
	for _, e := range events {
		if e.Step == step {
			out += e.Message + "\n"
		}
	}
	return out
}

// A holder that loses its lease (here: taken over behind its back) stops: the rollout
// stays recorded as running, for the next holder to resume.
func TestRebuildStopsWhenItsLeaseIsLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, 26, fakeSpec(2, StrategyRolling, 1, 0))
	h.deploy()
	d := h.deps("a")
	d.Leases.(*lease.Manager).TTL = 300 * time.Millisecond
	var once sync.Once
	d.crash = func(point string) error {
		if point == "created" {
			once.Do(func() {
				// Another process takes the lease over, as if this one had stalled past expiry.
				_, err := h.store.AcquireLease(ctx, lease.GroupKey("web"), store.LeaseHolder{Command: "thief"}, time.Hour, time.Now().Add(time.Hour))
				require.NoError(t, err)
				time.Sleep(time.Second) // the renewal notices within TTL/3
			})
		}
		return nil
	}
	_, err := Rebuild(ctx, d, RebuildRequest{})
	require.ErrorIs(t, err, lease.ErrLost)
	ro, err := h.store.UnfinishedRollout(ctx, "web")
	require.NoError(t, err, "the rollout stays recorded")
	require.Equal(t, store.RolloutRunning, ro.Status)
	cur, err := h.store.GetLease(ctx, lease.GroupKey("web"))
	require.NoError(t, err)
	require.Equal(t, "thief", cur.Holder.Command, "the loser's release does not free the new holder's lease")
}
