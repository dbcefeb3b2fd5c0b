package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// `remint deploy --server` queues a job per target on a running daemon, follows its
// events to the end and exits as the local deploy does: 0 when it succeeded, 2 for bad
// input (nothing queued).
func TestDeployThroughServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary against the simulator")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, time.Second)
	w.register("debian-12-a")
	_, url := w.startServe(nil)

	noToken := w.start(nil, "deploy", "web", "--server", url)
	require.Equal(t, 1, noToken.wait(t), "%s", noToken)
	require.Contains(t, noToken.stderr.String(), "set $REMINT_TOKEN or --token")

	bad := w.start(w.tokenEnv(), "deploy", "nope", "--server", url)
	require.Equal(t, 2, bad.wait(t), "%s", bad)
	require.Contains(t, bad.stderr.String(), `group "nope" is not in the manifest`)
	badWindow := w.start(w.tokenEnv(), "deploy", "web", "--server", url, "--maintenance-window", "30")
	require.Equal(t, 2, badWindow.wait(t), "%s", badWindow)
	require.Contains(t, badWindow.stderr.String(), "--maintenance-window 30: want 1 to 24 hours")

	d := w.start(w.tokenEnv(), "deploy", "web", "--server", url, "--maintenance-window", "2")
	require.Equal(t, 0, d.wait(t), "%s", d)
	out := d.stdout.String()
	t.Logf("remint deploy web --server URL --maintenance-window 2:\n%s", out)
	require.Regexp(t, `queued job \d+: update web on http://\S+, window until `, out)
	require.Contains(t, out, "results:")
	require.Regexp(t, `web: update succeeded \(job \d+\)`, out)
	require.Contains(t, out, "rollout", "the job's events are printed as they come")

	list := w.start(w.tokenEnv(), "job", "list", "--server", url)
	require.Equal(t, 0, list.wait(t), "%s", list)
	require.Contains(t, list.stdout.String(), "token admin", "who asked is the token")
}
