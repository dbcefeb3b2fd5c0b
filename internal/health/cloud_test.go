package health_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// bootOn creates a server on the simulator's private network and returns its id.
func bootOn(ctx context.Context, t *testing.T, c *simclient.Cloud, name string) string {
	t.Helper()
	srv, err := c.Client.CreateServer(ctx, openstack.ServerSpec{Name: name, ImageID: c.Seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	return srv.ID
}

func cloudProber(t *testing.T, c *simclient.Cloud) (health.Prober, health.Policy) {
	t.Helper()
	hc := manifest.HealthCheck{Cloud: &manifest.CloudCheck{}, Interval: 20 * time.Millisecond, HealthyThreshold: 3, Deadline: 20 * time.Second}
	p, pol, err := health.FromManifestWith(hc.WithDefaults(), health.Deps{Cloud: c.Client})
	require.NoError(t, err)
	_, isServer := p.(health.ServerProber)
	require.True(t, isServer, "the cloud check probes server ids")
	return p, pol
}

// A server booted by the loopback driver (which prints cloud-init's console) passes
// once Nova says ACTIVE, its port is ACTIVE and the console shows the boot finished.
func TestCloudCheckPassesABootedServer(t *testing.T) {
	t.Parallel()
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: time.Second})
	require.NoError(t, err)
	c := simclient.Start(t, simclient.Options{Sim: sim.Config{Driver: driver, BootTime: 300 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := bootOn(ctx, t, c, "worker-0")
	p, pol := cloudProber(t, c)

	var results []health.Result
	require.NoError(t, health.Wait(ctx, p, health.Target(p, id, "unused"), pol, func(r health.Result) { results = append(results, r) }))
	require.NotEmpty(t, results)
	last := results[len(results)-1]
	assert.Equal(t, 3, last.Passes, "healthy after healthy_threshold consecutive passes")
	if len(results) > 3 {
		assert.Contains(t, results[0].Err.Error(), "BUILD", "the first polls see the server still building")
	}
	assert.Empty(t, p.(health.Noter).Note(id), "the console was read")
	log, err := c.Client.ConsoleLog(ctx, id, 0)
	require.NoError(t, err)
	assert.Regexp(t, `Cloud-init v\. \S+ finished at `, log, "the line the check matches is the one the simulator prints")
}

// A server that is ACTIVE with an ACTIVE port but whose console does not show the boot
// finished (the API-only simulator's servers print nothing) is not healthy.
func TestCloudCheckWaitsForTheBootToFinish(t *testing.T) {
	t.Parallel()
	c := simclient.Start(t, simclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := bootOn(ctx, t, c, "worker-0")
	_, err := c.Client.WaitServerActive(ctx, id)
	require.NoError(t, err)
	p, _ := cloudProber(t, c)
	err = p.Probe(ctx, id)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "console log does not show the boot finished")
}

// Where the cloud refuses the console log (403 by policy, 501 without a console), the
// check rests on Nova and Neutron, and says so.
func TestCloudCheckSkipsAnUnreadableConsole(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusNotImplemented} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			c := simclient.Start(t, simclient.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id := bootOn(ctx, t, c, "worker-0")
			_, err := c.Client.WaitServerActive(ctx, id)
			require.NoError(t, err)
			// The only server action the check sends is os-getConsoleOutput.
			c.Sim.Faults().Set("compute.server.action", sim.FaultRule{ErrorRate: 1, Status: status})
			p, pol := cloudProber(t, c)
			require.NoError(t, health.Wait(ctx, p, id, pol, nil))
			note := p.(health.Noter).Note(id)
			assert.Contains(t, note, "console log not readable")
			assert.Contains(t, note, "boot finished not confirmed")
		})
	}
}

// A server in ERROR fails with Nova's fault; a deleted one with not found.
func TestCloudCheckFailsAServerInError(t *testing.T) {
	t.Parallel()
	c := simclient.Start(t, simclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.Sim.Faults().Set("compute.server.boot", sim.FaultRule{ErrorRate: 1})
	id := bootOn(ctx, t, c, "worker-0")
	_, err := c.Client.WaitServerActive(ctx, id)
	require.Error(t, err)
	p, _ := cloudProber(t, c)
	err = p.Probe(ctx, id)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Nova status ERROR, want ACTIVE")

	err = p.Probe(ctx, "7b0e7f4e-0000-4000-8000-000000000000")
	require.Error(t, err)
	assert.True(t, openstack.IsNotFound(err), "%v", err)
}

func TestCloudCheckNeedsTheCloudAPI(t *testing.T) {
	t.Parallel()
	_, _, err := health.FromManifest(manifest.HealthCheck{Cloud: &manifest.CloudCheck{}}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "needs the cloud API")
}

// Once a server's console was read, a refusal is a failed poll: the boot the log would
// confirm stays unconfirmed.
func TestCloudCheckDoesNotSkipAConsoleThatWasReadable(t *testing.T) {
	t.Parallel()
	c := simclient.Start(t, simclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := bootOn(ctx, t, c, "worker-0")
	_, err := c.Client.WaitServerActive(ctx, id)
	require.NoError(t, err)
	p, _ := cloudProber(t, c)
	require.ErrorContains(t, p.Probe(ctx, id), "does not show the boot finished", "readable, empty console")
	c.Sim.Faults().Set("compute.server.action", sim.FaultRule{ErrorRate: 1, Status: http.StatusConflict})
	err = p.Probe(ctx, id)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 409")
	assert.Empty(t, p.(health.Noter).Note(id))
}
