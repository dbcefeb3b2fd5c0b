package inplace

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// The maintenance window closes while the second server is patched (injected clock):
// it finishes, no next server starts, and the run fails saying when the window closed
// and which servers are left.
func TestRunStopsWhenTheWindowCloses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer st.Close()
	servers := []Server{{ID: "g1", Name: "db-1"}, {ID: "g2", Name: "db-2"}, {ID: "g3", Name: "db-3"}, {ID: "g4", Name: "db-4"}}
	d := newFakeFleet(t, "g1", "g2", "g3", "g4")
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	deadline := t0.Add(2 * time.Hour)
	now := func() time.Time {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.dials) >= 2 {
			return deadline.Add(time.Minute) // the window closed while db-2 was patched
		}
		return t0
	}
	sum, err := Run(ctx, Deps{Dialer: d, Rebooter: noReboot{}, Journal: st, Now: now, Deadline: deadline},
		Plan{ID: "w1", Group: "db", Servers: servers, Options: Options{Security: true, Concurrency: 1}})
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, ErrDeadline)
	require.Equal(t, "in-place run failed: maintenance window closed at 2026-11-28T04:00:00Z: 2 of 4 servers patched; left: db-3, db-4", err.Error())
	require.Equal(t, []string{"db-1", "db-2"}, d.dials, "no server starts after the window closed")
	require.Equal(t, []string{StatusSucceeded, StatusSucceeded, StatusNotStarted, StatusNotStarted}, statuses(sum))
	run, err := st.LatestInplaceRun(ctx, "db")
	require.NoError(t, err)
	require.Equal(t, store.InplaceFailed, run.Status)
	require.Contains(t, run.Error, "left: db-3, db-4")
}
