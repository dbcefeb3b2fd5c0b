package orchestrator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// TestFactsFromSimulator reads the quota and the flavor over real HTTP with gophercloud
// from the simulator, whose usage counts live servers, and lets the policy decide on them.
func TestFactsFromSimulator(t *testing.T) {
	t.Parallel()
	cloud := simclient.Start(t, simclient.Options{Sim: sim.Config{BootTime: time.Millisecond}})
	s, seed, c := cloud.Sim, cloud.Seed, cloud.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s.SetLimits(sim.Limits{MaxInstances: 4, MaxCores: 10, MaxRAM: -1, MaxKeypairs: 10, MaxServerMeta: 128, MaxImageMeta: 128})
	for i := range 3 {
		_, err := c.CreateServer(ctx, openstack.ServerSpec{Name: fmt.Sprintf("web-%d", i), ImageID: seed.ImageID, Flavor: "m1.small", Network: sim.SeedPrivateNetwork})
		require.NoError(t, err)
	}
	q, err := ReadQuota(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, &Quota{MaxInstances: 4, UsedInstances: 3, MaxCores: 10, UsedCores: 3, MaxRAM: -1, UsedRAM: 3 * 2048}, q)

	surge, err := ReadSurge(ctx, c, "m1.small", 3)
	require.NoError(t, err)
	assert.Equal(t, Surge{Servers: 3, VCPUs: 1, RAM: 2048}, surge)
	none, err := ReadSurge(ctx, c, "no-such-flavor", 0)
	require.NoError(t, err, "no surge, no lookup")
	assert.Zero(t, none)
	_, err = ReadSurge(ctx, c, "no-such-flavor", 1)
	require.Error(t, err)
	assert.True(t, openstack.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "read flavor no-such-flavor to size the surge")

	f := Facts{Target: "web", Replaceable: true, Servers: 3, Family: "debian-12", Image: "debian-12 2026.11.1", Addresses: 3, Quota: q, Surge: surge}
	d, err := Decide(decideAt, f, Request{Options: security})
	require.NoError(t, err)
	assert.Equal(t, ActionInPlace, d.Action)
	assert.Equal(t, "in-place: quota allows 1 more instance, surge needs 3", d.Reason)

	// With a surge of one the same quota holds it: rebuild.
	f.Surge.Servers = 1
	d, err = Decide(decideAt, f, Request{Options: security})
	require.NoError(t, err)
	assert.Equal(t, ActionRebuild, d.Action, d.Reason)

	// A failing limits call says what was being read.
	s.Faults().Set("compute.limits.get", sim.FaultRule{ErrorRate: 1, Status: 403})
	_, err = ReadQuota(ctx, c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read compute quota")
}

func TestSurgeServers(t *testing.T) {
	t.Parallel()
	plan := func(count, surge, unavail int, strategy string, slots int) failover.Plan {
		spec := failover.Spec{Group: "web", Count: count, Strategy: strategy, AddressMode: failover.AddressPerServer,
			MaxSurge: surge, MaxUnavailable: unavail, HealthGate: true, Health: failover.Health{HealthyThreshold: 1}}
		if strategy == failover.StrategyBlueGreen {
			spec.MaxUnavailable = 0
		}
		for i := range count {
			spec.Addresses = append(spec.Addresses, manifest.Address{Address: fmt.Sprintf("203.0.113.%d", 10+i)})
		}
		var cur []failover.Current
		for i := range slots {
			cur = append(cur, failover.Current{Slot: i, ServerID: fmt.Sprintf("srv-%d", i), ImageID: "old", ImageVersion: "2026.10.1", Status: "ACTIVE"})
		}
		p, err := failover.MakePlan(failover.PlanInput{Spec: spec, Target: failover.Target{ImageID: "new", Version: "2026.11.1"}, Slots: cur})
		require.NoError(t, err)
		return p
	}
	assert.Equal(t, 1, SurgeServers(plan(10, 1, 0, failover.StrategyRolling, 10)))
	assert.Equal(t, 3, SurgeServers(plan(10, 3, 0, failover.StrategyRolling, 10)))
	assert.Equal(t, 3, SurgeServers(plan(3, 5, 0, failover.StrategyRolling, 3)), "surge capped at the replacements")
	assert.Equal(t, 0, SurgeServers(plan(3, 0, 1, failover.StrategyRolling, 3)), "max surge 0: retire first")
	assert.Equal(t, 4, SurgeServers(plan(4, 1, 0, failover.StrategyBlueGreen, 4)), "blue/green doubles the group")
	assert.Equal(t, 2+1, SurgeServers(plan(3, 1, 0, failover.StrategyRolling, 1)), "first deploy of two slots plus the surge")
}
