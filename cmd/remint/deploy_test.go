package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/orchestrator"
)

// deployManifest is leaseManifest's web (replaceable, behind two failover addresses)
// and a pet db (replaceable: false) with no servers yet.
const deployManifest = leaseManifest + `  db:
    count: 1
    image: {family: debian-12}
    flavor: m1.tiny
    network: private
    key_name: remint
    replaceable: false
    health:
      tcp: {port: 8080}
`

// remint deploy on the loopback simulator, through the real binary: --dry-run prints the
// policy's decisions and changes nothing; a deploy of web rebuilds it onto the latest
// image through its failover addresses and reports the rollout in one JSON report.
// (In-place work needs servers with sshd and apt: inplace's tests and make e2e run it.)
func TestDeployDryRunThenRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator and the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, deployManifest, 0)
	w.register("debian-12-a")
	first := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, first.wait(t), "%s", first)
	w.assertServing("2026.11.1")
	next := w.register("debian-12-b")

	dry := w.start(nil, "deploy", "web", "db", "--apply-security-upgrades", "--reboot-if-required", "--dry-run")
	require.Equal(t, 0, dry.wait(t), "%s", dry)
	out := dry.stdout.String()
	for _, want := range []string{
		"  TARGET  ACTION   OPTIONS\n  web     rebuild  -\n  db      skip     -\n",
		"web: rebuild\n  reason: rebuild: replaceable, onto debian-12 " + next + ", behind 2 failover addresses, quota holds the surge of 1 server",
		"  note: options (security upgrades, reboot if required) are not applied in place: the new servers boot debian-12 " + next,
		"db: skip\n  reason: skip: in-place: group db is replaceable: false (a stateful pet); and the group has no servers to patch",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "results:")
	w.assertServing("2026.11.1") // a dry run changes nothing

	run := w.start(nil, "deploy", "web", "--output", "json")
	require.Equal(t, 0, run.wait(t), "%s", run)
	var rep orchestrator.DeployReport
	require.NoError(t, json.Unmarshal([]byte(run.stdout.String()), &rep), "one JSON report: %s", run.stdout)
	require.Equal(t, orchestrator.ResultSucceeded, rep.Status)
	require.Len(t, rep.Targets, 1)
	tr := rep.Targets[0]
	require.Equal(t, orchestrator.ActionRebuild, tr.Decision)
	require.Equal(t, orchestrator.ResultSucceeded, tr.Result)
	require.True(t, strings.HasPrefix(tr.Reason, "rebuild: replaceable, onto debian-12 "+next), tr.Reason)
	require.Len(t, tr.Rollouts, 1)
	require.Equal(t, 2, tr.Replaced)
	w.assertServing(next)

	again := w.start(nil, "deploy", "web")
	require.Equal(t, 0, again.wait(t), "%s", again)
	require.Contains(t, again.stdout.String(), "results:\n  web: rebuild succeeded, 0 servers replaced, rollouts -\n")
}

// Bad input exits 2 and runs nothing.
func TestDeployBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator and the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, deployManifest, 0)
	w.register("debian-12-a")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "requires at least 1 arg"},
		{[]string{"deploy", "nope"}, `group "nope" is not in`},
		{[]string{"deploy", "web", "web"}, "target web given twice"},
		{[]string{"deploy", "web", "--rebuild", "--in-place"}, "--rebuild and --in-place: choose one"},
		{[]string{"deploy", "web", "--in-place"}, "--in-place needs something to do"},
		{[]string{"deploy", "web", "--in-place", "--reboot-if-required"}, "reboot_if_required alone installs nothing"},
		{[]string{"deploy", "db", "--rebuild"}, "cannot force a rebuild: the group is replaceable: false"},
		{[]string{"deploy", "web", "--output", "yaml"}, "--output"},
		{[]string{"deploy", "web", "--maintenance-window", "0"}, "--maintenance-window 0: want 1 to 24 hours"},
		{[]string{"deploy", "web", "--maintenance-window", "25"}, "--maintenance-window 25: want 1 to 24 hours"},
	} {
		p := w.start(nil, c.args...)
		require.Equal(t, 2, p.wait(t), "%v: %s", c.args, p)
		require.Contains(t, p.stderr.String(), c.want, "%v", c.args)
	}
	list, err := w.os.ListServers(t.Context(), openstack.ListServersOpts{NamePrefix: "web-"})
	require.NoError(t, err)
	require.Empty(t, list, "nothing ran")
}
