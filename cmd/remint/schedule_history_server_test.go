package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// `remint schedule history` with the real binary, locally and through a real `remint
// serve` on the same state: the same output (text and JSON, all runs and one schedule's,
// a deleted schedule's runs included), and the same refusal (exit 2) of a schedule
// nobody knows.
func TestScheduleHistoryThroughDaemonAsLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the remint binary")
	}
	remintBinary(t)
	w := startWorld(t, leaseManifest, 200*time.Millisecond)
	_, url := w.startServe(nil)

	// Runs a daemon handled for a schedule deleted since (its runs stay).
	st, err := store.Open(t.Context(), w.statePath())
	require.NoError(t, err)
	start := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	for i, r := range []store.ScheduleRun{
		{Outcome: store.RunFired, JobID: 7, Reason: "job 7 queued"},
		{Outcome: store.RunMissed, Reason: "its window closed at 2026-11-28T06:00:00Z while no daemon was up"},
		{Outcome: store.RunSkipped, Reason: "web is busy with job 9 (rebuild, running)"},
	} {
		r.Schedule, r.Target = "weekend-web", "web"
		r.Start = start.AddDate(0, 0, 7*i)
		r.End, r.Recorded = r.Start.Add(4*time.Hour), r.Start.Add(time.Second)
		require.NoError(t, st.RecordScheduleRun(t.Context(), nil, r))
	}
	require.NoError(t, st.Close())

	for _, args := range [][]string{
		{"schedule", "history"},
		{"schedule", "history", "--output", "json"},
		{"schedule", "history", "weekend-web"},
		{"schedule", "history", "weekend-web", "--output", "json"},
	} {
		local := w.start(w.tokenEnv(), args...)
		require.Equal(t, 0, local.wait(t), "%s", local)
		remote := w.start(w.tokenEnv(), append(args, "--server", url)...)
		require.Equal(t, 0, remote.wait(t), "%s", remote)
		require.Equal(t, local.stdout.String(), remote.stdout.String())
		require.Contains(t, local.stdout.String(), "web is busy with job 9 (rebuild, running)")
	}

	for _, where := range [][]string{nil, {"--server", url}} {
		p := w.start(w.tokenEnv(), append([]string{"schedule", "history", "nope"}, where...)...)
		require.Equal(t, 2, p.wait(t), "%s", p)
		require.Contains(t, p.stderr.String(), `schedule "nope" is not in the manifest nor created at run time, and has no recorded runs`, "%s", p)
	}
}
