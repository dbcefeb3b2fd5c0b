package failover

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/sim"
)

// cloudExecutor is env.executor with health: {cloud: {}}, recording its events.
func (e *simEnv) cloudExecutor(t testing.TB, spec Spec, events *[]Event, mu *sync.Mutex) *Executor {
	t.Helper()
	prober, pol, gate, err := ProbesWith(spec, ProbeDeps{Cloud: e.client})
	require.NoError(t, err)
	require.IsType(t, AssociationGate{}, gate)
	ex, err := NewExecutor(Options{Cloud: e.client, Store: e.store, Spec: spec, Prober: prober, Policy: pol, Gate: gate,
		Events: func(ev Event) { mu.Lock(); *events = append(*events, ev); mu.Unlock() }})
	require.NoError(t, err)
	return ex
}

// A group with nothing to probe rebuilds with health: {cloud: {}}: replacements count
// healthy on Nova, Neutron and the console alone, with and without failover addresses
// (the association gate checks where Neutron sends each address after it moved). The
// workload's port is never asked: the bad image, whose workload says unhealthy, passes
// too, which is exactly what "proves less than a probe" means.
func TestSimRebuildWithCloudHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	for _, addressed := range []bool{true, false} {
		name := "workers without addresses"
		if addressed {
			name = "with addresses"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := startSimEnv(t, 100*time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			spec := env.spec(2, StrategyRolling)
			spec.Health.Check = manifest.HealthCheck{Cloud: &manifest.CloudCheck{}}
			if !addressed {
				spec.Addresses = nil
			}
			var mu sync.Mutex
			var events []Event

			first, err := runTo(ctx, env.cloudExecutor(t, spec, &events, &mu), env.v1)
			require.NoError(t, err)
			require.True(t, first.OK())
			res, err := runTo(ctx, env.cloudExecutor(t, spec, &events, &mu), env.v2)
			require.NoError(t, err)
			require.True(t, res.OK(), "%+v", res)
			requireServers(t, env, 2, "old servers retired")

			gate := AssociationGate{Cloud: env.client}
			for i, s := range res.Slots {
				srv, err := env.client.GetServer(ctx, s.NewServerID)
				require.NoError(t, err)
				assert.Equal(t, env.v2.ImageID, srv.ImageID, "slot %d runs the new image", i)
				if addressed {
					require.NotEmpty(t, s.Address)
					require.NoError(t, gate.CheckAddress(ctx, s.Address, s.NewServerID))
					other := res.Slots[1-i].NewServerID
					err := gate.CheckAddress(ctx, s.Address, other)
					require.Error(t, err, "the gate refuses an address that is on another server")
					assert.Contains(t, err.Error(), "not on a port of server "+other)
				} else {
					assert.Empty(t, s.Address)
				}
			}
			mu.Lock()
			healthy := 0
			for _, ev := range events {
				if ev.Step == StateHealthy {
					healthy++
					assert.Equal(t, "healthy", ev.Message, "the console was readable: nothing left unconfirmed")
				}
			}
			mu.Unlock()
			assert.Equal(t, 4, healthy, "two rollouts of two slots")

			// Nothing is probed on the server: an image whose workload answers unhealthy
			// still passes the cloud check.
			res, err = runTo(ctx, env.cloudExecutor(t, spec, &events, &mu), env.bad)
			require.NoError(t, err)
			require.True(t, res.OK())
		})
	}
}

// Where the console log cannot be read, a rebuild still runs on Nova and Neutron alone,
// and the slot's healthy event says what was not confirmed.
func TestSimRebuildWithCloudHealthUnreadableConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	env := startSimEnv(t, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := env.spec(1, StrategyRolling)
	spec.Health.Check = manifest.HealthCheck{Cloud: &manifest.CloudCheck{}}
	var mu sync.Mutex
	var events []Event
	// The executor sends no server action but os-getConsoleOutput.
	env.sim.Faults().Set("compute.server.action", sim.FaultRule{ErrorRate: 1, Status: 403})
	res, err := runTo(ctx, env.cloudExecutor(t, spec, &events, &mu), env.v1)
	require.NoError(t, err)
	require.True(t, res.OK())
	mu.Lock()
	defer mu.Unlock()
	var msgs []string
	for _, ev := range events {
		if ev.Step == StateHealthy {
			msgs = append(msgs, ev.Message)
		}
	}
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0], "console log not readable (HTTP 403")
	assert.Contains(t, msgs[0], "boot finished not confirmed")
}

func TestProbesWithCloudNeedsTheCloud(t *testing.T) {
	t.Parallel()
	spec := Spec{Group: "workers", Health: Health{Check: manifest.HealthCheck{Cloud: &manifest.CloudCheck{}}, HealthyThreshold: 2}}
	_, _, _, err := ProbesFor(spec, nil)
	require.ErrorContains(t, err, "group workers: health check cloud: needs the cloud API")
	var _ health.ServerProber = health.NewCloud(nil)
}
