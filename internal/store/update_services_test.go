package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// A server's update service and its schedules' display names round trip on SQLite and
// PostgreSQL; a server never enabled is ErrNotFound.
func TestUpdateServices(t *testing.T) {
	forEachStore(t, testUpdateServices)
}

func testUpdateServices(t *testing.T, st *store.Store) {
	ctx := context.Background()
	_, err := st.GetUpdateService(ctx, "srv-a")
	require.True(t, errors.Is(err, store.ErrNotFound), "%v", err)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	u := store.UpdateService{ServerID: "srv-a", Group: "web", Enabled: true, PolicyID: "default", ScheduleID: 7, UpdatedBy: "api", Updated: now}
	require.NoError(t, st.PutUpdateService(ctx, u))
	got, err := st.GetUpdateService(ctx, "srv-a")
	require.NoError(t, err)
	require.Equal(t, u.Group, got.Group)
	require.True(t, got.Enabled)
	require.Equal(t, int64(7), got.ScheduleID)
	require.True(t, got.Updated.Equal(now))
	u.Enabled, u.UpdatedBy = false, "token ops"
	require.NoError(t, st.PutUpdateService(ctx, u))
	got, err = st.GetUpdateService(ctx, "srv-a")
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Equal(t, "token ops", got.UpdatedBy)

	require.NoError(t, st.SetScheduleName(ctx, 7, "srv-a", "Default Update Schedule"))
	require.NoError(t, st.SetScheduleName(ctx, 8, "srv-a", "Nightly"))
	require.NoError(t, st.SetScheduleName(ctx, 8, "srv-a", "Nightly, renamed"))
	require.NoError(t, st.SetScheduleName(ctx, 9, "srv-b", "Other"))
	names, err := st.ScheduleNames(ctx, "srv-a")
	require.NoError(t, err)
	require.Equal(t, map[int64]string{7: "Default Update Schedule", 8: "Nightly, renamed"}, names)
	require.NoError(t, st.DeleteScheduleName(ctx, 8))
	names, err = st.ScheduleNames(ctx, "srv-a")
	require.NoError(t, err)
	require.Equal(t, map[int64]string{7: "Default Update Schedule"}, names)

	// A server's slot: where it is now, else where a rollout replaced it.
	_, _, err = st.ServerSlot(ctx, "srv-old")
	require.True(t, errors.Is(err, store.ErrNotFound), "%v", err)
	require.NoError(t, st.PutSlot(ctx, store.Slot{Group: "web", Slot: 1, ServerID: "srv-old", Updated: now}))
	g, slot, err := st.ServerSlot(ctx, "srv-old")
	require.NoError(t, err)
	require.Equal(t, "web", g)
	require.Equal(t, 1, slot)
	require.NoError(t, st.CreateRollout(ctx, store.Rollout{ID: "r1", Group: "web", ImageID: "img", ImageVersion: "2026.11.1", Strategy: "rolling",
		Status: store.RolloutRunning, Created: now, Updated: now},
		[]store.Step{{Slot: 1, Wave: 1, Mode: "surge", State: "done", OldServerID: "srv-old", NewServerID: "srv-new", Updated: now}}))
	require.NoError(t, st.PutSlot(ctx, store.Slot{Group: "web", Slot: 1, ServerID: "srv-new", Updated: now}))
	for _, id := range []string{"srv-old", "srv-new"} {
		g, slot, err = st.ServerSlot(ctx, id)
		require.NoError(t, err, id)
		require.Equal(t, "web", g, id)
		require.Equal(t, 1, slot, id)
	}
}
