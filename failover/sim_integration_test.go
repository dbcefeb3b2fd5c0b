package failover

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/loadgen"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simtest"
	"github.com/remint-dev/remint/internal/store"
)

// simEnv is a seeded simulator with the loopback driver (servers really serve HTTP on
// their fixed IPs, floating IPs really forward), an adapter client over real HTTP, and
// three image versions made by snapshotting a server: v1, v2 and a v3 whose workload
// reports unhealthy.
type simEnv struct {
	sim    *sim.Sim
	driver *loopback.Driver
	client *openstack.Client
	store  *store.Store
	v1, v2 Target
	bad    Target
}

func startSimEnv(t testing.TB, bootTime time.Duration) *simEnv {
	t.Helper()
	return startSimEnvPolicy(t, bootTime, openstack.RetryPolicy{})
}

// startSimEnvPolicy is startSimEnv with the adapter's retry and polling policy.
func startSimEnvPolicy(t testing.TB, bootTime time.Duration, policy openstack.RetryPolicy) *simEnv {
	t.Helper()
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	s, seed := simtest.StartSeeded(t, sim.Config{Driver: driver, BootTime: bootTime, ImageSaveTime: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cloudsFile := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(cloudsFile, s.CloudsYAML(""), 0o600))
	c, err := openstack.Connect(ctx, openstack.ConnectOptions{Cloud: sim.DefaultCloudName, CloudsFile: cloudsFile, Retry: policy})
	require.NoError(t, err)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "remint.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	builder, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "builder", ImageID: seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, builder.ID)
	require.NoError(t, err)
	snapshot := func(version string, extra map[string]string) Target {
		id, err := c.CreateServerImage(ctx, builder.ID, "debian-12-"+version, nil)
		require.NoError(t, err)
		_, err = c.WaitImageActive(ctx, id)
		require.NoError(t, err)
		props := map[string]string{"remint_family": "debian-12", "remint_version": version, "remint_state": "active"}
		for k, v := range extra {
			props[k] = v
		}
		_, err = c.UpdateImage(ctx, id, openstack.ImageUpdate{SetProperties: props})
		require.NoError(t, err)
		return Target{ImageID: id, ImageName: "debian-12-" + version, Version: version}
	}
	env := &simEnv{sim: s, driver: driver, client: c, store: st}
	env.v1 = snapshot("2026.10.1", nil)
	env.v2 = snapshot("2026.11.1", nil)
	env.bad = snapshot("2026.11.2", map[string]string{"remint_workload_health": "unhealthy"})
	require.NoError(t, c.DeleteServer(ctx, builder.ID))
	require.NoError(t, c.WaitServerDeleted(ctx, builder.ID))
	return env
}

func (e *simEnv) spec(count int, strategy string) Spec {
	s := Spec{
		Group: "web", Count: count, Strategy: strategy, AddressMode: AddressPerServer,
		MaxSurge: 1, HealthGate: true, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork, KeyName: sim.SeedKeypairName,
		Metadata: map[string]string{"role": "web"},
		Health: Health{
			Check:    manifest.HealthCheck{HTTP: &manifest.HTTPCheck{Port: e.driver.Port(), Path: "/healthz", Status: 200, Body: "ok"}},
			Interval: 50 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, Deadline: 30 * time.Second,
		},
	}
	for range count {
		s.Addresses = append(s.Addresses, manifest.Address{AllocateFrom: sim.SeedPublicNetwork})
	}
	return s
}

func (e *simEnv) executor(t testing.TB, spec Spec) *Executor {
	t.Helper()
	prober, pol, gate, err := ProbesFor(spec, nil)
	require.NoError(t, err)
	ex, err := NewExecutor(Options{Cloud: e.client, Store: e.store, Spec: spec, Prober: prober, Policy: pol, Gate: gate})
	require.NoError(t, err)
	return ex
}

func runTo(ctx context.Context, ex *Executor, target Target) (Result, error) {
	_, id, err := ex.Prepare(ctx, target, false)
	if err != nil {
		return Result{}, err
	}
	return ex.Run(ctx, id)
}

// startLoad sends load through the failover addresses with the shared load generator:
// workers requests in flight, a new connection for every request (the strictest case:
// each request proves where the address routes at that moment).
func startLoad(addrs []string, port int, workers int) *loadgen.Load {
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = "http://" + net.JoinHostPort(a, strconv.Itoa(port)) + "/"
	}
	return loadgen.Start(loadgen.Config{URLs: urls, Duration: 10 * time.Minute, Concurrency: workers, Timeout: 5 * time.Second})
}

func addressesOf(t testing.TB, res Result) []string {
	var out []string
	for _, s := range res.Slots {
		require.NotEmpty(t, s.Address)
		out = append(out, s.Address)
	}
	return out
}

func whoami(t testing.TB, addr string, port int) map[string]string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + net.JoinHostPort(addr, strconv.Itoa(port)) + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body
}

// TestSimRebuildUnderLoad deploys a 3-server group behind its floating IPs on the
// simulator, rebuilds it to a new image while a load generator hits the addresses, and
// requires zero failed requests and every address serving the new image afterwards.
// Then a bad image is rolled out: it fails, nothing moves, still zero failed requests.
func TestSimRebuildUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	env := startSimEnv(t, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := env.spec(3, StrategyRolling)
	ex := env.executor(t, spec)

	first, err := runTo(ctx, ex, env.v1)
	require.NoError(t, err)
	addrs := addressesOf(t, first)
	for _, a := range addrs {
		require.Equal(t, "2026.10.1", whoami(t, a, env.driver.Port())["image_version"])
	}

	load := startLoad(addrs, env.driver.Port(), 6)
	res, err := runTo(ctx, env.executor(t, spec), env.v2)
	time.Sleep(200 * time.Millisecond) // a little traffic after the last move
	rep := load.Stop()
	require.NoError(t, err)
	require.True(t, res.OK())
	t.Logf("rebuild: %d requests, %d failed, versions %v", rep.Total, rep.Failed, rep.Versions())
	require.Zero(t, rep.Failed, "failed requests during the rebuild: %v", rep.FirstErrors(3))
	require.Positive(t, rep.Versions()["2026.11.1"])
	for i, a := range addrs {
		got := whoami(t, a, env.driver.Port())
		require.Equal(t, "2026.11.1", got["image_version"])
		require.Equal(t, res.Slots[i].NewServerID, got["server_id"])
	}
	requireServers(t, env, 3, "old servers retired")

	// A bad image: the first replacement never gets healthy, is deleted, traffic stays.
	spec.Health.Deadline = 2 * time.Second
	load = startLoad(addrs, env.driver.Port(), 4)
	_, err = runTo(ctx, env.executor(t, spec), env.bad)
	rep = load.Stop()
	require.ErrorContains(t, err, "slot web-")
	require.Zero(t, rep.Failed, "failed requests during the failed rollout: %v", rep.FirstErrors(3))
	for _, a := range addrs {
		require.Equal(t, "2026.11.1", whoami(t, a, env.driver.Port())["image_version"])
	}
	requireServers(t, env, 3, "the failed replacement was deleted")
}

// TestSimRollbackAndFaults rebuilds with keep_old and cloud faults injected (5xx on
// creates and address reads, 412-causing conflicts are the adapter's), then rolls back.
func TestSimRollbackAndFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	env := startSimEnv(t, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := env.spec(2, StrategyRolling)
	spec.KeepOld = time.Hour
	first, err := runTo(ctx, env.executor(t, spec), env.v1)
	require.NoError(t, err)
	addrs := addressesOf(t, first)

	env.sim.Faults().Set("compute.server.create", sim.FaultRule{ErrorRate: 0.3, Status: 503})
	env.sim.Faults().Set("network.floatingip.get", sim.FaultRule{ErrorRate: 0.2, Status: 500})
	load := startLoad(addrs, env.driver.Port(), 4)
	res, err := runTo(ctx, env.executor(t, spec), env.v2)
	env.sim.Faults().Clear("")
	require.NoError(t, err)
	for _, s := range res.Slots {
		require.Equal(t, StateKept, s.State)
	}
	for _, a := range addrs {
		require.Equal(t, "2026.11.1", whoami(t, a, env.driver.Port())["image_version"])
	}
	rb, err := env.executor(t, spec).Rollback(ctx)
	rep := load.Stop()
	require.NoError(t, err)
	require.Equal(t, store.RolloutRolledBack, rb.Status)
	require.Zero(t, rep.Failed, "failed requests: %v", rep.FirstErrors(3))
	for i, a := range addrs {
		got := whoami(t, a, env.driver.Port())
		require.Equal(t, "2026.10.1", got["image_version"])
		require.Equal(t, first.Slots[i].NewServerID, got["server_id"])
	}
}

// TestSimCrashResume kills a rollout on the simulator mid-way (after the first address
// moved) and resumes it with a new executor.
func TestSimCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	env := startSimEnv(t, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := env.spec(3, StrategyRolling)
	first, err := runTo(ctx, env.executor(t, spec), env.v1)
	require.NoError(t, err)
	addrs := addressesOf(t, first)

	for i, point := range []string{"created", "after creating", "moved", "after retiring"} {
		ex := env.executor(t, spec)
		hit := false
		ex.crash = func(p string) error {
			if p == point && !hit {
				hit = true
				return errCrash
			}
			return nil
		}
		target := env.v2
		if i%2 == 1 {
			target = env.v1 // go back and forth so every crash has work to do
		}
		_, err := runTo(ctx, ex, target)
		require.ErrorIs(t, err, errCrash, point)
		ex2 := env.executor(t, spec)
		id, err := ex2.Unfinished(ctx)
		require.NoError(t, err)
		res, err := ex2.Run(ctx, id)
		require.NoError(t, err, "resume after crash at %s", point)
		require.True(t, res.OK())
		requireServers(t, env, 3, "after crash at "+point+": no orphan")
		for _, a := range addrs {
			require.Equal(t, target.Version, whoami(t, a, env.driver.Port())["image_version"], "after crash at %s", point)
		}
	}
}

// requireServers waits until the group has n servers: Nova deletes asynchronously, so a
// server remint asked to delete may be listed for a moment after the rollout returns.
func requireServers(t *testing.T, env *simEnv, n int, msg string) {
	t.Helper()
	var last []string
	require.Eventually(t, func() bool {
		servers, err := env.client.ListServers(context.Background(), openstack.ListServersOpts{NamePrefix: "web-"})
		if err != nil {
			return false
		}
		last = last[:0]
		for _, s := range servers {
			last = append(last, s.Name)
		}
		return len(servers) == n
	}, 10*time.Second, 50*time.Millisecond, "%s: servers %v", msg, last)
}

// TestSimBootFailureThenRetry: the replacement goes to ERROR on the simulator; it is
// deleted, the old server keeps serving, the rollout fails naming the slot; the next
// rebuild (faults gone) completes.
func TestSimBootFailureThenRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	t.Parallel()
	env := startSimEnv(t, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := env.spec(2, StrategyRolling)
	first, err := runTo(ctx, env.executor(t, spec), env.v1)
	require.NoError(t, err)
	addrs := addressesOf(t, first)

	env.sim.Faults().Set("compute.server.boot", sim.FaultRule{ErrorRate: 1, Times: 1})
	load := startLoad(addrs, env.driver.Port(), 4)
	res, err := runTo(ctx, env.executor(t, spec), env.v2)
	rep := load.Stop()
	require.ErrorContains(t, err, "slot web-0")
	require.ErrorContains(t, err, "ERROR")
	require.Equal(t, store.RolloutFailed, res.Status)
	require.Zero(t, rep.Failed, "failed requests: %v", rep.FirstErrors(3))
	requireServers(t, env, 2, "the ERROR replacement was deleted")
	for _, a := range addrs {
		require.Equal(t, "2026.10.1", whoami(t, a, env.driver.Port())["image_version"])
	}

	res, err = runTo(ctx, env.executor(t, spec), env.v2)
	require.NoError(t, err)
	require.True(t, res.OK())
	for _, a := range addrs {
		require.Equal(t, "2026.11.1", whoami(t, a, env.driver.Port())["image_version"])
	}
}
