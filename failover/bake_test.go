package failover

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// bakeHarness deploys a 3-slot rolling group (surge 1: three waves) with a bake and
// returns an executor whose events can break v2 behind its addresses when wave
// breakAt starts baking (0: never).
func bakeHarness(t *testing.T, all bool, breakAt string) (*harness, *Executor) {
	t.Helper()
	spec := fakeSpec(3, StrategyRolling, 1, 0)
	spec.Bake, spec.RollbackAll = 20*time.Millisecond, all
	h := newHarness(t, 21, spec)
	h.deploy()
	ex := h.executor(nil)
	events := ex.Events
	ex.Events = func(ev Event) {
		events(ev)
		if breakAt != "" && ev.Slot < 0 && ev.Step == StateBaking && strings.HasPrefix(ev.Message, breakAt+": baking") {
			h.cloud.mu.Lock()
			h.cloud.gateFails[v2.ImageID] = true
			h.cloud.mu.Unlock()
		}
	}
	return h, ex
}

func TestBakeHoldsTheNextWaveAndTheOldServers(t *testing.T) {
	t.Parallel()
	h, ex := bakeHarness(t, false, "")
	res, err := h.rollout(context.Background(), ex, v2, false)
	require.NoError(t, err)
	require.True(t, res.OK())
	h.assertConverged(v2)
	require.Empty(t, h.violations())
	// Wave 2 creates only after wave 1's bake ended, and wave 1's old server is retired
	// only after it too.
	var bakeStart, wave2Create, slot0Retire time.Time
	for _, ev := range h.events {
		switch {
		case ev.Slot < 0 && ev.Step == StateBaking && strings.HasPrefix(ev.Message, "wave 1: baking") && bakeStart.IsZero():
			bakeStart = ev.Time
		case ev.Slot == 1 && ev.Step == StateCreating && wave2Create.IsZero() && ev.Rollout == res.Rollout:
			wave2Create = ev.Time
		case ev.Slot == 0 && ev.Step == StateRetiring && ev.Rollout == res.Rollout:
			slot0Retire = ev.Time
		}
	}
	require.False(t, bakeStart.IsZero(), "wave 1 baked")
	require.GreaterOrEqual(t, wave2Create.Sub(bakeStart), 20*time.Millisecond, "wave 2 waited for the bake")
	require.GreaterOrEqual(t, slot0Retire.Sub(bakeStart), 20*time.Millisecond, "the old server outlived the bake")
}

func TestBakeFailureRollsBackTheWave(t *testing.T) {
	t.Parallel()
	h, ex := bakeHarness(t, false, "wave 2")
	res, err := h.rollout(context.Background(), ex, v2, false)
	require.ErrorContains(t, err, "wave 2 failed its bake: slot web-1")
	require.Equal(t, store.RolloutFailed, res.Status)
	h.assertConsistent()
	require.Empty(t, h.violations())
	// Wave 1 stays on v2, wave 2 went back to v1, wave 3 never started.
	slots, err := h.store.Slots(context.Background(), "web")
	require.NoError(t, err)
	got := map[int]string{}
	for _, sl := range slots {
		got[sl.Slot] = sl.ImageVersion
	}
	require.Equal(t, map[int]string{0: v2.Version, 1: v1.Version, 2: v1.Version}, got)
	require.Contains(t, res.Slots[1].Error, "rolled back")
}

func TestBakeFailureRollsBackEveryWaveWithAll(t *testing.T) {
	t.Parallel()
	h, ex := bakeHarness(t, true, "wave 2")
	_, err := h.rollout(context.Background(), ex, v2, false)
	require.ErrorContains(t, err, "wave 2 failed its bake")
	// Wave 1 baked and was kept baking (its old server alive): it went back too.
	h.assertConverged(v1)
	require.Empty(t, h.violations())
}
