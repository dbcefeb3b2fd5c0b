package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/inplace"
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
