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

// A rebuild killed mid-slot and resumed after its maintenance window closed finishes the
// slot that was under way (its replacement is not left booted and unused, the slot not
// left short) but starts nothing new: no other slot, no removal, no new rollout. It stops
// with a DeadlineError naming what is left, and the next run without a window converges.
func TestRebuildResumedAfterTheWindowFinishesOnlyWhatWasUnderWay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		count   int // deployed on v1
		to      int // count of the rebuild onto v2
		slot    *int
		crashAt int // crash after the crashAt-th replacement became healthy
		rollout bool
		done    int
		left    []string
	}{
		// The rollout resumes: slot 0 finishes, web-1 and web-2 wait.
		{name: "rollout", count: 3, to: 3, crashAt: 1, rollout: true, done: 1, left: []string{"web-1", "web-2"}},
		// The rollout of slot 0 alone finishes; the group's other slots need a new rollout,
		// which does not start.
		{name: "slot-then-group", count: 3, to: 3, slot: new(0), crashAt: 1, done: 0, left: []string{"web-1", "web-2"}},
		// The last replacement finishes; the removal of the slot a lowered count left
		// over does not start.
		{name: "removal", count: 3, to: 2, crashAt: 2, rollout: true, done: 2, left: []string{"web-2 (removal)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t, 41, fakeSpec(tt.count, StrategyRolling, 1, 0))
			h.deploy()
			if tt.to != tt.count {
				h.spec = fakeSpec(tt.to, StrategyRolling, 1, 0)
				h.cloud.mu.Lock()
				h.cloud.count, h.cloud.shrinkFrom = tt.to, tt.count
				h.cloud.mu.Unlock()
			}

			// kill -9 while a replacement is healthy and its address not yet moved.
			d := h.deps("a")
			healthy := 0
			d.crash = func(point string) error {
				if point == "after "+StateHealthy {
					if healthy++; healthy == tt.crashAt {
						return errCrash
					}
				}
				return nil
			}
			_, err := Rebuild(ctx, d, RebuildRequest{Image: v2.Version, Slot: tt.slot})
			require.ErrorIs(t, err, errCrash)
			killed, err := h.store.UnfinishedRollout(ctx, "web")
			require.NoError(t, err)
			steps, err := h.store.Steps(ctx, killed.ID)
			require.NoError(t, err)
			var underway *store.Step
			for i := range steps {
				if steps[i].State == StateHealthy {
					underway = &steps[i]
				}
			}
			require.NotNil(t, underway, "a slot is under way: %+v", steps)

			// Resumed after the window closed.
			d = h.deps("b")
			d.Deadline = time.Now().Add(-time.Minute)
			res, err := Rebuild(ctx, d, RebuildRequest{Image: v2.Version})
			var de *DeadlineError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tt.left, de.Left, "%v", err)
			require.Equal(t, tt.done, de.Done, "%v", err)
			require.NotNil(t, res.Resumed)
			require.Nil(t, res.Rollout, "no new rollout ran")
			require.Nil(t, res.Plan, "nor was one planned")
			var slot *SlotResult
			for i, s := range res.Resumed.Slots {
				if s.Slot == underway.Slot {
					slot = &res.Resumed.Slots[i]
				}
			}
			require.NotNil(t, slot)
			require.Equal(t, StateDone, slot.State, "the slot under way finished")
			require.Equal(t, underway.NewServerID, slot.NewServerID)
			cur, err := h.store.Slots(ctx, "web")
			require.NoError(t, err)
			for _, sl := range cur {
				if sl.Slot == underway.Slot {
					require.Equal(t, underway.NewServerID, sl.ServerID, "the slot records its replacement")
				}
			}
			h.assertConsistent() // every recorded server healthy behind its address, no orphan
			require.Empty(t, h.violations())

			ro, err := h.store.UnfinishedRollout(ctx, "web")
			if tt.rollout {
				require.NoError(t, err)
				require.Equal(t, killed.ID, ro.ID, "the killed rollout stays running, to resume")
				require.Equal(t, killed.ID, de.Rollout)
				require.Contains(t, de.Error(), "the next run resumes the rollout "+killed.ID)
			} else {
				require.Error(t, err, "no new rollout was recorded: %+v", ro)
				require.Empty(t, de.Rollout)
				require.Contains(t, de.Error(), "no rollout started; the next run replaces them")
			}

			// The next run, without a window, converges.
			_, err = Rebuild(ctx, h.deps("c"), RebuildRequest{Image: v2.Version})
			require.NoError(t, err)
			if tt.to == tt.count {
				h.assertConverged(v2)
			} else {
				// A shrink keeps the removed slot's address: the rest as converged.
				h.assertConsistent()
				cur, err := h.store.Slots(ctx, "web")
				require.NoError(t, err)
				require.Len(t, cur, tt.to)
			}
			require.Empty(t, h.violations())
		})
	}
}

// A forced rebuild killed halfway and run again as the same request (a job's next
// attempt): resuming its own rollout completes the request; the servers are not all
// replaced a second time. Run again as a new request (no Earlier), --force still means
// replace everything.
func TestForcedRebuildResumedIsNotRepeated(t *testing.T) {
	t.Parallel()
	for _, again := range []bool{false, true} {
		t.Run(map[bool]string{false: "same request", true: "new request"}[again], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness(t, 43, fakeSpec(3, StrategyRolling, 1, 0))
			h.deploy()
			d := h.deps("a")
			healthy := 0
			d.crash = func(point string) error {
				if point == "after "+StateHealthy {
					if healthy++; healthy == 1 {
						return errCrash
					}
				}
				return nil
			}
			_, err := Rebuild(ctx, d, RebuildRequest{Image: v1.Version, Force: true})
			require.ErrorIs(t, err, errCrash)
			killed, err := h.store.UnfinishedRollout(ctx, "web")
			require.NoError(t, err)

			req := RebuildRequest{Image: v1.Version, Force: true, Earlier: []string{killed.ID}}
			if again {
				req.Earlier = nil
			}
			h.cloud.mu.Lock()
			before := h.cloud.nextID
			h.cloud.mu.Unlock()
			res, err := Rebuild(ctx, h.deps("b"), req)
			require.NoError(t, err)
			require.NotNil(t, res.Resumed)
			require.Equal(t, killed.ID, res.Resumed.Rollout)
			h.cloud.mu.Lock()
			created := h.cloud.nextID - before
			h.cloud.mu.Unlock()
			if again {
				require.NotNil(t, res.Rollout, "a new forced request replaces every server again")
				require.Equal(t, 2+3, created)
			} else {
				require.Nil(t, res.Rollout, "the request's own rollout did the forced replacement")
				require.Equal(t, 2, created, "only the slots the killed attempt had not reached")
				found := false
				for _, e := range res.Events {
					found = found || e.Step == "forced-done"
				}
				require.True(t, found, "an event says why no second rollout")
			}
			h.assertConverged(v1)
			require.Empty(t, h.violations())
		})
	}
}
