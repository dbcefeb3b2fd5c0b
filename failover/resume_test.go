package failover

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// TestCrashAtEveryPointResumes kills the executor at every crash point of a rollout in
// turn (after each store write and after each cloud call, like kill -9 between any two
// lines that matter), then runs a fresh executor on the same store and cloud. The resumed
// rollout must finish with every slot on the target behind its address, nothing orphaned,
// no address allocated twice, and no invariant broken at any moment.
func TestCrashAtEveryPointResumes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		spec Spec
	}{
		{"rolling-3", fakeSpec(3, StrategyRolling, 1, 0)},
		{"rolling-4-surge2", fakeSpec(4, StrategyRolling, 2, 0)},
		{"rolling-3-unavail1", fakeSpec(3, StrategyRolling, 0, 1)},
		{"bluegreen-3", fakeSpec(3, StrategyBlueGreen, 1, 0)},
		{"rolling-3-bake", withBake(fakeSpec(3, StrategyRolling, 1, 0), 3*time.Millisecond, false)},
		{"rolling-4-surge2-bake-all", withBake(fakeSpec(4, StrategyRolling, 2, 0), 3*time.Millisecond, true)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			points := 0
			for k := 1; k < 500; k++ {
				h := newHarness(t, uint64(k), tt.spec)
				h.deploy()
				crashed, where := crashAt(k)
				_, err := h.rollout(context.Background(), h.executor(crashed), v2, false)
				if where() == "" {
					require.NoError(t, err, "no crash at %d: the rollout must complete", k)
					h.assertConverged(v2)
					points = k - 1
					break
				}
				require.ErrorIs(t, err, errCrash, "crash %d at %s", k, where())
				res, err := h.rollout(context.Background(), h.executor(nil), v2, false)
				require.NoError(t, err, "resume after crash %d at %s", k, where())
				require.True(t, res.OK())
				h.assertConverged(v2)
				if tt.spec.MaxUnavailable == 0 {
					require.Empty(t, h.violations(), "crash %d at %s", k, where())
				}
			}
			require.Greater(t, points, 10, "crash points exercised")
			t.Logf("%s: resumed after a crash at each of %d points", tt.name, points)
		})
	}
}

// TestCrashWhileFailingResumesCleanup crashes a rollout whose replacement is unhealthy
// at every point; the resumed run must end failed with the old servers serving and the
// replacement gone.
func TestCrashWhileFailingResumesCleanup(t *testing.T) {
	t.Parallel()
	for k := 1; k < 200; k++ {
		h := newHarness(t, uint64(k), fakeSpec(2, StrategyRolling, 1, 0))
		h.deploy()
		h.cloud.mu.Lock()
		h.cloud.gateFails[v2.ImageID] = true
		h.cloud.mu.Unlock()
		crashed, where := crashAt(k)
		_, err := h.rollout(context.Background(), h.executor(crashed), v2, false)
		if where() == "" {
			require.Error(t, err)
			h.assertConverged(v1)
			return
		}
		require.ErrorIs(t, err, errCrash)
		res, err := h.rollout(context.Background(), h.executor(nil), v2, false)
		require.Error(t, err, "crash %d at %s", k, where())
		require.Equal(t, store.RolloutFailed, res.Status)
		h.assertConverged(v1)
		require.Empty(t, h.violations())
	}
	t.Fatal("the rollout never ran out of crash points")
}

// crashAt returns a crash hook that fails at the k-th crash point, and a function
// telling where it crashed ("" if it never did).
func crashAt(k int) (func(string) error, func() string) {
	var mu sync.Mutex
	n, where := 0, ""
	return func(point string) error {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == k {
				where = point
				return errCrash
			}
			return nil
		}, func() string {
			mu.Lock()
			defer mu.Unlock()
			return where
		}
}

// TestCrashDuringFirstDeploy crashes the first deploy of a group (servers created,
// addresses allocated from a network) at every point; after the resume every slot has
// one server behind its own address and no address was allocated twice.
func TestCrashDuringFirstDeploy(t *testing.T) {
	t.Parallel()
	for k := 1; k < 300; k++ {
		h := newHarness(t, uint64(k), fakeSpec(2, StrategyRolling, 1, 0))
		crashed, where := crashAt(k)
		_, err := h.rollout(context.Background(), h.executor(crashed), v1, false)
		if where() == "" {
			require.NoError(t, err)
			h.assertConverged(v1)
			require.Greater(t, k, 10)
			return
		}
		require.ErrorIs(t, err, errCrash, "crash %d at %s", k, where())
		res, err := h.rollout(context.Background(), h.executor(nil), v1, false)
		require.NoError(t, err, "resume after crash %d at %s", k, where())
		require.True(t, res.OK())
		h.assertConverged(v1) // includes: exactly one floating IP per slot
	}
	t.Fatal("the first deploy never ran out of crash points")
}

func withBake(s Spec, bake time.Duration, all bool) Spec {
	s.Bake, s.RollbackAll = bake, all
	return s
}
