package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// Runtime schedules round trip on SQLite and PostgreSQL: integer ids, unique names,
// update, enable/disable, delete, and not-found errors callers can test for.
func TestSchedulesCRUD(t *testing.T) {
	forEachStore(t, testSchedulesCRUD)
}

func testSchedulesCRUD(t *testing.T, st *store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a, err := st.CreateSchedule(ctx, store.ScheduleDef{Name: "weekly-web", RRule: "FREQ=WEEKLY;BYDAY=SA", Window: 4 * time.Hour,
		Enabled: true, Action: "update", Target: "web", Options: json.RawMessage(`{"apply_security_upgrades":true}`), CreatedBy: "token ci"}, now)
	require.NoError(t, err)
	require.Positive(t, a.ID)
	b, err := st.CreateSchedule(ctx, store.ScheduleDef{Name: "nightly-db", RRule: "FREQ=DAILY", Window: time.Hour, Action: "inplace", Target: "db"}, now)
	require.NoError(t, err)
	require.Greater(t, b.ID, a.ID)
	require.JSONEq(t, `{}`, string(b.Options))

	_, err = st.CreateSchedule(ctx, store.ScheduleDef{Name: "weekly-web", RRule: "FREQ=DAILY", Window: time.Hour, Action: "update", Target: "web"}, now)
	require.True(t, errors.Is(err, store.ErrScheduleExists), "%v", err)

	got, err := st.Schedule(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, "weekly-web", got.Name)
	require.Equal(t, 4*time.Hour, got.Window)
	require.True(t, got.Enabled)
	require.Equal(t, "token ci", got.CreatedBy)
	require.JSONEq(t, `{"apply_security_upgrades":true}`, string(got.Options))
	require.True(t, got.Created.Equal(now))

	byName, err := st.ScheduleByName(ctx, "nightly-db")
	require.NoError(t, err)
	require.Equal(t, b.ID, byName.ID)
	require.False(t, byName.Enabled)

	web, err := st.ListSchedules(ctx, "web")
	require.NoError(t, err)
	require.Len(t, web, 1)
	all, err := st.ListSchedules(ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 2)

	got.Enabled = false
	got.Window = 6 * time.Hour
	upd, err := st.UpdateSchedule(ctx, got, now.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, upd.Enabled)
	require.Equal(t, 6*time.Hour, upd.Window)
	require.True(t, upd.Updated.Equal(now.Add(time.Hour)))
	require.True(t, upd.Created.Equal(now))

	upd.Name = "nightly-db"
	_, err = st.UpdateSchedule(ctx, upd, now)
	require.True(t, errors.Is(err, store.ErrScheduleExists), "%v", err)

	require.NoError(t, st.DeleteSchedule(ctx, a.ID))
	_, err = st.Schedule(ctx, a.ID)
	require.True(t, errors.Is(err, store.ErrScheduleNotFound), "%v", err)
	require.True(t, errors.Is(st.DeleteSchedule(ctx, a.ID), store.ErrScheduleNotFound))
	_, err = st.UpdateSchedule(ctx, store.ScheduleDef{ID: 999, Name: "x", Window: time.Hour}, now)
	require.True(t, errors.Is(err, store.ErrScheduleNotFound), "%v", err)
	_, err = st.ScheduleByName(ctx, "nope")
	require.True(t, errors.Is(err, store.ErrScheduleNotFound), "%v", err)
}

// Two writers that read the same version of a schedule: the first write wins, the second
// gets ErrScheduleChanged (and the current schedule) instead of silently overwriting it.
func TestScheduleUpdateOnlyIfUnchanged(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		d, err := st.CreateSchedule(ctx, store.ScheduleDef{Name: "sat", RRule: "FREQ=WEEKLY;BYDAY=SA", Window: 4 * time.Hour, Enabled: true,
			Action: "update", Target: "web"}, now)
		require.NoError(t, err)
		alice, err := st.Schedule(ctx, d.ID)
		require.NoError(t, err)
		bob := alice

		alice.Window = 6 * time.Hour
		won, err := st.UpdateSchedule(ctx, alice, now) // the same instant as the read: still a new version
		require.NoError(t, err)
		require.True(t, won.Updated.After(alice.Updated))

		bob.Enabled = false
		cur, err := st.UpdateSchedule(ctx, bob, now.Add(time.Second))
		require.ErrorIs(t, err, store.ErrScheduleChanged)
		require.Equal(t, 6*time.Hour, cur.Window, "the error carries the schedule as it is now")
		got, err := st.Schedule(ctx, d.ID)
		require.NoError(t, err)
		require.True(t, got.Enabled, "bob's stale write did not land")
		require.Equal(t, 6*time.Hour, got.Window)

		bob.Updated = time.Time{} // no version given: the write is unconditional
		_, err = st.UpdateSchedule(ctx, bob, now.Add(2*time.Second))
		require.NoError(t, err)
		require.NoError(t, st.DeleteSchedule(ctx, d.ID))
		_, err = st.UpdateSchedule(ctx, won, now.Add(3*time.Second))
		require.ErrorIs(t, err, store.ErrScheduleNotFound)
	})
}
