package failover

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

// A maintenance window that closes mid-rollout: the slot under way finishes, no new slot
// starts, the rollout stays running with what is left named, and the next run (without a
// deadline) resumes and finishes it. The clock is injected: the window "closes" when the
// second slot starts.
func TestRolloutStopsWhenTheWindowCloses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		strategy string
		surge    int
		closeAt  int // the slot whose first event closes the window
		done     int
		left     []string
	}{
		{"rolling", StrategyRolling, 1, 1, 2, []string{"web-2", "web-3"}},
		{"waves", StrategyRolling, 2, 0, 2, []string{"web-2", "web-3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := fakeSpec(4, tt.strategy, tt.surge, 0)
			if tt.name == "waves" {
				spec.Bake = time.Millisecond // waves of 2, one after the other
			}
			h := newHarness(t, 1, spec)
			h.deploy()

			var mu sync.Mutex
			offset := time.Duration(0)
			deadline := time.Now().Add(10 * time.Minute)
			ex := h.executor(nil)
			ex.Deadline = deadline
			// Only the window's clock jumps: the boot watcher's estimates stay true.
			ex.windowNow = func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return time.Now().Add(offset)
			}
			events := ex.Events
			ex.Events = func(e Event) {
				if e.Slot == tt.closeAt {
					mu.Lock()
					offset = 11 * time.Minute // the window closes while this slot is under way
					mu.Unlock()
				}
				events(e)
			}
			_, id, err := ex.Prepare(context.Background(), v2, false)
			require.NoError(t, err)
			res, err := ex.Run(context.Background(), id)
			var de *DeadlineError
			require.ErrorAs(t, err, &de)
			require.ErrorIs(t, err, ErrDeadline)
			require.Equal(t, tt.done, de.Done, "%v", err)
			require.Equal(t, 4, de.Total)
			require.Equal(t, tt.left, de.Left)
			require.Contains(t, err.Error(), "maintenance window closed at "+deadline.UTC().Format(time.RFC3339)+": 2 of 4 slots replaced; left: web-2, web-3; the next run resumes the rollout")
			ro, err := h.store.GetRollout(context.Background(), id)
			require.NoError(t, err)
			require.Equal(t, store.RolloutRunning, ro.Status, "resumable")
			require.Equal(t, store.RolloutRunning, res.Status)
			h.mu.Lock()
			closed := false
			for _, e := range h.events {
				closed = closed || e.Step == "window-closed"
			}
			h.mu.Unlock()
			require.True(t, closed, "a window-closed event says what is left")
			require.Empty(t, h.violations())

			// The next run resumes the rollout and finishes it.
			next, err := h.rollout(context.Background(), h.executor(nil), v2, false)
			require.NoError(t, err)
			require.Equal(t, id, next.Rollout)
			require.True(t, next.OK())
			h.assertConverged(v2)
			require.False(t, errors.Is(err, ErrDeadline))
		})
	}
}
