package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// A lease records the durable job it is held for, as the refusal and GetLease show it;
// a job's last event is its latest line. On SQLite and PostgreSQL.
func TestLeaseJobAndLastJobEvent(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
		_, err := st.AcquireLease(ctx, "group/web", store.LeaseHolder{Host: "a", PID: 1, Command: "remint serve: job on group web", Job: 42}, time.Minute, now)
		require.NoError(t, err)
		l, err := st.GetLease(ctx, "group/web")
		require.NoError(t, err)
		require.Equal(t, int64(42), l.Holder.Job)
		_, err = st.AcquireLease(ctx, "group/web", store.LeaseHolder{Host: "b", PID: 2, Command: "remint rebuild web"}, time.Minute, now)
		var held *store.LeaseHeldError
		require.True(t, errors.As(err, &held))
		require.Equal(t, int64(42), held.Current.Holder.Job)
		// Taken over once expired, by a command run by hand: no job.
		_, err = st.AcquireLease(ctx, "group/web", store.LeaseHolder{Host: "b", PID: 2, Command: "remint rebuild web"}, time.Minute, now.Add(time.Minute))
		require.NoError(t, err)
		l, err = st.GetLease(ctx, "group/web")
		require.NoError(t, err)
		require.Zero(t, l.Holder.Job)

		_, err = st.LastJobEvent(ctx, 7)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, st.AppendJobEvent(ctx, store.JobEvent{JobID: 7, Time: now, Message: "queued"}))
		require.NoError(t, st.AppendJobEvent(ctx, store.JobEvent{JobID: 8, Time: now, Message: "other job"}))
		require.NoError(t, st.AppendJobEvent(ctx, store.JobEvent{JobID: 7, Time: now, Message: "waiting for group web"}))
		e, err := st.LastJobEvent(ctx, 7)
		require.NoError(t, err)
		require.Equal(t, "waiting for group web", e.Message)
	})
}
