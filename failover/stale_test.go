package failover

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
)

func TestStatusOfAHealthyGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1, fakeSpec(3, StrategyRolling, 1, 0))
	ctx := context.Background()
	ex := h.executor(nil)

	// Before the first deploy: three empty slots, nothing missing, JSON lists not null.
	st, err := ex.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st.Slots, 3)
	require.Empty(t, st.Slots[0].ServerID)
	require.NoError(t, st.Stale())
	raw, err := json.Marshal(st)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"missing":[]`)

	h.deploy()
	st, err = h.executor(nil).Status(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Stale())
	require.Equal(t, "completed", st.RolloutStatus)
	for _, sl := range st.Slots {
		require.Equal(t, "ACTIVE", sl.Status)
		require.Equal(t, AddressOnServer, sl.AddressOn)
		require.Equal(t, "healthy", sl.Health)
		require.NotEmpty(t, sl.Address)
		require.NotEmpty(t, sl.FixedIP)
		require.Equal(t, v1.Version, sl.ImageVersion)
	}

	// An address moved away from its slot's server shows as "none".
	fip := h.cloud.fips[mustAddressID(t, h, 1)]
	fip.PortID, fip.FixedIP = "", ""
	st, err = h.executor(nil).Status(ctx)
	require.NoError(t, err)
	require.Equal(t, AddressOnNone, st.Slots[1].AddressOn)
}

func mustAddressID(t *testing.T, h *harness, slot int) string {
	t.Helper()
	recs, err := h.store.Addresses(context.Background(), h.spec.Group)
	require.NoError(t, err)
	for _, r := range recs {
		if r.Slot == slot {
			return r.ID
		}
	}
	t.Fatalf("no address recorded for slot %d", slot)
	return ""
}

// TestCheckRecordedAndForget: servers and floating IPs deleted behind remint's back are
// named per slot; Forget drops exactly those records and touches nothing in the cloud.
func TestCheckRecordedAndForget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2, fakeSpec(3, StrategyRolling, 1, 0))
	ctx := context.Background()
	h.deploy()
	ex := h.executor(nil)
	missing, err := ex.CheckRecorded(ctx)
	require.NoError(t, err)
	require.Empty(t, missing)

	slots, err := h.store.Slots(ctx, "web")
	require.NoError(t, err)
	require.NoError(t, h.cloud.DeleteServer(ctx, slots[0].ServerID)) // slot 0: server gone
	gone := mustAddressID(t, h, 2)
	delete(h.cloud.fips, gone) // slot 2: address gone
	servers, fips := len(h.cloud.servers), len(h.cloud.fips)

	err = ex.RequireRecorded(ctx)
	require.ErrorIs(t, err, ErrStaleState)
	var stale *StaleStateError
	require.ErrorAs(t, err, &stale)
	require.Equal(t, []Missing{
		{Slot: 0, Name: "web-0", ServerID: slots[0].ServerID, ServerName: slots[0].ServerName},
		{Slot: 2, Name: "web-2", AddressID: gone, Address: stale.Missing[1].Address},
	}, stale.Missing)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, "  web-0: recorded server "+slots[0].ServerName+" ("+slots[0].ServerID+") no longer exists", lines[1])
	require.Contains(t, lines[2], "  web-2: recorded floating IP ")
	require.Contains(t, lines[3], "remint group forget web")

	st, err := ex.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, "MISSING", st.Slots[0].Status)
	require.Equal(t, AddressOnMissing, st.Slots[2].AddressOn)
	require.ErrorIs(t, st.Stale(), ErrStaleState)

	forgotten, err := ex.Forget(ctx, false)
	require.NoError(t, err)
	require.Len(t, forgotten, 2)
	require.Equal(t, "forgot server "+slots[0].ServerName+" ("+slots[0].ServerID+"): no longer exists", forgotten[0].String())
	require.Equal(t, "address", forgotten[1].Kind)
	require.True(t, forgotten[1].Missing)
	require.NoError(t, ex.RequireRecorded(ctx))
	require.Len(t, h.cloud.servers, servers, "forget deletes nothing")
	require.Len(t, h.cloud.fips, fips)
	slotsAfter, err := h.store.Slots(ctx, "web")
	require.NoError(t, err)
	require.Len(t, slotsAfter, 2)

	// The next rebuild fills the forgotten slot and allocates a new address.
	_, err = h.rollout(ctx, h.executor(nil), v2, false)
	require.NoError(t, err)
	require.NoError(t, h.executor(nil).RequireRecorded(ctx))
	require.NotEqual(t, gone, mustAddressID(t, h, 2))
}

func TestForgetAllAbandonsAnUnfinishedRollout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 3, fakeSpec(2, StrategyRolling, 1, 0))
	ctx := context.Background()
	h.deploy()
	_, id, err := h.executor(nil).Prepare(ctx, v2, false)
	require.NoError(t, err)
	_, err = h.executor(func(p string) error {
		if strings.HasPrefix(p, "after "+StateBooting) {
			return errCrash
		}
		return nil
	}).Run(ctx, id)
	require.Error(t, err)
	_, err = h.store.UnfinishedRollout(ctx, "web")
	require.NoError(t, err, "the rollout is unfinished")

	forgotten, err := h.executor(nil).Forget(ctx, true)
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, f := range forgotten {
		kinds[f.Kind]++
	}
	require.Equal(t, map[string]int{"server": 2, "address": 2, "rollout": 1}, kinds)
	_, err = h.store.UnfinishedRollout(ctx, "web")
	require.ErrorIs(t, err, store.ErrNotFound)
	r, err := h.store.GetRollout(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.RolloutFailed, r.Status)
	slots, err := h.store.Slots(ctx, "web")
	require.NoError(t, err)
	require.Empty(t, slots)
}

// TestRetiredFirstIsNotStale: in unavailable mode a slot's old server is deleted before
// its replacement is recorded; a crash in between leaves a record of a server that is
// gone on purpose, which the resume must be allowed to finish.
func TestRetiredFirstIsNotStale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 4, fakeSpec(2, StrategyRolling, 0, 1))
	ctx := context.Background()
	h.deploy()
	_, id, err := h.executor(nil).Prepare(ctx, v2, false)
	require.NoError(t, err)
	_, err = h.executor(func(p string) error {
		if p == "deleted old first" {
			return errCrash
		}
		return nil
	}).Run(ctx, id)
	require.ErrorIs(t, err, errCrash)
	missing, err := h.executor(nil).CheckRecorded(ctx)
	require.NoError(t, err)
	require.Empty(t, missing)
	_, err = h.executor(nil).Run(ctx, id)
	require.NoError(t, err)
	h.assertConverged(v2)
}
