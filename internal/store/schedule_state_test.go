package store_test

import (
	"context"
	"path/filepath"
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
