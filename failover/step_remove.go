package failover

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// AddressReleaser gives a floating IP back to the pool: a shrink with
// release_addresses: true consumes it.
type AddressReleaser interface {
	// ReleaseFloatingIP deletes a floating IP; one already gone is success.
	ReleaseFloatingIP(ctx context.Context, id string) error
}

// StateRemoving is written before a slot beyond a lowered count is taken apart.
const StateRemoving = "removing"

// runRemovals removes the slots a lowered count left over, once every replacement of
// the rollout succeeded: the highest slots go, all at once (they are no longer part of
// the group's capacity).
func (e *Executor) runRemovals(ctx context.Context, cancel context.CancelCauseFunc, r *run, steps []store.Step) []string {
	var todo []*store.Step
	for i := range steps {
		if Mode(steps[i].Mode) == ModeRemove && !terminalState(steps[i].State) {
			todo = append(todo, &steps[i])
		}
	}
	pending := slices.ContainsFunc(todo, func(st *store.Step) bool { return st.State == StatePending })
	if pending && r.deadline.passed() {
		// The window closed: only removals already under way finish.
		todo = slices.DeleteFunc(todo, func(st *store.Step) bool { return st.State == StatePending })
	}
	if len(todo) == 0 {
		return nil
	}
	e.emit(ctx, Event{Slot: -1, Step: "shrink", Message: fmt.Sprintf("count lowered to %d: removing %d slots", e.spec.Count, len(todo))})
	errs := e.parallel(ctx, cancel, todo, func(ctx context.Context, st *store.Step) error { return e.advance(ctx, r, st, "") })
	if context.Cause(ctx) != nil {
		return nil
	}
	return failures(e.spec, todo, errs)
}

// remove is StateRemoving: every floating IP on the slot's server is taken off it
// (revision-checked) and the server drains; with release_addresses the addresses remint
// allocated for the slot are released (the record goes back to an intent, so a later
// raise allocates afresh), otherwise they stay recorded for the slot; the slot is
// forgotten; the server is deleted, or kept for keep_old and deleted by RetireExpired.
// Every part is idempotent, so a resumed removal simply runs again.
func (e *Executor) remove(ctx context.Context, r *run, st *store.Step) error {
	port, err := e.portOf(ctx, st.OldServerID)
	if err != nil && !openstack.IsNotFound(err) {
		return err
	}
	if port != "" {
		var fips []openstack.FloatingIP
		err := e.do(ctx, func(ctx context.Context) (err error) {
			fips, err = e.cloud.ListFloatingIPs(ctx, openstack.ListFloatingIPsOpts{PortID: port})
			return err
		})
		if err != nil {
			return fmt.Errorf("list floating IPs of server %s: %w", st.OldServerID, err)
		}
		moved := false
		for _, f := range fips {
			if f.PortID != port {
				continue
			}
			if _, err := e.moveAddress(ctx, f.ID, port, "", &f); err != nil {
				return fmt.Errorf("take %s off server %s: %w", f.Address, st.OldServerID, err)
			}
			moved = true
		}
		if moved {
			if err := e.wait(ctx, e.Drain); err != nil {
				return err
			}
		}
	}
	if err := e.crashPoint("unassociated for removal"); err != nil {
		return err
	}
	kept := "kept recorded for a later raise"
	if e.spec.ReleaseAddresses {
		kept = "released"
		recs, err := e.store.Addresses(ctx, e.spec.Group)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.Slot != st.Slot || rec.AllocatedFrom == "" || rec.ID == "" {
				continue // not this slot's, or named by the manifest, or never allocated
			}
			if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.ReleaseFloatingIP(ctx, rec.ID) }); err != nil {
				return fmt.Errorf("release floating IP %s of slot %s: %w", rec.Address, e.spec.slotName(st.Slot), err)
			}
			rec.ID, rec.Address = "", ""
			rec.Description = fmt.Sprintf("remint %s failover %s", e.spec.slotName(st.Slot), randomHex(4))
			if err := e.store.PutAddress(ctx, rec); err != nil {
				return err
			}
		}
	}
	if err := e.store.DeleteSlot(ctx, e.spec.Group, st.Slot); err != nil {
		return err
	}
	if err := e.crashPoint("slot forgotten"); err != nil {
		return err
	}
	if e.spec.KeepOld > 0 {
		st.RetireAfter = e.now().Add(e.spec.KeepOld)
		return e.enter(ctx, st, StateKept, st.OldServerID, fmt.Sprintf("slot removed (address %s); server kept until %s", kept, st.RetireAfter.Format(time.RFC3339)))
	}
	if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.OldServerID) }); err != nil {
		return fmt.Errorf("delete server %s of removed slot %s: %w", st.OldServerID, e.spec.slotName(st.Slot), err)
	}
	return e.enter(ctx, st, StateDone, st.OldServerID, fmt.Sprintf("slot removed (address %s); server deleted", kept))
}
