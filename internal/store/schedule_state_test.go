package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// The run-time schedules' fingerprint changes with every create, update (enable,
// disable) and delete, and not otherwise; ScheduleStates reads every last-fired time at
// once. On SQLite and PostgreSQL.
func TestSchedulesVersionAndStates(t *testing.T) {
	forEachStore(t, testSchedulesVersion)
}

func testSchedulesVersion(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	version := func() string {
		v, err := st.SchedulesVersion(ctx)
		require.NoError(t, err)
		return v
	}
	changed := func(what string) {
		v := version()
		require.False(t, seen[v], "%s: the fingerprint %s was seen before", what, v)
		seen[v] = true
	}
	changed("empty")
	a, err := st.CreateSchedule(ctx, store.ScheduleDef{Name: "a", RRule: "DTSTART:20260101T000000Z RRULE:FREQ=DAILY", Window: time.Hour, Enabled: true, Action: "update", Target: "db"}, t0)
	require.NoError(t, err)
	changed("create")
	v := version()
	require.Equal(t, v, version(), "no change, same fingerprint")
	_, err = st.CreateSchedule(ctx, store.ScheduleDef{Name: "b", RRule: "DTSTART:20260101T000000Z RRULE:FREQ=DAILY", Window: time.Hour, Enabled: true, Action: "update", Target: "db"}, t0.Add(time.Second))
	require.NoError(t, err)
	changed("second create")
	a.Enabled = false
	_, err = st.UpdateSchedule(ctx, a, t0.Add(2*time.Second))
	require.NoError(t, err)
	changed("disable")
	require.NoError(t, st.DeleteSchedule(ctx, a.ID))
	changed("delete")

	require.NoError(t, st.SetScheduleFired(ctx, nil, "a", "rule", t0, t0))
	require.NoError(t, st.SetScheduleFired(ctx, nil, "weekend-web", "rule", t0.Add(time.Hour), t0))
	states, err := st.ScheduleStates(ctx)
	require.NoError(t, err)
	require.Len(t, states, 2)
	require.True(t, states["weekend-web"].Equal(t0.Add(time.Hour)))
}

// Updates in the same second change the fingerprint whatever their nanoseconds (with
// RFC 3339's trimmed zeros ".9Z" sorts after ".91Z" and MAX would miss the second).
func TestSchedulesVersionSameSecond(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 900_000_000, time.UTC)
	_, err = st.CreateSchedule(ctx, store.ScheduleDef{Name: "a", RRule: "DTSTART:20260101T000000Z RRULE:FREQ=DAILY", Window: time.Hour, Enabled: true, Action: "update", Target: "db"}, t0)
	require.NoError(t, err)
	b, err := st.CreateSchedule(ctx, store.ScheduleDef{Name: "b", RRule: "DTSTART:20260101T000000Z RRULE:FREQ=DAILY", Window: time.Hour, Enabled: true, Action: "update", Target: "db"}, t0.Add(-time.Second))
	require.NoError(t, err)
	v1, err := st.SchedulesVersion(ctx)
	require.NoError(t, err)
	b.Enabled = false
	_, err = st.UpdateSchedule(ctx, b, t0.Add(10*time.Millisecond)) // .91, while a's .9 is the latest
	require.NoError(t, err)
	v2, err := st.SchedulesVersion(ctx)
	require.NoError(t, err)
	require.NotEqual(t, v1, v2)
}

// Two daemons recording the same run of a schedule at once (on PostgreSQL each from its
// own connection, some in a transaction) leave one record; the others are told it was
// recorded already. On SQLite and PostgreSQL.
func TestScheduleRunRecordedOnce(t *testing.T) {
	forEachStore(t, testScheduleRunRecordedOnce)
}

func testScheduleRunRecordedOnce(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	run := func(outcome string, start time.Time) store.ScheduleRun {
		return store.ScheduleRun{Schedule: "weekend-web", Target: "web", Start: start, End: start.Add(time.Hour),
			Outcome: outcome, Reason: outcome, Recorded: t0}
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome := store.RunFired
			if i%2 == 1 {
				outcome = store.RunSkipped
			}
			// Half of them in a transaction, as the daemon records a fired run with its job.
			if i%2 == 0 {
				tx, err := st.DB().BeginTx(ctx, nil)
				if err != nil {
					errs[i] = err
					return
				}
				defer tx.Rollback()
				if errs[i] = st.RecordScheduleRun(ctx, tx, run(outcome, t0)); errs[i] == nil {
					errs[i] = tx.Commit()
				}
				return
			}
			errs[i] = st.RecordScheduleRun(ctx, nil, run(outcome, t0))
		}()
	}
	wg.Wait()
	recorded := 0
	for i, err := range errs {
		if err == nil {
			recorded++
			continue
		}
		require.ErrorIs(t, err, store.ErrRunRecorded, "recorder %d", i)
	}
	require.Equal(t, 1, recorded, "exactly one recorder wrote the run")
	runs, err := st.ScheduleRuns(ctx, "weekend-web")
	require.NoError(t, err)
	require.Len(t, runs, 1)

	// Another run of the schedule, and the same time of another schedule, are recorded.
	require.NoError(t, st.RecordScheduleRun(ctx, nil, run(store.RunMissed, t0.Add(-24*time.Hour))))
	other := run(store.RunFired, t0)
	other.Schedule = "weekend-db"
	require.NoError(t, st.RecordScheduleRun(ctx, nil, other))
	runs, err = st.ScheduleRuns(ctx, "")
	require.NoError(t, err)
	require.Len(t, runs, 3)
}
