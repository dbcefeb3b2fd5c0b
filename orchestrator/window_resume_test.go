package orchestrator

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/debian"
	"github.com/remint-dev/remint/internal/lease"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

const resumeManifest = `cloud: remint-sim
state: state.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  web:
    count: 2
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    key_name: remint
    failover:
      addresses:
        - allocate_from: public
        - allocate_from: public
    health:
      http: {port: 8080, path: /healthz, body: ok}
      interval: 50ms
      healthy_threshold: 2
      deadline: 30s
`

// offsetClock is the wall clock moved by a settable offset: the test "waits" past a
// window's end by moving it, between runs (never under a running rollout).
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) set(d time.Duration) { c.off.Store(int64(d)) }

// A scheduled rebuild killed (kill -9) mid-slot, its replacement healthy but the address
// not yet moved, is rescued after its window closed: the resumed job finishes that slot
// (its address on the healthy replacement, the old server gone, nothing orphaned), starts
// no other slot, and fails saying the window closed and what is left. A later run without
// a window resumes the rollout and converges. On the simulator, over gophercloud.
func TestScheduledRebuildResumedAfterItsWindowFinishesTheSlotUnderWay(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	ctx := context.Background()
	cloud, m, st, _ := simState(t, resumeManifest)
	clock := &offsetClock{}
	deps := func(sink func(failover.Event)) failover.Deps {
		spec, err := failover.SpecFromGroup(m.Groups["web"])
		require.NoError(t, err)
		prober, pol, gate, err := failover.ProbesFor(spec, nil)
		require.NoError(t, err)
		return failover.Deps{
			Options: failover.Options{Cloud: cloud.Client, Store: st, Spec: spec, Prober: prober, Policy: pol, Gate: gate, Events: sink, Now: clock.Now},
			Leases:  &lease.Manager{Store: st, TTL: 2 * time.Second, Wait: 10 * time.Second, Holder: store.LeaseHolder{Host: "test", PID: 1}},
			Catalog: catalog.New(cloud.Client), Images: cloud.Client,
		}
	}
	env := &apiEnv{cloud: cloud, cat: catalog.New(cloud.Client)}
	env.snapshot(t, "debian-12-a", []debian.Package{{Name: "openssl", Version: "3.0.11-1", Suite: "bookworm"}})
	_, err := failover.Rebuild(ctx, deps(nil), failover.RebuildRequest{Image: "latest"})
	require.NoError(t, err, "first deploy")
	deployed, err := st.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, deployed, 2)
	env.snapshot(t, "debian-12-b", []debian.Package{{Name: "openssl", Version: "3.0.11-1+deb12u1", Suite: "bookworm-security"}})
	v2, err := env.cat.Resolve(ctx, "debian-12", "latest")
	require.NoError(t, err)

	// The schedule's job: its first attempt rebuilds inside the window and dies (kill -9)
	// once slot 0's replacement is healthy, before its address moves.
	q, err := NewQueue(ctx, st, Registry{KindRebuild: RebuildHandler{Groups: func(g string) bool { return g == "web" },
		Deps: func(ctx context.Context, group string, sink func(failover.Event)) (failover.Deps, error) {
			return deps(sink), nil
		}}},
		QueueConfig{Workers: 1, PollInterval: 20 * time.Millisecond, LeaseTTL: 2 * time.Second, Now: clock.Now,
			Holder: store.LeaseHolder{Host: "test", PID: 2, Command: "test"}})
	require.NoError(t, err)
	run := Run{Start: clock.Now().Add(-time.Minute), End: clock.Now().Add(30 * time.Minute)}
	j, err := q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web", Schedule: "sat-web", Run: &run, RequestedBy: "schedule sat-web"}, nil)
	require.NoError(t, err)
	_, err = st.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now') WHERE id = ?`, j.ID)
	require.NoError(t, err)
	require.NoError(t, st.JobStarted(ctx, j.ID, clock.Now()))
	_, err = st.AcquireLease(ctx, jobLeaseKey(j.ID), store.LeaseHolder{Host: "gone", PID: 42}, time.Millisecond, time.Now())
	require.NoError(t, err)
	killCtx, kill := context.WithCancel(ctx)
	d := deps(func(e failover.Event) {
		if e.Slot == 0 && e.Step == failover.StateHealthy {
			kill() // nothing after this point is written: the step stays healthy
		}
	})
	d.Deadline = run.End
	_, err = failover.Rebuild(killCtx, d, failover.RebuildRequest{})
	require.Error(t, err)
	killed, err := st.UnfinishedRollout(ctx, "web")
	require.NoError(t, err)
	steps, err := st.Steps(ctx, killed.ID)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	underway := steps[0]
	require.Equal(t, 0, underway.Slot)
	require.Equal(t, failover.StateHealthy, underway.State, "killed with slot 0's replacement healthy and unused")
	require.NotEmpty(t, underway.NewServerID)
	require.Equal(t, failover.StatePending, steps[1].State)

	// Rescued after the window closed.
	clock.set(time.Hour)
	rescued, err := q.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{j.ID}, rescued)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })
	failed := waitStatus(t, q, j.ID, StatusFailed)
	require.Equal(t, 2, failed.Attempt)
	require.Contains(t, failed.Reason, "maintenance window closed at "+run.End.UTC().Format(time.RFC3339)+": 1 of 2 slots replaced; left: web-1; the next run resumes the rollout "+killed.ID)
	require.Equal(t, []string{killed.ID}, failed.Rollouts)
	require.True(t, slices.ContainsFunc(failed.Decisions, func(d string) bool {
		return strings.Contains(d, "while an earlier attempt was cut short: finish only the steps it had under way, start nothing new")
	}), "decisions: %q", failed.Decisions)

	ex, err := failover.NewExecutor(deps(nil).Options)
	require.NoError(t, err)
	status, err := ex.Status(ctx)
	require.NoError(t, err)
	require.Empty(t, status.Missing, "the store matches the cloud")
	require.Len(t, status.Slots, 2)
	s0, s1 := status.Slots[0], status.Slots[1]
	require.Equal(t, underway.NewServerID, s0.ServerID, "slot 0 finished onto its replacement")
	require.Equal(t, v2.Version.String(), s0.ImageVersion)
	require.Equal(t, "ACTIVE", s0.Status)
	require.Equal(t, failover.AddressOnServer, s0.AddressOn, "slot 0's address on its replacement")
	require.Equal(t, "healthy", s0.Health)
	require.Equal(t, deployed[1].ServerID, s1.ServerID, "slot 1 did not start")
	require.Equal(t, failover.AddressOnServer, s1.AddressOn)
	requireServers(t, cloud.Client, s0.ServerID, s1.ServerID) // no orphan; slot 0's old server deleted
	ro, err := st.GetRollout(ctx, killed.ID)
	require.NoError(t, err)
	require.Equal(t, store.RolloutRunning, ro.Status, "left for the next run")
	steps, err = st.Steps(ctx, killed.ID)
	require.NoError(t, err)
	require.Equal(t, failover.StateDone, steps[0].State)
	require.Equal(t, failover.StatePending, steps[1].State)

	// A later run without a window resumes the rollout and converges.
	next, err := q.Insert(ctx, JobRequest{Kind: KindRebuild, Target: "web", RequestedBy: "cli"}, nil)
	require.NoError(t, err)
	done := waitStatus(t, q, next.ID, StatusSucceeded)
	require.Contains(t, done.Rollouts, killed.ID)
	ro, err = st.GetRollout(ctx, killed.ID)
	require.NoError(t, err)
	require.Equal(t, store.RolloutCompleted, ro.Status)
	status, err = ex.Status(ctx)
	require.NoError(t, err)
	require.Empty(t, status.Missing)
	require.Empty(t, status.Orphans)
	for _, s := range status.Slots {
		require.Equal(t, v2.Version.String(), s.ImageVersion, "slot %d", s.Slot)
		require.Equal(t, failover.AddressOnServer, s.AddressOn, "slot %d", s.Slot)
		require.Equal(t, "healthy", s.Health, "slot %d", s.Slot)
	}
	require.NotEqual(t, deployed[1].ServerID, status.Slots[1].ServerID)
	requireServers(t, cloud.Client, status.Slots[0].ServerID, status.Slots[1].ServerID)
}

// requireServers waits until the group's servers in the cloud are exactly ids (a deleted
// server goes away asynchronously, as in OpenStack).
func requireServers(t *testing.T, c *openstack.Client, ids ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(t *assert.CollectT) {
		servers, err := c.ListServers(context.Background(), openstack.ListServersOpts{NamePrefix: "web-"})
		if !assert.NoError(t, err) {
			return
		}
		var live []string
		for _, s := range servers {
			if s.Status != "DELETED" && s.Status != "SOFT_DELETED" {
				live = append(live, s.ID)
			}
		}
		assert.ElementsMatch(t, ids, live, "servers of web in the cloud")
	}, 20*time.Second, 50*time.Millisecond)
}
