package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// StateRollingBack is written before a kept slot's address moves back to its old server.
const StateRollingBack = "rolling-back"

// ErrNothingToRollBack says the group's latest rollout kept no old server.
var ErrNothingToRollBack = errors.New("nothing to roll back")

// Rollback restores the servers the group's latest rollout kept for rollback: each
// slot's address moves back (revision-checked) to its old server, the slot records the
// old server again and the replacement is deleted. Slots whose old server is gone are
// reported and left alone. Rollback is itself resumable: a slot found "rolling-back"
// is finished.
func (e *Executor) Rollback(ctx context.Context) (Result, error) {
	start := e.now()
	ro, err := e.store.LatestRollout(ctx, e.spec.Group)
	if err != nil {
		if isNotFound(err) {
			return Result{}, fmt.Errorf("group %s: no rollout recorded: %w", e.spec.Group, ErrNothingToRollBack)
		}
		return Result{}, err
	}
	if ro.Status == store.RolloutRunning {
		return Result{}, fmt.Errorf("group %s: rollout %s is unfinished; resume it (remint rebuild %s --resume) before rolling back", e.spec.Group, ro.ID, e.spec.Group)
	}
	e.setRollout(ro.ID)
	r := &run{rollout: ro, ips: map[string]string{}}
	steps, err := e.store.Steps(ctx, ro.ID)
	if err != nil {
		return Result{}, err
	}
	var todo []*store.Step
	for i := range steps {
		if (steps[i].State == StateKept || steps[i].State == StateRollingBack) && Mode(steps[i].Mode) != ModeRemove {
			todo = append(todo, &steps[i])
		}
	}
	if len(todo) == 0 {
		return e.result(r, steps, start), fmt.Errorf("group %s: rollout %s kept no old server (keep_old is %s): %w", e.spec.Group, ro.ID, e.spec.KeepOld, ErrNothingToRollBack)
	}
	e.emit(ctx, Event{Slot: -1, Step: "rollback", Message: fmt.Sprintf("rolling back rollout %s: %d slots", ro.ID, len(todo))})
	var failed []string
	for _, st := range todo {
		if err := e.rollbackStep(ctx, r, st); err != nil {
			if ctx.Err() != nil {
				return e.result(r, steps, start), err
			}
			failed = append(failed, fmt.Sprintf("slot %s: %v", e.spec.slotName(st.Slot), err))
			e.emit(ctx, Event{Slot: st.Slot, Step: "rollback", Failed: true, Message: err.Error()})
		}
	}
	if len(failed) > 0 {
		return e.result(r, steps, start), fmt.Errorf("roll back group %s: %s", e.spec.Group, joinLines(failed))
	}
	if err := e.store.SetRolloutStatus(ctx, ro.ID, store.RolloutRolledBack, "", e.now()); err != nil {
		return e.result(r, steps, start), err
	}
	r.rollout.Status = store.RolloutRolledBack
	e.emit(ctx, Event{Slot: -1, Step: "rolled-back", Message: fmt.Sprintf("rollout %s rolled back", ro.ID)})
	return e.result(r, steps, start), nil
}

func (e *Executor) rollbackStep(ctx context.Context, r *run, st *store.Step) error {
	oldPort, err := e.portOf(ctx, st.OldServerID)
	if err != nil {
		return fmt.Errorf("old server %s is no longer there to go back to: %w", st.OldServerID, err)
	}
	if st.State != StateRollingBack {
		if err := e.enter(ctx, st, StateRollingBack, st.OldServerID, "moving back to the old server"); err != nil {
			return err
		}
	}
	if st.AddressID != "" {
		newPort, err := e.portOf(ctx, st.NewServerID)
		if err != nil && !openstack.IsNotFound(err) {
			return err
		}
		if _, err := e.moveAddress(ctx, st.AddressID, newPort, oldPort, nil); err != nil {
			return err
		}
		if err := e.wait(ctx, e.Drain); err != nil {
			return err
		}
	}
	if err := e.store.PutSlot(ctx, store.Slot{Group: e.spec.Group, Slot: st.Slot, ServerID: st.OldServerID,
		ImageVersion: st.OldImageVersion, Updated: e.now()}); err != nil {
		return err
	}
	if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.NewServerID) }); err != nil {
		return fmt.Errorf("delete replacement %s: %w", st.NewServerID, err)
	}
	return e.enter(ctx, st, StateRolledBack, st.OldServerID, "old server serving again; replacement deleted")
}

// RetireExpired deletes the old servers that the group's rollouts kept for rollback and
// whose keep-old time has passed at now. It returns how many it deleted.
func (e *Executor) RetireExpired(ctx context.Context, now time.Time) (int, error) {
	rollouts, err := e.store.Rollouts(ctx, e.spec.Group)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ro := range rollouts {
		if ro.Status != store.RolloutCompleted && ro.Status != store.RolloutFailed {
			continue
		}
		steps, err := e.store.Steps(ctx, ro.ID)
		if err != nil {
			return n, err
		}
		for i := range steps {
			st := &steps[i]
			if st.State != StateKept || now.Before(st.RetireAfter) {
				continue
			}
			e.setRollout(ro.ID)
			if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, st.OldServerID) }); err != nil {
				return n, fmt.Errorf("retire old server %s of slot %s: %w", st.OldServerID, e.spec.slotName(st.Slot), err)
			}
			if err := e.enter(ctx, st, StateDone, st.OldServerID, "keep-old time over; old server deleted"); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
