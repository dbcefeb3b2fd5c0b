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

// Schedules created through a running `remint serve` with `remint schedule create
// --server` fire without a restart: an enabled one starts a job at its run, a disabled
// one does not; list shows both as run-time schedules, bad input exits 2 with the
// book's reason, and a disabled schedule stays quiet after its run.
func TestScheduleCreatedThroughServeFires(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary against the simulator")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, time.Second)
	serve, url := w.startServe(nil)

	start := time.Now().UTC().Add(6 * time.Second).Truncate(time.Second)
	rule := "DTSTART:" + start.Format("20060102T150405Z") + " RRULE:FREQ=DAILY"
	on := w.start(w.tokenEnv(), "schedule", "create", "web-soon", "--rrule", rule, "--window", "1h", "--action", "rebuild", "--target", "web",
		"--description", "fires in seconds", "--server", url, "--output", "json")
	require.Equal(t, 0, on.wait(t), "%s", on)
	var v orchestrator.ScheduleView
	require.NoError(t, json.Unmarshal([]byte(on.stdout.String()), &v))
	require.Equal(t, orchestrator.SourceRunTime, v.Source)
	require.Equal(t, "token admin", v.CreatedBy, "who created it is the token")
	require.Equal(t, start.Format(time.RFC3339), v.Next[0].Start)

	off := w.start(w.tokenEnv(), "schedule", "create", "images-off", "--rrule", rule, "--window", "1h", "--action", "build-image", "--target", "debian-12",
		"--disabled", "--server", url)
	require.Equal(t, 0, off.wait(t), "%s", off)
	require.Contains(t, off.stdout.String(), "schedule images-off created (id 2)")

	bad := w.start(w.tokenEnv(), "schedule", "create", "bad", "--rrule", rule, "--window", "1h", "--action", "rebuild", "--target", "nope", "--server", url)
	require.Equal(t, 2, bad.wait(t), "%s", bad)
	require.Contains(t, bad.stderr.String(), `target "nope": action rebuild targets a group`)

	list := w.start(w.tokenEnv(), "schedule", "list", "--server", url)
	require.Equal(t, 0, list.wait(t), "%s", list)
	require.Regexp(t, `web-soon\s+runtime\s+1\s+rebuild\s+web\s+1h\s+UTC\s+yes\s+`+start.Format(time.RFC3339), list.stdout.String())
	require.Regexp(t, `images-off\s+runtime\s+2\s+build-image\s+debian-12\s+1h\s+UTC\s+no\s+-`, list.stdout.String())

	client := w.client(url)
	ctx := context.Background()
	var fired orchestrator.Job
	require.Eventually(t, func() bool {
		jobs, err := client.List(ctx, orchestrator.ListOptions{})
		require.NoError(t, err)
		for _, j := range jobs {
			if j.Schedule == "web-soon" {
				fired = j
				return true
			}
		}
		return false
	}, 2*time.Minute, 200*time.Millisecond, "the created schedule fires a job: %s", serve)
	require.Equal(t, "rebuild", fired.Kind)
	require.Equal(t, "schedule web-soon", fired.RequestedBy)
	require.Equal(t, start, fired.Run.Start.UTC())

	// The disabled schedule's run came at the same time: a few ticks later it has
	// neither a job nor a recorded run.
	time.Sleep(3 * time.Second)
	jobs, err := client.List(ctx, orchestrator.ListOptions{})
	require.NoError(t, err)
	for _, j := range jobs {
		require.NotEqual(t, "images-off", j.Schedule, "a disabled schedule does not fire")
		require.NotEqual(t, "build-image", j.Kind)
	}
	hist := w.start(nil, "schedule", "history")
	require.Equal(t, 0, hist.wait(t), "%s", hist)
	require.Contains(t, hist.stdout.String(), "web-soon")
	require.NotContains(t, hist.stdout.String(), "images-off")
	histOne := w.start(nil, "schedule", "history", "web-soon")
	require.Equal(t, 0, histOne.wait(t), "%s", histOne)
	require.Regexp(t, `web-soon\s+web\s+\S+ \S+\s+fired\s+\d+`, histOne.stdout.String())

	// next works for a run-time name, locally and through the daemon.
	next := w.start(w.tokenEnv(), "schedule", "next", "web-soon", "-n", "2", "--server", url)
	require.Equal(t, 0, next.wait(t), "%s", next)
	require.Contains(t, next.stdout.String(), "schedule web-soon: rebuild web")
	local := w.start(nil, "schedule", "show", "images-off")
	require.Equal(t, 0, local.wait(t), "%s", local)
	require.True(t, strings.Contains(local.stdout.String(), "no next runs while disabled"), "%s", local)
}
