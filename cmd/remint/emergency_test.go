package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/orchestrator"
)

// remint emergency on the loopback simulator, through the real binary: bad input exits 2
// and runs nothing; --dry-run prints the plan (web rebuilt after its family's check, the
// pet db skipped without servers) and changes nothing. The run itself builds images and
// patches over SSH: make e2e runs it on real hosts (TestEmergency).
func TestEmergencyBadInputAndDryRun(t *testing.T) {
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
		{[]string{"emergency", "--all"}, "--security is required"},
		{[]string{"emergency", "--security"}, "name the target groups or pass --all"},
		{[]string{"emergency", "--security", "web", "--all"}, "name targets or --all, not both"},
		{[]string{"emergency", "--security", "nope"}, `group "nope" is not in the manifest`},
		{[]string{"emergency", "--security", "web", "web"}, "target web given twice"},
		{[]string{"emergency", "--security", "--all", "--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{[]string{"emergency", "--security", "--all", "--output", "yaml"}, "--output"},
	} {
		p := w.start(nil, c.args...)
		require.Equal(t, 2, p.wait(t), "%v: %s", c.args, p)
		require.Contains(t, p.stderr.String(), c.want, "%v", c.args)
	}

	dry := w.start(nil, "emergency", "--security", "--all", "--reason", "CVE-2026-1234", "--dry-run")
	require.Equal(t, 0, dry.wait(t), "%s", dry)
	out := dry.stdout.String()
	for _, want := range []string{
		"reason: CVE-2026-1234\n",
		"  debian-12 (active 2026.11.1): then rebuild web\n",
		"  TARGET  ACTION   OPTIONS\n  db      skip     -\n  web     rebuild  -\n",
	} {
		require.Contains(t, out, want)
	}
	js := w.start(nil, "emergency", "--security", "web", "--dry-run", "--output", "json")
	require.Equal(t, 0, js.wait(t), "%s", js)
	var rep orchestrator.EmergencyReport
	require.NoError(t, json.Unmarshal([]byte(js.stdout.String()), &rep), "%s", js.stdout)
	require.True(t, rep.DryRun)
	require.Equal(t, orchestrator.ResultPlanned, rep.Status)
	require.Equal(t, []orchestrator.FamilyResult{{Family: "debian-12", Build: orchestrator.BuildPlanned, Previous: "2026.11.1"}}, rep.Families)
	list, err := w.os.ListServers(t.Context(), openstack.ListServersOpts{NamePrefix: "web-"})
	require.NoError(t, err)
	require.Empty(t, list, "nothing ran")
}
