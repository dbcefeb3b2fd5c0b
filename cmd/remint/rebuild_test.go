package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
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

const testManifest = `cloud: remint-sim
state: state/remint.db
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
    health:
      http: {port: 8080, path: /healthz, body: ok}
      interval: 50ms
      healthy_threshold: 2
      deadline: 30s
    rollout:
      keep_old: 1h
`

// TestRebuildCommandsOnSimulator runs the group commands the way a user does, against
// the simulator with the loopback driver: first deploy, show, plan a new version,
// rebuild with JSON output, roll back, and a resume with nothing to resume.
func TestRebuildCommandsOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	require.Equal(t, 8080, driver.Port())
	cloud := simclient.Start(t, simclient.Options{Sim: sim.Config{Driver: driver, BootTime: 50 * time.Millisecond, ImageSaveTime: 20 * time.Millisecond}, SetEnv: true})
	c, seed := cloud.Client, cloud.Seed
	dir := t.TempDir()
	mf := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(testManifest), 0o644))

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

	// A server of the group exists but was never recorded: rebuild refuses until adopted.
	pet, err := c.CreateServer(ctx, openstack.ServerSpec{Name: "web-0", ImageID: seed.ImageID, Flavor: "m1.tiny", Network: sim.SeedPrivateNetwork})
	require.NoError(t, err)
	_, err = c.WaitServerActive(ctx, pet.ID)
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	err = runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "text"})
	var ue usageError
	require.ErrorAs(t, err, &ue)
	require.ErrorContains(t, err, "remint group adopt web")
	require.NoError(t, runGroupAdopt(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "text"}))
	require.Contains(t, out.String(), "slot web-0: adopted server web-0")
	require.Contains(t, out.String(), "slot web-1: no server")

	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "text"}), errOut.String())
	require.Contains(t, out.String(), "completed")
	require.FileExists(t, filepath.Join(dir, "state", "remint.db"))

	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "json"}))
	var view failover.GroupStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &view))
	require.Len(t, view.Slots, 2)
	firstVersion := view.Slots[0].ImageVersion
	for _, sl := range view.Slots {
		require.Equal(t, "healthy", sl.Health)
		require.Equal(t, "server", sl.AddressOn)
		require.NotEmpty(t, sl.Address)
	}

	register("debian-12-b")
	out.Reset()
	require.NoError(t, runPlan(ctx, &out, &errOut, "web", planOptions{file: mf, output: "text"}))
	require.Contains(t, out.String(), "image is older than the target")
	require.Equal(t, 2, strings.Count(out.String(), "[replace, surge"))

	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "json"}), errOut.String())
	last := lastJSONLine(t, &out)
	require.Equal(t, "summary", last["type"])
	require.Equal(t, "completed", last["status"])

	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "json"}))
	require.NoError(t, json.Unmarshal(out.Bytes(), &view))
	require.NotEqual(t, firstVersion, view.Slots[0].ImageVersion)

	out.Reset()
	require.NoError(t, runRollback(ctx, &out, &errOut, "web", rollbackOptions{file: mf, output: "text"}))
	require.Contains(t, out.String(), "rolled_back")
	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "json"}))
	require.NoError(t, json.Unmarshal(out.Bytes(), &view))
	for _, sl := range view.Slots {
		require.Equal(t, firstVersion, sl.ImageVersion)
		require.Equal(t, "server", sl.AddressOn)
	}

	out.Reset()
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, resume: true, output: "text"}))

	err = runRebuild(ctx, &out, &errOut, "nope", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "text"})
	require.ErrorAs(t, err, &ue)
}

func lastJSONLine(t *testing.T, r io.Reader) map[string]any {
	t.Helper()
	var last map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		last = nil
		require.NoError(t, json.Unmarshal(sc.Bytes(), &last), "line %q", sc.Text())
		n++
	}
	require.Greater(t, n, 3, "one JSON object per event")
	return last
}
