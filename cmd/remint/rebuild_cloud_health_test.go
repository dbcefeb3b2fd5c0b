package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/failover"
	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/sim"
	"github.com/remint-dev/remint/internal/sim/loopback"
	"github.com/remint-dev/remint/internal/sim/simclient"
)

// workersManifest is a group with nothing to probe: no addresses, health: {cloud: {}}.
const workersManifest = `cloud: remint-sim
state: state/remint.db
families:
  debian-12:
    source_image: debian-12
    flavor: m1.small
    network: private
    ssh_user: debian
groups:
  workers:
    count: 2
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    health:
      cloud: {}
      interval: 50ms
      healthy_threshold: 2
      deadline: 30s
`

// TestRebuildWorkersWithCloudHealth runs remint plan, rebuild and group show as a user
// does for workers checked by the cloud alone, on the simulator's loopback driver.
func TestRebuildWorkersWithCloudHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	cloud := simclient.Start(t, simclient.Options{Sim: sim.Config{Driver: driver, BootTime: 50 * time.Millisecond, ImageSaveTime: 20 * time.Millisecond}, SetEnv: true})
	c, seed := cloud.Client, cloud.Seed
	dir := t.TempDir()
	mf := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(workersManifest), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	builder, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "builder", ImageID: seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, builder.ID)
	require.NoError(t, err)
	cat := catalog.New(c)
	register := func(name string) {
		id, err := c.CreateServerImage(ctx, builder.ID, name, nil)
		require.NoError(t, err)
		_, err = c.WaitImageActive(ctx, id)
		require.NoError(t, err)
		_, _, err = cat.Register(ctx, "debian-12", id, time.Now())
		require.NoError(t, err)
	}
	register("debian-12-a")

	var out, errOut bytes.Buffer
	require.NoError(t, runPlan(ctx, &out, &errOut, "workers", planOptions{file: mf, output: "text"}))
	require.Contains(t, out.String(), "this proves less than a probe")
	require.NotContains(t, out.String(), "the gate checks only", "no addresses, no gate")

	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "workers", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "text"}), errOut.String())
	require.Contains(t, out.String(), "completed")

	register("debian-12-b")
	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "workers", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "json"}), errOut.String())
	events := out.String()
	last := lastJSONLine(t, &out)
	require.Equal(t, "completed", last["status"])
	require.Equal(t, 2, strings.Count(events, `"step":"healthy"`), events)

	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "workers", groupOptions{file: mf, output: "json"}))
	var view failover.GroupStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &view))
	require.Len(t, view.Slots, 2)
	for _, sl := range view.Slots {
		require.Equal(t, "healthy", sl.Health, "group show checks the slot by the cloud too")
		require.Empty(t, sl.Address)
	}
}
