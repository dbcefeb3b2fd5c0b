package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRolloutLifecycleSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state dir", "remint.db")
	require.NoError(t, mkdirFor(path))
	s, err := Open(ctx, path)
	require.NoError(t, err)

	now := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	r := Rollout{ID: "r1", Group: "web", ImageID: "img", ImageVersion: "2026.11.1", Strategy: "rolling", Status: RolloutRunning, Plan: []byte(`{"x":1}`), Created: now, Updated: now}
	steps := []Step{{Slot: 0, Wave: 1, Mode: "surge", State: "pending", OldServerID: "a"}, {Slot: 1, Wave: 2, Mode: "surge", State: "pending"}}
	require.NoError(t, s.CreateRollout(ctx, r, steps))

	st := steps[1]
	st.RolloutID = "r1"
	st.State = "creating"
	st.NewServerName = "web-1-r1"
	st.RetireAfter = now.Add(time.Hour)
	require.NoError(t, s.PutStep(ctx, st))
	require.NoError(t, s.AppendEvent(ctx, Event{RolloutID: "r1", Group: "web", Time: now, Slot: 1, Step: "creating", Message: "create web-1-r1"}))
	require.NoError(t, s.PutSlot(ctx, Slot{Group: "web", Slot: 0, ServerID: "a", ImageVersion: "2026.10.1", Updated: now}))
	require.NoError(t, s.PutAddress(ctx, Address{Group: "web", Slot: 0, AllocatedFrom: "public", Description: "remint web-0 x", Created: now}))
	require.NoError(t, s.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, len(migrations), v)

	got, err := s.UnfinishedRollout(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, "r1", got.ID)
	require.Equal(t, `{"x":1}`, string(got.Plan))
	require.True(t, got.Created.Equal(now))

	gotSteps, err := s.Steps(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, gotSteps, 2)
	require.Equal(t, "pending", gotSteps[0].State)
	require.Equal(t, "creating", gotSteps[1].State)
	require.Equal(t, "web-1-r1", gotSteps[1].NewServerName)
	require.True(t, gotSteps[1].RetireAfter.Equal(now.Add(time.Hour)))

	ev, err := s.Events(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, ev, 1)
	require.Equal(t, 1, ev[0].Slot)

	slots, err := s.Slots(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, []Slot{{Group: "web", Slot: 0, ServerID: "a", ImageVersion: "2026.10.1", Updated: now}}, slots)

	addrs, err := s.Addresses(ctx, "web")
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	require.Equal(t, "remint web-0 x", addrs[0].Description)

	require.NoError(t, s.SetRolloutStatus(ctx, "r1", RolloutCompleted, "", now.Add(time.Minute)))
	_, err = s.UnfinishedRollout(ctx, "web")
	require.True(t, errors.Is(err, ErrNotFound), "got %v", err)
	latest, err := s.LatestRollout(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, RolloutCompleted, latest.Status)
	require.True(t, errors.Is(s.SetRolloutStatus(ctx, "nope", RolloutFailed, "", now), ErrNotFound))

	require.NoError(t, s.DeleteSlot(ctx, "web", 0))
	slots, err = s.Slots(ctx, "web")
	require.NoError(t, err)
	require.Empty(t, slots)
}

func TestInMemoryAndConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer s.Close()
	now := time.Now()
	require.NoError(t, s.CreateRollout(ctx, Rollout{ID: "r", Group: "g", Status: RolloutRunning, Created: now, Updated: now}, nil))
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			errs <- s.PutStep(ctx, Step{RolloutID: "r", Slot: i, Mode: "surge", State: "pending", Updated: now})
		}()
	}
	for range 20 {
		require.NoError(t, <-errs)
	}
	steps, err := s.Steps(ctx, "r")
	require.NoError(t, err)
	require.Len(t, steps, 20)
}

func mkdirFor(path string) error { return os.MkdirAll(filepath.Dir(path), 0o755) }
