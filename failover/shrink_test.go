package failover

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shrink deploys count slots on v1, then lowers the count to to (the manifest's address
// list shortened with it) and returns the harness set to the new count.
func shrinkHarness(t *testing.T, count, to int, release bool, keepOld time.Duration) *harness {
	t.Helper()
	h := newHarness(t, 31, fakeSpec(count, StrategyRolling, 1, 0))
	h.deploy()
	spec := fakeSpec(to, StrategyRolling, 1, 0)
	spec.ReleaseAddresses, spec.KeepOld = release, keepOld
	h.spec = spec
	h.cloud.mu.Lock()
	h.cloud.count, h.cloud.shrinkFrom = to, count
	h.cloud.mu.Unlock()
	return h
}

func (h *harness) fipCount() int {
	h.cloud.mu.Lock()
	defer h.cloud.mu.Unlock()
	return len(h.cloud.fips)
}

func TestShrinkRemovesTheHighestSlotsAndKeepsTheirAddresses(t *testing.T) {
	t.Parallel()
	h := shrinkHarness(t, 5, 3, false, 0)
	ctx := context.Background()
	p, err := h.executor(nil).Plan(ctx, v2, false)
	require.NoError(t, err)
	require.Contains(t, p.String(), "slot web-4: remove server")
	res, err := h.rollout(ctx, h.executor(nil), v2, false)
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Empty(t, h.violations())
	h.cloud.mu.Lock()
	require.Len(t, h.cloud.servers, 3, "servers: %v", h.serverNames())
	for _, fip := range h.cloud.fips {
		if fip.PortID == "" {
			continue
		}
		s := h.cloud.serverOnPort(fip.PortID)
		require.NotNil(t, s)
		require.Contains(t, []string{"0", "1", "2"}, s.Metadata[MetaSlot], "only kept slots serve")
	}
	h.cloud.mu.Unlock()
	require.Equal(t, 5, h.fipCount(), "the removed slots' addresses are kept")
	slots, err := h.store.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, slots, 3)

	// Raising the count again creates the slots as a first deploy does, on the addresses
	// kept for them.
	h.spec = fakeSpec(5, StrategyRolling, 1, 0)
	h.cloud.mu.Lock()
	h.cloud.count, h.cloud.shrinkFrom = 5, 0
	h.cloud.mu.Unlock()
	_, err = h.rollout(ctx, h.executor(nil), v2, false)
	require.NoError(t, err)
	h.assertConverged(v2)
}

func TestShrinkReleasesAddressesWhenAskedAndKeepsOldServers(t *testing.T) {
	t.Parallel()
	h := shrinkHarness(t, 4, 2, true, time.Hour)
	ctx := context.Background()
	_, err := h.rollout(ctx, h.executor(nil), v1, false) // same image: only the shrink
	require.NoError(t, err)
	require.Equal(t, 2, h.fipCount(), "released")
	h.cloud.mu.Lock()
	require.Len(t, h.cloud.servers, 4, "removed servers kept for keep_old")
	h.cloud.mu.Unlock()
	n, err := h.executor(nil).RetireExpired(ctx, time.Now().Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	h.assertConverged(v1)

	// A later raise allocates new addresses for the released slots.
	h.spec = fakeSpec(4, StrategyRolling, 1, 0)
	h.cloud.mu.Lock()
	h.cloud.count, h.cloud.shrinkFrom = 4, 0
	h.cloud.mu.Unlock()
	_, err = h.rollout(ctx, h.executor(nil), v1, false)
	require.NoError(t, err)
	h.assertConverged(v1)
}
