package openstack_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/store"
)

// TestContractRebuildWithCloudHealth runs a full rebuild (first deploy, then every slot
// replaced, addresses moved, old servers retired) with health: {cloud: {}}: the check
// that needs nothing on the servers, so it runs against any real OpenStack
// (REMINT_TEST_CLOUD, see contract_env_test.go), including one whose servers serve no
// traffic and whose fixed IPs remint cannot reach. On the simulator the servers boot on
// the loopback driver, which prints cloud-init's console.
//
// On a real cloud it creates two servers at a time and allocates two floating IPs from
// REMINT_TEST_EXTERNAL_NETWORK, all named (servers) or described (floating IPs) with the
// test's remint-contract-<random>- prefix, and deletes or releases them when it ends.
func TestContractRebuildWithCloudHealth(t *testing.T) {
	var driver sim.Driver
	onCloud := os.Getenv("REMINT_TEST_CLOUD") != ""
	if !onCloud {
		d, err := loopback.NewFree(loopback.Options{StopTimeout: time.Second})
		require.NoError(t, err)
		driver = d
	}
	e := openstack.NewContractEnvWith(t, driver)
	c := e.Client(t)
	ctx := e.Ctx(t)
	prefix := e.Name("")

	// Registered before anything is created, so that a failure half-way cleans up too.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		servers, err := c.ListServers(ctx, openstack.ListServersOpts{NamePrefix: prefix})
		if err != nil {
			t.Errorf("cleanup: list servers %s*: %v", prefix, err)
		}
		for _, s := range servers {
			if err := c.DeleteServer(ctx, s.ID); err != nil {
				t.Errorf("cleanup: delete server %s: %v", s.Name, err)
				continue
			}
			if err := c.WaitServerDeleted(ctx, s.ID); err != nil {
				t.Errorf("cleanup: wait for server %s to go: %v", s.Name, err)
			}
		}
		fips, err := c.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{})
		if err != nil {
			t.Errorf("cleanup: list floating IPs: %v", err)
		}
		for _, f := range fips {
			if strings.Contains(f.Description, prefix) {
				if err := c.ReleaseFloatingIP(ctx, f.ID); err != nil {
					t.Errorf("cleanup: release floating IP %s: %v", f.Address, err)
				}
			}
		}
	})

	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "remint.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	interval, deadline := 50*time.Millisecond, time.Minute
	if onCloud {
		interval, deadline = 2*time.Second, 15*time.Minute
	}
	spec := failover.Spec{
		Group: strings.TrimSuffix(prefix, "-"), Count: 2, Strategy: failover.StrategyRolling, AddressMode: failover.AddressPerServer,
		MaxSurge: 1, HealthGate: true, Flavor: e.Flavor(), Network: e.Network(), KeyName: e.KeyName(),
		Addresses: []manifest.Address{{AllocateFrom: e.ExternalNetwork()}, {AllocateFrom: e.ExternalNetwork()}},
		Health: failover.Health{
			Check:    manifest.HealthCheck{Cloud: &manifest.CloudCheck{}},
			Interval: interval, Timeout: 30 * time.Second, HealthyThreshold: 2, Deadline: deadline,
		},
	}
	var mu sync.Mutex
	var notes []string
	executor := func() *failover.Executor {
		prober, pol, gate, err := failover.ProbesWith(spec, failover.ProbeDeps{Cloud: c})
		require.NoError(t, err)
		ex, err := failover.NewExecutor(failover.Options{Cloud: c, Store: st, Spec: spec, Prober: prober, Policy: pol, Gate: gate,
			Events: func(ev failover.Event) {
				if ev.Step == failover.StateHealthy {
					mu.Lock()
					notes = append(notes, ev.Message)
					mu.Unlock()
				}
				t.Log(ev.String())
			}})
		require.NoError(t, err)
		return ex
	}
	target := failover.Target{ImageID: e.ImageID(), ImageName: "contract", Version: "2026.01.1"}
	run := func(force bool) failover.Result {
		ex := executor()
		plan, id, err := ex.Prepare(ctx, target, force)
		require.NoError(t, err)
		require.Contains(t, plan.String(), "this proves less than a probe", "plan says what the cloud check proves")
		res, err := ex.Run(ctx, id)
		require.NoError(t, err)
		require.True(t, res.OK(), "%+v", res)
		return res
	}

	first := run(false)
	// The same image again, forced: every slot is replaced, the address moved.
	second := run(true)
	gate := failover.AssociationGate{Cloud: c}
	for i, s := range second.Slots {
		require.NotEqual(t, first.Slots[i].NewServerID, s.NewServerID, "slot %d was replaced", i)
		require.Equal(t, first.Slots[i].Address, s.Address, "slot %d keeps its address", i)
		require.NoError(t, gate.CheckAddress(ctx, s.Address, s.NewServerID), "slot %d's address is on its new server", i)
		srv, err := c.GetServer(ctx, s.NewServerID)
		require.NoError(t, err)
		assert.Equal(t, "ACTIVE", srv.Status)
	}
	require.Eventually(t, func() bool {
		servers, err := c.ListServers(ctx, openstack.ListServersOpts{NamePrefix: prefix})
		return err == nil && len(servers) == 2
	}, 5*time.Minute, interval, "the replaced servers are retired")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, notes, 4)
	for _, n := range notes {
		t.Logf("healthy: %s", n) // on a cloud that refuses the console log, it says so here
		if !onCloud {
			assert.Equal(t, "healthy", n, "the simulator's console is readable")
		}
	}
}
