package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/orchestrator"
)

// A group whose recorded servers were deleted behind remint's back, asked about with the
// real binary locally and through a real `remint serve`: plan, rebuild and group show
// exit 2 with the same message (what is missing, how to get out) both ways; the daemon
// queues no rebuild job. group forget through the daemon gets out of it.
func TestStaleGroupThroughDaemonAsLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("boots servers on the simulator and runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 200*time.Millisecond)
	w.register("debian-12-a")
	deploy := w.start(nil, "rebuild", "web")
	require.Equal(t, 0, deploy.wait(t), "%s", deploy)
	ctx := t.Context()
	for _, sl := range w.show().Slots {
		require.NoError(t, w.os.DeleteServer(ctx, sl.ServerID))
		require.NoError(t, w.os.WaitServerDeleted(ctx, sl.ServerID))
	}
	_, url := w.startServe(nil)

	for _, args := range [][]string{
		{"plan", "web"},
		{"rebuild", "web"},
		{"group", "show", "web"},
		{"group", "show", "web", "--output", "json"},
	} {
		local := w.start(w.tokenEnv(), args...)
		require.Equal(t, 2, local.wait(t), "%s", local)
		remote := w.start(w.tokenEnv(), append(args, "--server", url)...)
		require.Equal(t, 2, remote.wait(t), "%s", remote)

		msg := local.stderr.String()
		require.True(t, strings.HasPrefix(msg, "remint: group web: the state records servers or addresses that no longer exist; nothing was changed:\n  web-0: recorded server web-0"), "%s", local)
		require.Contains(t, msg, "run `remint group forget web`", "%s", local)
		require.Equal(t, msg, remote.stderr.String(), "the local message, word for word")
		if args[len(args)-1] == "json" {
			var a, b map[string]any
			require.NoError(t, json.Unmarshal([]byte(local.stdout.String()), &a))
			require.NoError(t, json.Unmarshal([]byte(remote.stdout.String()), &b))
			require.Equal(t, a, b)
		} else {
			require.Equal(t, local.stdout.String(), remote.stdout.String())
		}
	}
	jobs, err := w.client(url).List(context.Background(), orchestrator.ListOptions{Target: "web"})
	require.NoError(t, err)
	require.Empty(t, jobs, "no rebuild job was queued for a stale group")

	forget := w.start(w.tokenEnv(), "group", "forget", "web", "--server", url)
	require.Equal(t, 0, forget.wait(t), "%s", forget)
	require.Equal(t, 2, strings.Count(forget.stdout.String(), "forgot server web-"), "%s", forget)
	plan := w.start(w.tokenEnv(), "plan", "web", "--server", url)
	require.Equal(t, 0, plan.wait(t), "%s", plan)
}
