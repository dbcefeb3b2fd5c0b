package failover

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEmitSurvivesCancellation: the event that reports a stop is written after the
// stop cancelled ctx; it must still reach the store's event log.
func TestEmitSurvivesCancellation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1, fakeSpec(1, StrategyRolling, 1, 0))
	ex := h.executor(nil)
	ex.setRollout("r-cancelled")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ex.emit(ctx, Event{Slot: 0, Step: StateFailing, Message: "stopped by the user"})

	evs, err := h.store.Events(context.Background(), "r-cancelled")
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "stopped by the user", evs[0].Message)
	require.Len(t, h.events, 1, "forwarded to Options.Events too")
}
