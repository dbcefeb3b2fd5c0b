package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/health"
	"github.com/remint-dev/remint/internal/store"
)

// AddressChecker verifies, through a failover address, that the address serves the
// expected server (the post-move health gate). HTTPGate implements it.
type AddressChecker interface {
	CheckAddress(ctx context.Context, address, serverID string) error
}

// gateCheck is StateGating: the address just moved; traffic through it must reach the
// replacement, healthy (Options.Gate, or the prober on the address), before the slot
// records the replacement.
func (e *Executor) gateCheck(ctx context.Context, r *run, st *store.Step) error {
	if e.spec.HealthGate && st.Address != "" {
		var err error
		switch {
		case e.Gate != nil:
			err = health.Wait(ctx, gateProber{e.Gate, st.NewServerID}, st.Address, e.GatePolicy, nil)
		case e.Prober != nil:
			// A prober of server ids (cloud) has nothing to send through the address.
			err = health.Wait(ctx, e.Prober, health.Target(e.Prober, st.NewServerID, st.Address), e.GatePolicy, nil)
		}
		if err != nil {
			return fmt.Errorf("health gate through %s: %w", st.Address, err)
		}
	}
	if err := e.checkAlarm(ctx, fmt.Sprintf("after %s moved", orNone(st.Address))); err != nil {
		return err
	}
	return e.settle(ctx, r, st)
}

// settle follows a slot's move: with a bake time the slot waits in StateBaking for its
// wave's bake (step_bake.go), otherwise the slot is recorded at once.
func (e *Executor) settle(ctx context.Context, r *run, st *store.Step) error {
	if e.spec.Bake > 0 {
		st.RetireAfter = e.now().Add(e.spec.Bake) // while baking: when the bake ends
		return e.enter(ctx, st, StateBaking, st.NewServerID, fmt.Sprintf("serving; baking %s before the next wave, old server kept", e.spec.Bake))
	}
	return e.afterMove(ctx, r, st)
}

// afterMove records the slot's new server and decides what happens to the old one.
func (e *Executor) afterMove(ctx context.Context, r *run, st *store.Step) error {
	if err := e.store.PutSlot(ctx, store.Slot{Group: e.spec.Group, Slot: st.Slot, ServerID: st.NewServerID, ServerName: st.NewServerName,
		ImageID: r.rollout.ImageID, ImageVersion: r.rollout.ImageVersion, Updated: e.now()}); err != nil {
		return err
	}
	oldGone := st.OldServerID == "" || Mode(st.Mode) == ModeUnavailable
	switch {
	case oldGone:
		return e.enter(ctx, st, StateDone, st.NewServerID, "serving")
	case e.spec.KeepOld > 0:
		st.RetireAfter = e.now().Add(max(e.spec.KeepOld, e.spec.Soak))
		return e.enter(ctx, st, StateKept, st.OldServerID, fmt.Sprintf("serving; old server kept for rollback until %s", st.RetireAfter.Format(time.RFC3339)))
	default:
		st.RetireAfter = e.now().Add(max(e.spec.Soak, e.Drain))
		return e.enter(ctx, st, StateRetiring, st.OldServerID, "serving; retiring the old server")
	}
}

// gateProber adapts an AddressChecker to health.Prober for health.Wait.
type gateProber struct {
	c        AddressChecker
	serverID string
}

func (g gateProber) Probe(ctx context.Context, address string) error {
	return g.c.CheckAddress(ctx, address, g.serverID)
}

func (g gateProber) String() string { return "gate for server " + shortID(g.serverID) }
