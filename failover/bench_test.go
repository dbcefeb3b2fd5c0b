package failover

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
)

// The benchmarks measure a whole rollout on the simulator (loopback driver, real HTTP)
// and print their results with b.ReportMetric; nothing is asserted beyond the rollout
// succeeding. Run: go test -bench . -run '^$' -benchtime 1x ./failover/

// BenchmarkRebuildFailedRequests (a) rebuilds the 3-server example group (rolling,
// surge 1, per-server addresses, soak 0) under load and reports failed/total requests
// through the failover addresses, and (c) the cloud API calls per replaced server (as the
// simulator counted them).
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
		before := env.sim.TotalCalls()
		start := time.Now()
		res, err := runTo(ctx, env.executor(b, spec), targets[i%2])
		total += time.Since(start)
		calls += env.sim.TotalCalls() - before
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
		before := env.sim.TotalCalls()
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
		calls += env.sim.TotalCalls() - before
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

// BenchmarkFleet (b) rebuilds fleets with a 2s simulated boot and reports the makespan
// against the ideal, waves × (boot + health), where health is the time the threshold of
// consecutive passes takes at the probe interval, and the cloud API calls per replaced
// server as the simulator counted them. It runs, in one go, the per-server polling the
// executor had before (one GET /servers/{id} per replacement per poll, the adapter's
// 200ms-doubling-to-2s cadence, ports and floating IPs read one by one) beside the
// batched poll, at 200 servers (surge 20) and 1,000 servers (surge 100), and prints a
// table. RSS and CPU are the whole benchmark process's: remint's executor, and the
// simulator and its loopback servers beside it in the same process.
func BenchmarkFleet(b *testing.B) {
	if testing.Short() {
		b.Skip("200 and 1,000 servers")
	}
	var rows []fleetRow
	for _, tt := range []struct {
		n, surge  int
		perServer bool
	}{
		{200, 20, true},
		{200, 20, false},
		{1000, 100, false},
	} {
		name := fmt.Sprintf("N=%d/surge=%d/%s", tt.n, tt.surge, map[bool]string{true: "per-server", false: "batched"}[tt.perServer])
		b.Run(name, func(b *testing.B) {
			row := benchFleet(b, tt.n, tt.surge, tt.perServer)
			rows = append(rows, row)
		})
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-6s %-6s %-11s %-11s %-8s %-6s %-13s %-12s %-8s\n", "N", "surge", "polling", "makespan", "ideal", "ratio", "calls/server", "peak RSS", "CPU")
	for _, r := range rows {
		fmt.Fprintf(&out, "%-6d %-6d %-11s %-11s %-8s %-6.3f %-13.2f %-12s %-8s\n", r.n, r.surge, r.polling,
			r.makespan.Round(10*time.Millisecond), r.ideal.Round(10*time.Millisecond), r.ratio, r.calls,
			fmt.Sprintf("%d MiB", r.peakRSS>>20), r.cpu.Round(10*time.Millisecond))
	}
	out.WriteString("(calls counted by the simulator; RSS and CPU of the whole process: executor, simulator and loopback servers)\n")
	fmt.Print(out.String())
}

type fleetRow struct {
	n, surge        int
	polling         string
	makespan, ideal time.Duration
	ratio, calls    float64
	peakRSS         int64
	cpu             time.Duration
}

func benchFleet(b *testing.B, n, surge int, perServer bool) fleetRow {
	const boot = 2 * time.Second
	env := startSimEnvPolicy(b, boot, openstack.RetryPolicy{})
	env.sim.SetLimits(sim.Limits{MaxInstances: -1, MaxCores: -1, MaxRAM: -1, MaxKeypairs: -1, MaxServerMeta: 128, MaxTotalFloatingIps: -1})
	ctx := context.Background()
	spec := env.spec(n, StrategyRolling)
	spec.MaxSurge = surge
	spec.Health.Interval = 100 * time.Millisecond
	spec.Health.HealthyThreshold = 2
	phases := &phaseTimes{}
	mk := func() *Executor {
		ex := env.executor(b, spec)
		ex.Drain = 100 * time.Millisecond
		ex.PerServerPolling = perServer
		ex.Events = phases.record
		return ex
	}
	_, err := runTo(ctx, mk(), env.v1)
	phases.reset()
	require.NoError(b, err)
	targets := []Target{env.v2, env.v1}
	healthTime := time.Duration(spec.Health.HealthyThreshold-1) * spec.Health.Interval
	waves := waveCount(spec.Count, spec.MaxSurge, spec.MaxUnavailable)
	ideal := time.Duration(waves) * (boot + healthTime)
	var total time.Duration
	opsBefore := env.sim.Calls()
	callsBefore := env.sim.TotalCalls()
	rss := startRSSSampler()
	cpuBefore := cpuTime()
	measured := time.Now()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		res, err := runTo(ctx, mk(), targets[i%2])
		total += time.Since(start)
		require.NoError(b, err)
		require.Len(b, res.Slots, spec.Count)
	}
	b.StopTimer()
	cpu := cpuTime() - cpuBefore
	peak := rss.stop()
	calls := env.sim.TotalCalls() - callsBefore
	var ops []string
	for op, c := range env.sim.Calls() {
		if d := c - opsBefore[op]; d > 0 {
			ops = append(ops, fmt.Sprintf("%s=%.3f", op, float64(d)/float64(spec.Count*b.N)))
		}
	}
	sort.Strings(ops)
	b.Logf("API calls per replaced server by operation: %s", strings.Join(ops, " "))
	b.Logf("mean time per slot in each state: %s", phases.summary())
	if boots := env.sim.BootTimes(measured); len(boots) > 0 {
		var sum, worst, seen time.Duration
		n := 0
		for id, t := range boots {
			d := t[1].Sub(t[0])
			sum += d
			worst = max(worst, d)
			if at, ok := phases.activeSeen(id); ok {
				seen += at.Sub(t[1])
				n++
			}
		}
		b.Logf("the simulator's own create-to-ACTIVE time (configured %s): mean %s, max %s; from ACTIVE to remint's health checks starting: mean %s",
			boot, (sum / time.Duration(len(boots))).Round(time.Millisecond), worst.Round(time.Millisecond), (seen / time.Duration(max(n, 1))).Round(time.Millisecond))
	}
	makespan := total / time.Duration(b.N)
	row := fleetRow{n: n, surge: surge, polling: map[bool]string{true: "per-server", false: "batched"}[perServer],
		makespan: makespan, ideal: ideal, ratio: makespan.Seconds() / ideal.Seconds(),
		calls: float64(calls) / float64(spec.Count*b.N), peakRSS: peak, cpu: cpu / time.Duration(b.N)}
	b.ReportMetric(makespan.Seconds(), "makespan-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(row.ratio, "makespan/ideal")
	b.ReportMetric(row.calls, "api-calls/server")
	b.ReportMetric(float64(peak>>20), "peak-RSS-MiB")
	b.ReportMetric(row.cpu.Seconds(), "cpu-s")
	return row
}

// rssSampler records the process's peak resident set while it runs (getrusage's
// maxrss is a lifetime peak, which earlier benchmarks would dominate).
type rssSampler struct {
	stopc chan struct{}
	done  chan int64
}

func startRSSSampler() *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, currentRSS())
			select {
			case <-s.stopc:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 {
	close(s.stopc)
	return <-s.done
}

// currentRSS reads the resident set size from /proc/self/statm (pages).
func currentRSS() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phaseTimes collects, from the rollout's events, how long slots stay in each state:
// where the makespan goes beyond boot and health.
type phaseTimes struct {
	mu     sync.Mutex
	active map[string]time.Time // server → when remint entered checking (saw it ACTIVE)
	last   map[int]Event
	total  map[string]time.Duration
	count  map[string]int
}

func (p *phaseTimes) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last, p.total, p.count = map[int]Event{}, map[string]time.Duration{}, map[string]int{}
}

func (p *phaseTimes) record(ev Event) {
	if ev.Slot < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last, p.total, p.count = map[int]Event{}, map[string]time.Duration{}, map[string]int{}
	}
	if ev.Step == StateChecking {
		if p.active == nil {
			p.active = map[string]time.Time{}
		}
		p.active[ev.Server] = ev.Time
	}
	if prev, ok := p.last[ev.Slot]; ok && prev.Rollout == ev.Rollout {
		p.total[prev.Step] += ev.Time.Sub(prev.Time)
		p.count[prev.Step]++
	}
	p.last[ev.Slot] = ev
}

func (p *phaseTimes) activeSeen(server string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.active[server]
	return t, ok
}

func (p *phaseTimes) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, st := range []string{StateCreating, StateBooting, StateChecking, StateHealthy, StateMoving, StateGating, StateBaking, StateRetiring} {
		if n := p.count[st]; n > 0 {
			out = append(out, fmt.Sprintf("%s=%s", st, (p.total[st]/time.Duration(n)).Round(time.Millisecond)))
		}
	}
	return strings.Join(out, " ")
}

// BenchmarkCarefulOperator (item 6) sets remint's rebuild of a 6-server group (rolling,
// max surge 3, 2s boot) beside what a careful operator would script with the OpenStack
// CLI for the same group on the same simulator under the same load, one slot at a time:
// create the replacement and wait for ACTIVE (`openstack server create --wait`, here the
// adapter's polling, 200ms doubling to 2s), wait for /healthz (`until curl -fs …; do sleep
// 1; done`), re-associate the floating IP (`openstack server add floating ip`), delete the
// old server (`openstack server delete`). It reports both makespans and failed requests
// and their ratio; the goal is remint ≤ 0.5× the operator's time with 0 failed.
func BenchmarkCarefulOperator(b *testing.B) {
	const n, boot = 6, 2 * time.Second
	env := startSimEnv(b, boot)
	ctx := context.Background()
	spec := env.spec(n, StrategyRolling)
	spec.MaxSurge = 3
	first, err := runTo(ctx, env.executor(b, spec), env.v1)
	require.NoError(b, err)
	addrs := addressesOf(b, first)
	fipIDs := map[string]string{}
	for _, s := range first.Slots {
		fip, err := env.client.FindFloatingIP(ctx, s.Address)
		require.NoError(b, err)
		fipIDs[s.Address] = fip.ID
	}
	healthz := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var remintTime, opTime time.Duration
	var remintFailed, opFailed, remintSent, opSent int64
	b.ResetTimer()
	for range b.N {
		// remint: v1 → v2.
		load := startLoad(addrs, env.driver.Port(), 8)
		start := time.Now()
		res, err := runTo(ctx, env.executor(b, spec), env.v2)
		remintTime += time.Since(start)
		rep := load.Stop()
		require.NoError(b, err)
		remintFailed, remintSent = remintFailed+rep.Failed, remintSent+rep.Total
		current := map[int]string{}
		for _, s := range res.Slots {
			current[s.Slot] = s.NewServerID
		}
		// The operator: v2 → v1, one slot at a time.
		load = startLoad(addrs, env.driver.Port(), 8)
		start = time.Now()
		for _, s := range res.Slots {
			c := env.client
			srv, err := c.CreateServer(ctx, openstack.ServerSpec{Name: fmt.Sprintf("web-%d-by-hand", s.Slot), ImageID: env.v1.ImageID,
				Flavor: spec.Flavor, Network: spec.Network, KeyName: spec.KeyName})
			require.NoError(b, err)
			srv, err = c.WaitServerActive(ctx, srv.ID)
			require.NoError(b, err)
			url := fmt.Sprintf("http://%s:%d/healthz", srv.AccessIP, env.driver.Port())
			for {
				resp, err := healthz.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				time.Sleep(time.Second)
			}
			ports, err := c.PortsOfServer(ctx, srv.ID)
			require.NoError(b, err)
			_, err = c.AssociateFloatingIP(ctx, fipIDs[s.Address], ports[0].ID, 0)
			require.NoError(b, err)
			require.NoError(b, c.DeleteServer(ctx, current[s.Slot]))
		}
		opTime += time.Since(start)
		rep = load.Stop()
		opFailed, opSent = opFailed+rep.Failed, opSent+rep.Total
		if b.N > 1 {
			// The operator's servers are not in remint's records: one round is all there is.
			break
		}
	}
	b.StopTimer()
	rt, ot := remintTime, opTime
	b.ReportMetric(rt.Seconds(), "remint-makespan-s")
	b.ReportMetric(float64(remintFailed), "remint-failed")
	b.ReportMetric(ot.Seconds(), "operator-makespan-s")
	b.ReportMetric(float64(opFailed), "operator-failed")
	b.ReportMetric(rt.Seconds()/ot.Seconds(), "remint/operator")
	fmt.Printf("\n%-26s %-10s %-8s %-10s\n", "6 servers, 2s boot, load", "makespan", "failed", "requests")
	fmt.Printf("%-26s %-10s %-8d %-10d\n", "remint (surge 3)", rt.Round(10*time.Millisecond), remintFailed, remintSent)
	fmt.Printf("%-26s %-10s %-8d %-10d\n", "operator, one at a time", ot.Round(10*time.Millisecond), opFailed, opSent)
	fmt.Printf("remint / operator: %.2f\n", rt.Seconds()/ot.Seconds())
}
