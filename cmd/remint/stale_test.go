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

// startStaleCloud starts a simulator with the loopback driver, points the environment at
// it (as a user's OS_CLIENT_CONFIG_FILE would) and registers the seeded image as
// debian-12's version.
func startStaleCloud(t *testing.T, ctx context.Context) *simclient.Cloud {
	t.Helper()
	driver, err := loopback.NewFree(loopback.Options{StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	c := simclient.Start(t, simclient.Options{Sim: sim.Config{Driver: driver, BootTime: 50 * time.Millisecond}, SetEnv: true})
	_, _, err = catalog.New(c.Client).Register(ctx, "debian-12", c.Seed.ImageID, time.Now())
	require.NoError(t, err)
	return c
}

// TestStaleStateSaysWhatIsMissing reproduces a cloud reset under a kept state: the group
// is deployed on one simulator, then the same state meets a fresh one. plan, group show
// and rebuild say per slot what is missing, touch nothing and exit 2; group forget drops
// the records and the next rebuild deploys afresh. Unknown versions exit 2 too.
func TestStaleStateSaysWhatIsMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mf := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(testManifest), 0o644))
	rebuild := rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "text"}
	var out, errOut bytes.Buffer

	startStaleCloud(t, ctx)

	// An unknown version is bad input (exit 2), from the flag and from a manifest pin.
	err := runPlan(ctx, &out, &errOut, "web", planOptions{file: mf, image: "2099.01.1", output: "text"})
	require.Equal(t, exitUsage, exitCode(err), "%v", err)
	require.ErrorIs(t, err, catalog.ErrUnknownVersion)
	require.ErrorContains(t, err, "family debian-12 has no version 2099.01.1 (versions: ")
	pinned := filepath.Join(dir, "pinned.yaml")
	require.NoError(t, os.WriteFile(pinned, []byte(strings.Replace(testManifest, "image: {family: debian-12}", "image: {family: debian-12, version: 2099.01.1}", 1)), 0o644))
	err = runPlan(ctx, &out, &errOut, "web", planOptions{file: pinned, output: "text"})
	require.Equal(t, exitUsage, exitCode(err), "%v", err)
	err = runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: pinned, maxSurge: -1, maxUnavailable: -1, output: "text"})
	require.Equal(t, exitUsage, exitCode(err), "%v", err)

	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuild), errOut.String())

	// The cloud is reset: the same state, a fresh simulator.
	fresh := startStaleCloud(t, ctx)
	requireStale := func(err error) *failover.StaleStateError {
		t.Helper()
		require.Equal(t, exitUsage, exitCode(err), "%v", err)
		var stale *failover.StaleStateError
		require.ErrorAs(t, err, &stale)
		require.Len(t, stale.Missing, 2)
		lines := strings.Split(err.Error(), "\n")
		require.Len(t, lines, 4, "a header, one line per slot, the way out:\n%s", err)
		for i, m := range stale.Missing {
			require.Equal(t, i, m.Slot)
			require.NotEmpty(t, m.ServerID)
			require.NotEmpty(t, m.AddressID)
			require.Contains(t, lines[1+i], "web-"+string(rune('0'+i))+": recorded server web-")
			require.Contains(t, lines[1+i], "no longer exists; recorded floating IP 127.")
		}
		require.Contains(t, lines[3], "run `remint group forget web`")
		return stale
	}
	out.Reset()
	requireStale(runPlan(ctx, &out, &errOut, "web", planOptions{file: mf, output: "text"}))
	require.Empty(t, out.String())
	requireStale(runRebuild(ctx, &out, &errOut, "web", rebuild))
	require.Empty(t, out.String(), "nothing was started")
	requireStale(runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "text"}))
	require.Equal(t, 2, strings.Count(out.String(), "MISSING"), out.String())
	out.Reset()
	requireStale(runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "json"}))
	var view failover.GroupStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &view))
	require.Len(t, view.Missing, 2)
	require.Equal(t, failover.AddressOnMissing, view.Slots[0].AddressOn)
	servers, err := fresh.Client.ListServers(ctx, openstack.ListServersOpts{})
	require.NoError(t, err)
	require.Empty(t, servers, "nothing was created")
	fips, err := fresh.Client.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{})
	require.NoError(t, err)
	require.Empty(t, fips, "nothing was allocated")

	// The way out: forget what is gone, then rebuild afresh.
	out.Reset()
	require.NoError(t, runGroupForget(ctx, &out, &errOut, "web", groupForgetOptions{groupOptions: groupOptions{file: mf, output: "text"}}))
	require.Equal(t, 2, strings.Count(out.String(), "forgot server web-"), out.String())
	require.Equal(t, 2, strings.Count(out.String(), "forgot floating IP 127."), out.String())
	require.Contains(t, out.String(), "nothing in the cloud was changed")
	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "json"}))
	require.Contains(t, out.String(), `"missing": []`)
	require.NoError(t, runRebuild(ctx, &out, &errOut, "web", rebuild), errOut.String())
	out.Reset()
	require.NoError(t, runGroupShow(ctx, &out, &errOut, "web", groupOptions{file: mf, output: "json"}))
	view = failover.GroupStatus{}
	require.NoError(t, json.Unmarshal(out.Bytes(), &view))
	for _, sl := range view.Slots {
		require.Equal(t, "healthy", sl.Health)
		require.Equal(t, failover.AddressOnServer, sl.AddressOn)
	}

	// Nothing is gone now; --all drops every record but leaves the cloud alone.
	out.Reset()
	require.NoError(t, runGroupForget(ctx, &out, &errOut, "web", groupForgetOptions{groupOptions: groupOptions{file: mf, output: "text"}}))
	require.Contains(t, out.String(), "nothing to forget")
	out.Reset()
	require.NoError(t, runGroupForget(ctx, &out, &errOut, "web", groupForgetOptions{groupOptions: groupOptions{file: mf, output: "json"}, all: true}))
	var forgot struct {
		Forgotten []failover.Forgotten `json:"forgotten"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &forgot))
	require.Len(t, forgot.Forgotten, 4)
	for _, f := range forgot.Forgotten {
		require.False(t, f.Missing)
	}
	servers, err = fresh.Client.ListServers(ctx, openstack.ListServersOpts{})
	require.NoError(t, err)
	require.Len(t, servers, 2, "forget --all deletes nothing in the cloud")
}

// TestRolloutErrorPrintedOnce: when every replacement fails, each slot's error appears
// once in what rebuild prints (its failing event), not again in the rollout's failed
// event, the summary and the command's error.
func TestRolloutErrorPrintedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator")
	}
	globals = globalFlags{logLevel: "error", logFormat: "text"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mf := filepath.Join(dir, "remint.yaml")
	require.NoError(t, os.WriteFile(mf, []byte(testManifest), 0o644))
	cl := startStaleCloud(t, ctx)
	var out, errOut bytes.Buffer
	cl.Sim.Faults().Set("compute.server.boot", sim.FaultRule{ErrorRate: 1})
	err := runRebuild(ctx, &out, &errOut, "web", rebuildOptions{file: mf, maxSurge: -1, maxUnavailable: -1, output: "text"})
	require.Equal(t, exitFailure, exitCode(err))
	printed := out.String() + "remint: " + err.Error() + "\n"
	require.Contains(t, err.Error(), "failed (the errors are above)")
	for _, slot := range []string{"web-0", "web-1"} {
		var cause string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, " "+slot+" ") && strings.Contains(l, "failing") && strings.Contains(l, "failed: ") {
				_, cause, _ = strings.Cut(l, "failed: ")
				cause, _, _ = strings.Cut(cause, " (server ")
			}
		}
		require.NotEmpty(t, cause, "a failing event for %s in:\n%s", slot, printed)
		require.Equal(t, 1, strings.Count(printed, cause), "%s's error %q printed more than once:\n%s", slot, cause, printed)
	}
	require.Regexp(t, `rollout \w+ failed: slots (web-0, web-1|web-1, web-0) failed\n`, out.String())
}
