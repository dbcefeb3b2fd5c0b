package failover

import (
	"context"
	"fmt"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// retireFirst is the unavailable mode's first step (StateRetiringFirst): the slot's
// address is taken off the old server, which drains and is then deleted, before its
// replacement is created.
func (e *Executor) retireFirst(ctx context.Context, r *run, st *store.Step) error {
	if st.AddressID != "" {
		// Never leave the address on a server that is going away: unassociate it first.
		oldPort, err := e.portOf(ctx, st.OldServerID)
		if err != nil && !openstack.IsNotFound(err) {
			return err
		}
		if oldPort != "" {
			off, err := e.moveAddress(ctx, st.AddressID, oldPort, "", nil)
			if err != nil {
				return err
			}
			r.setFIP(off)
			if err := e.wait(ctx, e.Drain); err != nil {
				return err
			}
		}
	}
	if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.OldServerID) }); err != nil {
		return fmt.Errorf("delete old server %s: %w", st.OldServerID, err)
	}
	if err := e.crashPoint("deleted old first"); err != nil {
		return err
	}
	st.NewServerName = e.replacementName(r, st)
	return e.enter(ctx, st, StateCreating, "", fmt.Sprintf("old server deleted; create %s from %s", st.NewServerName, r.rollout.ImageVersion))
}

// retire is the last step of a slot whose old server is not kept (StateRetiring): after
// the soak (and drain) the old server is deleted.
func (e *Executor) retire(ctx context.Context, r *run, st *store.Step) error {
	if err := e.wait(ctx, st.RetireAfter.Sub(e.now())); err != nil {
		return err
	}
	if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.OldServerID) }); err != nil {
		return fmt.Errorf("delete old server %s: %w", st.OldServerID, err)
	}
	if err := e.crashPoint("retired"); err != nil {
		return err
	}
	return e.enter(ctx, st, StateDone, st.NewServerID, "old server deleted")
}
