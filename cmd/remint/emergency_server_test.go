package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// `remint emergency --server` queues an emergency job on a running daemon, follows its
// events to the end and exits as the local command does: 0 when it succeeded, 2 for bad
// input (nothing queued), and refuses the flags the daemon decides by itself.
func TestEmergencyThroughServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary against the simulator")
	}
	remintBinary(t)
	w := startWorld(t, deployManifest, 0)
	w.register("debian-12-a")
	_, url := w.startServe(nil)

	noToken := w.start(nil, "emergency", "--security", "db", "--server", url)
	require.Equal(t, 1, noToken.wait(t), "%s", noToken)
	require.Contains(t, noToken.stderr.String(), "set $REMINT_TOKEN or --token")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--security", "nope"}, `group "nope" is not in the manifest`},
		{[]string{"--security", "db", "db"}, "target db given twice"},
		{[]string{"db"}, "--security is required"},
		{[]string{"--security"}, "name the target groups or pass --all"},
		{[]string{"--security", "db", "--all"}, "name targets or --all, not both"},
		{[]string{"--security", "db", "--dry-run"}, "--dry-run and --server"},
		{[]string{"--security", "db", "--wait-lock", "1m"}, "--wait-lock and --server"},
		{[]string{"--security", "db", "-i", "/nonexistent"}, "--identity and --server"},
	} {
		p := w.start(w.tokenEnv(), append(append([]string{"emergency"}, c.args...), "--server", url)...)
		require.Equal(t, 2, p.wait(t), "%v: %s", c.args, p)
		require.Contains(t, p.stderr.String(), c.want, "%v", c.args)
	}
	jobs := w.start(w.tokenEnv(), "job", "list", "--server", url)
	require.Equal(t, 0, jobs.wait(t), "%s", jobs)
	require.NotContains(t, jobs.stdout.String(), "emergency", "bad input queues nothing")

	// db is a pet without servers: the emergency skips it, and succeeds.
	ok := w.start(w.tokenEnv(), "emergency", "--security", "db", "--reason", "CVE-2026-1234", "--server", url)
	require.Equal(t, 0, ok.wait(t), "%s", ok)
	out := ok.stdout.String()
	t.Logf("remint emergency --security db --server URL:\n%s", out)
	require.Regexp(t, `job \d+: emergency db queued on http://\S+`, out)
	require.Contains(t, out, "reason: CVE-2026-1234", "the job's events are printed as they come")
	require.Contains(t, out, "db: skipped")
	require.Regexp(t, `job \d+: emergency db succeeded`, out)
}
