package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/inplace"
	"github.com/remint-dev/remint/internal/store"
)

type refuseDialer struct{}

func (refuseDialer) Dial(context.Context, inplace.Server) (inplace.Conn, error) {
	return nil, errors.New("not expected: the window closed")
}

// A scheduled in-place job carries its run's window end to the use case: inplace.Run
// (with the clock past the end by the time it looks) starts no server, and the job fails
// saying when the window closed and what is left.
func TestScheduledJobStopsAtItsWindowEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seen := make(chan time.Time, 1)
	patch := func(ctx context.Context, group string, o InPlaceOptions, resume bool, progress func(inplace.ServerResult)) (inplace.Summary, error) {
		end := WindowEnd(ctx)
		seen <- end
		late := func() time.Time { return end.Add(time.Minute) } // the window closed before the first server
		return inplace.Run(ctx, inplace.Deps{Dialer: refuseDialer{}, Now: late, Deadline: end, Progress: progress},
			inplace.Plan{ID: "ip-w", Group: group, Servers: []inplace.Server{{ID: "a", Name: "db-0"}, {ID: "b", Name: "db-1"}},
				Options: inplace.Options{Security: true, Concurrency: 1}})
	}
	q := newKindQueue(t, Registry{KindInPlace: InPlaceHandler{Groups: func(string) bool { return true }, Patch: patch}})
	now := time.Now().UTC()
	run := Run{Start: now.Add(-time.Minute), End: now.Add(time.Hour)}
	j, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "db", Options: json.RawMessage(`{"apply_security_upgrades":true}`),
		Schedule: "sat-db", Run: &run, RequestedBy: "schedule sat-db"}, nil)
	require.NoError(t, err)
	failed := waitStatus(t, q, j.ID, StatusFailed)
	end := <-seen
	require.True(t, end.Equal(run.End), "the use case got the window end %s, want %s", end, run.End)
	require.Equal(t, "in-place run failed: maintenance window closed at "+run.End.Format(time.RFC3339)+": 0 of 2 servers patched; left: db-0, db-1", failed.Reason)
}

// A scheduled in-place job killed mid-run and rescued after its window closed does not
// refuse up front: it resumes the recorded run with the window end as the deadline, so
// inplace.Run finishes the servers that were under way (and starts no other), and fails
// with what that run left.
func TestScheduledInPlaceJobResumedAfterItsWindowFinishesTheRunUnderWay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type call struct {
		resume bool
		end    time.Time
	}
	calls := make(chan call, 2)
	patch := func(ctx context.Context, group string, o InPlaceOptions, resume bool, progress func(inplace.ServerResult)) (inplace.Summary, error) {
		calls <- call{resume, WindowEnd(ctx)}
		// What inplace.Run reports once it finished the server under way (db-1) and
		// started no other.
		sum := inplace.Summary{Run: "ip-killed", Group: group, Status: "failed", Succeeded: 1, NotStarted: 1,
			Servers: []inplace.ServerResult{{Server: inplace.Server{ID: "a", Name: "db-1"}, Status: inplace.StatusSucceeded}, {Server: inplace.Server{ID: "b", Name: "db-2"}, Status: inplace.StatusNotStarted}}}
		return sum, fmt.Errorf("%w: maintenance window closed at %s: 1 of 2 servers patched; left: db-2", inplace.ErrFailed, WindowEnd(ctx).UTC().Format(time.RFC3339))
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	clock := &offsetClock{}
	q, err := NewQueue(ctx, st, Registry{KindInPlace: InPlaceHandler{Groups: func(string) bool { return true }, Patch: patch}},
		QueueConfig{Workers: 1, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second, Now: clock.Now})
	require.NoError(t, err)
	run := Run{Start: clock.Now().Add(-time.Minute), End: clock.Now().Add(time.Hour)}
	j, err := q.Insert(ctx, JobRequest{Kind: KindInPlace, Target: "db", Options: json.RawMessage(`{"apply_security_upgrades":true}`),
		Schedule: "sat-db", Run: &run, RequestedBy: "schedule sat-db"}, nil)
	require.NoError(t, err)
	// Its first attempt died (kill -9) mid-run: running, its lease expired.
	_, err = st.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now') WHERE id = ?`, j.ID)
	require.NoError(t, err)
	require.NoError(t, st.JobStarted(ctx, j.ID, clock.Now()))
	_, err = st.AcquireLease(ctx, jobLeaseKey(j.ID), store.LeaseHolder{Host: "gone", PID: 42}, time.Millisecond, time.Now())
	require.NoError(t, err)

	clock.set(2 * time.Hour) // rescued after the window closed
	rescued, err := q.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{j.ID}, rescued)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })
	failed := waitStatus(t, q, j.ID, StatusFailed)
	var c call
	select {
	case c = <-calls:
	default:
		t.Fatalf("the in-place run was not resumed; the job failed with %q", failed.Reason)
	}
	require.True(t, c.resume, "the recorded run is resumed")
	require.True(t, c.end.Equal(run.End), "deadline %s, want the window end %s", c.end, run.End)
	require.Equal(t, "in-place run failed: maintenance window closed at "+run.End.UTC().Format(time.RFC3339)+": 1 of 2 servers patched; left: db-2", failed.Reason)
	require.Empty(t, calls, "resumed once")
}
