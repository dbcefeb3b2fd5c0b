package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
)

// The store on PostgreSQL: migrations translate, queries rebind, rollouts and steps round
// trip, and of many concurrent lease acquisitions exactly one wins.
func TestStoreOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := pgtest.Start(t)
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer st.Close()
	require.True(t, st.Postgres())
	again, err := store.Open(ctx, dsn) // migrations are applied once
	require.NoError(t, err)
	defer again.Close()

	now := time.Now().UTC()
	require.NoError(t, st.CreateRollout(ctx, store.Rollout{ID: "r1", Group: "web", ImageID: "i", ImageVersion: "2026.11.1", Strategy: "rolling",
		Status: store.RolloutRunning, Plan: []byte(`{}`), Created: now, Updated: now},
		[]store.Step{{Slot: 0, State: "pending", Updated: now}, {Slot: 1, State: "pending", Updated: now}}))
	r, err := again.UnfinishedRollout(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, "r1", r.ID)
	steps, err := again.Steps(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.NoError(t, st.AppendJobEvent(ctx, store.JobEvent{JobID: 7, Time: now, Message: "hello"}))
	evs, err := again.JobEvents(ctx, 7)
	require.NoError(t, err)
	require.Len(t, evs, 1)

	var wg sync.WaitGroup
	var mu sync.Mutex
	won, held := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := st
			if i%2 == 1 {
				s = again
			}
			_, err := s.AcquireLease(ctx, "group/web", store.LeaseHolder{Host: "h", PID: i}, time.Minute, time.Now())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrLeaseHeld):
				held++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, won)
	require.Equal(t, 7, held)
}
