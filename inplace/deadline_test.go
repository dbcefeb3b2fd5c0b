package inplace

import (
	"context"
	"fmt"
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

// A run killed (kill -9) while servers were being patched and resumed after its window
// closed finishes those servers (an upgrade or reboot is not left half done) but starts
// no other: the run fails saying what is left, for the next run.
func TestResumedRunPastTheWindowFinishesTheServersUnderWay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		concurrency int
		statuses    []string // db-1 … db-4 as the killed run recorded them
		dials       []string
		want        []string
		err         string
	}{
		{"one at a time", 1, []string{StatusSucceeded, StatusRunning, StatusPending, StatusPending},
			[]string{"db-2"}, []string{StatusSucceeded, StatusSucceeded, StatusNotStarted, StatusNotStarted}, "2 of 4 servers patched; left: db-3, db-4"},
		{"two at a time, one failed", 2, []string{StatusRunning, StatusFailed, StatusRunning, StatusPending},
			[]string{"db-1", "db-3"}, []string{StatusSucceeded, StatusNotStarted, StatusSucceeded, StatusNotStarted}, "2 of 4 servers patched; left: db-2, db-4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
			require.NoError(t, err)
			defer st.Close()
			servers := []Server{{ID: "g1", Name: "db-1"}, {ID: "g2", Name: "db-2"}, {ID: "g3", Name: "db-3"}, {ID: "g4", Name: "db-4"}}
			t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
			deadline := t0.Add(2 * time.Hour)
			rows := make([]store.InplaceServer, len(servers))
			for i, s := range servers {
				rows[i] = store.InplaceServer{ServerID: s.ID, ServerName: s.Name, Seq: i, Status: tt.statuses[i], Updated: t0}
				switch tt.statuses[i] {
				case StatusSucceeded:
					rows[i].Phase, rows[i].Result = PhaseDone, []byte(`{"status":"succeeded"}`)
				case StatusRunning:
					rows[i].Phase = PhaseSecurity
				case StatusFailed:
					rows[i].Phase, rows[i].Error = PhaseConnect, "connection refused"
				}
			}
			require.NoError(t, st.CreateInplaceRun(ctx, store.InplaceRun{ID: "killed", Group: "db",
				Options: []byte(fmt.Sprintf(`{"security":true,"concurrency":%d}`, tt.concurrency)),
				Status:  store.InplaceRunning, Created: t0, Updated: t0}, rows))
			plan, err := Prepare(ctx, st, fakeFleet{servers: servers}, Request{Group: "db", Resume: true})
			require.NoError(t, err)

			d := newFakeFleet(t, "g1", "g2", "g3", "g4")
			late := func() time.Time { return deadline.Add(time.Hour) } // rescued after the window closed
			sum, err := Run(ctx, Deps{Dialer: d, Rebooter: noReboot{}, Journal: st, Now: late, Deadline: deadline}, plan)
			require.ErrorIs(t, err, ErrDeadline)
			require.Equal(t, "in-place run failed: maintenance window closed at 2026-11-28T04:00:00Z: "+tt.err, err.Error())
			require.ElementsMatch(t, tt.dials, d.dials, "only the servers under way are patched")
			require.Equal(t, tt.want, statuses(sum))
			got, err := st.InplaceServers(ctx, "killed")
			require.NoError(t, err)
			for i, r := range got {
				require.Equal(t, tt.want[i], r.Status, "journal: %s", r.ServerName)
			}
		})
	}
}
