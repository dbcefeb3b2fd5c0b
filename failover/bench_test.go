package failover

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
)

// The benchmarks measure a whole rollout on the simulator (loopback driver, real HTTP)
// and print their results with b.ReportMetric; nothing is asserted beyond the rollout
// succeeding. Run: go test -bench . -run '^$' -benchtime 1x ./failover/

// BenchmarkRebuildFailedRequests (a) rebuilds the 3-server example group (rolling,
// surge 1, per-server addresses, soak 0) under load and reports failed/total requests
// through the failover addresses, and (c) the cloud API calls per replaced server.
func BenchmarkRebuildFailedRequests(b *testing.B) {
	env := startSimEnv(b, 300*time.Millisecond)
	ctx := context.Background()
	spec := env.spec(3, StrategyRolling)
	first, err := runTo(ctx, env.executor(b, spec), env.v1)
	require.NoError(b, err)
	addrs := addressesOf(b, first)
	targets := []Target{env.v2, env.v1}
	var sent, failed, calls, replaced int64
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		load := startLoad(addrs, env.driver.Port(), 8)
		before := env.client.Stats().APICalls
		start := time.Now()
		res, err := runTo(ctx, env.executor(b, spec), targets[i%2])
		total += time.Since(start)
		calls += env.client.Stats().APICalls - before
		rep := load.Stop()
		require.NoError(b, err)
		replaced += int64(len(res.Slots))
		sent += rep.Total
		failed += rep.Failed
	}
	b.ReportMetric(float64(failed), "failed-requests")
	b.ReportMetric(float64(sent), "requests")
	b.ReportMetric(float64(failed)/float64(max(sent, 1)), "failed/total")
	b.ReportMetric(float64(calls)/float64(max(replaced, 1)), "api-calls/server")
	b.ReportMetric(total.Seconds()/float64(b.N), "makespan-s")
}

// BenchmarkNaiveReplace (d) replaces the same 3-server group the naive way, slot by
// slot: delete the old server, create the new one, associate the address once ACTIVE.
// Reports failed/total requests and the makespan beside the failover numbers above.
func BenchmarkNaiveReplace(b *testing.B) {
	env := startSimEnv(b, 300*time.Millisecond)
	ctx := context.Background()
	spec := env.spec(3, StrategyRolling)
	first, err := runTo(ctx, env.executor(b, spec), env.v1)
	require.NoError(b, err)
	addrs := addressesOf(b, first)
	fipIDs := map[string]string{}
	for _, s := range first.Slots {
		fip, err := env.client.FindFloatingIP(ctx, s.Address)
		require.NoError(b, err)
		fipIDs[s.Address] = fip.ID
	}
	current := map[int]string{}
	for _, s := range first.Slots {
		current[s.Slot] = s.NewServerID
	}
	targets := []Target{env.v2, env.v1}
	var sent, failed, calls int64
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		load := startLoad(addrs, env.driver.Port(), 8)
		before := env.client.Stats().APICalls
		start := time.Now()
		for slot, addr := range addrs {
			c := env.client
			require.NoError(b, c.DeleteServer(ctx, current[slot]))
			require.NoError(b, c.WaitServerDeleted(ctx, current[slot]))
			srv, err := c.CreateServer(ctx, openstack.ServerSpec{Name: fmt.Sprintf("web-%d-naive%d", slot, i), ImageID: targets[i%2].ImageID,
				Flavor: spec.Flavor, Network: spec.Network, KeyName: spec.KeyName})
			require.NoError(b, err)
			_, err = c.WaitServerActive(ctx, srv.ID)
			require.NoError(b, err)
			ports, err := c.PortsOfServer(ctx, srv.ID)
			require.NoError(b, err)
			_, err = c.AssociateFloatingIP(ctx, fipIDs[addr], ports[0].ID, 0)
			require.NoError(b, err)
			current[slot] = srv.ID
		}
		total += time.Since(start)
		calls += env.client.Stats().APICalls - before
		rep := load.Stop()
		sent += rep.Total
		failed += rep.Failed
	}
	b.ReportMetric(float64(failed), "failed-requests")
	b.ReportMetric(float64(sent), "requests")
	b.ReportMetric(float64(failed)/float64(max(sent, 1)), "failed/total")
	b.ReportMetric(float64(calls)/float64(3*b.N), "api-calls/server")
	b.ReportMetric(total.Seconds()/float64(b.N), "makespan-s")
}

// BenchmarkMakespan200 (b) rebuilds 200 servers with a 2s simulated boot and surge 20
// and reports the makespan against the ideal: waves × (boot + health), where health is
// the time the threshold of consecutive passes takes at the probe interval. It runs
// with the adapter's default polling (200ms doubling to 2s: few calls, but a 2s boot is
// seen at ~3s) and with fast polling (100ms to 250ms: more calls, boot seen at once),
// because the two goals (makespan and API calls per server) pull that knob apart.
func BenchmarkMakespan200(b *testing.B) {
	if testing.Short() {
		b.Skip("200 servers")
	}
	for _, tt := range []struct {
		name   string
		policy openstack.RetryPolicy
	}{
		{"default-poll", openstack.RetryPolicy{}},
		{"fast-poll", openstack.RetryPolicy{PollMin: 100 * time.Millisecond, PollMax: 250 * time.Millisecond}},
	} {
		b.Run(tt.name, func(b *testing.B) { benchMakespan(b, tt.policy) })
	}
}

func benchMakespan(b *testing.B, policy openstack.RetryPolicy) {
	const boot = 2 * time.Second
	env := startSimEnvPolicy(b, boot, policy)
	ctx := context.Background()
	spec := env.spec(200, StrategyRolling)
	spec.MaxSurge = 20
	spec.Health.Interval = 100 * time.Millisecond
	spec.Health.HealthyThreshold = 2
	mk := func() *Executor {
		ex := env.executor(b, spec)
		ex.Drain = 100 * time.Millisecond
		return ex
	}
	_, err := runTo(ctx, mk(), env.v1)
	require.NoError(b, err)
	targets := []Target{env.v2, env.v1}
	healthTime := time.Duration(spec.Health.HealthyThreshold-1) * spec.Health.Interval
	waves := waveCount(spec.Count, spec.MaxSurge, spec.MaxUnavailable)
	ideal := time.Duration(waves) * (boot + healthTime)
	var total time.Duration
	var calls int64
	opsBefore := env.sim.Calls()
	b.ResetTimer()
	for i := range b.N {
		before := env.client.Stats().APICalls
		start := time.Now()
		res, err := runTo(ctx, mk(), targets[i%2])
		total += time.Since(start)
		calls += env.client.Stats().APICalls - before
		require.NoError(b, err)
		require.Len(b, res.Slots, spec.Count)
	}
	b.StopTimer()
	var ops []string
	for op, n := range env.sim.Calls() {
		if d := n - opsBefore[op]; d > 0 {
			ops = append(ops, fmt.Sprintf("%s=%.2f", op, float64(d)/float64(spec.Count*b.N)))
		}
	}
	sort.Strings(ops)
	b.Logf("API calls per replaced server by operation: %s", strings.Join(ops, " "))
	makespan := total / time.Duration(b.N)
	b.ReportMetric(makespan.Seconds(), "makespan-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(makespan.Seconds()/ideal.Seconds(), "makespan/ideal")
	b.ReportMetric(float64(calls)/float64(spec.Count*b.N), "api-calls/server")
}
