package failover

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/remint-dev/remint/internal/openstack"
	"github.com/remint-dev/remint/internal/store"
)

// fail records why the step failed and cleans up: the address goes back to the old
// server if it had moved, the replacement is deleted.
func (e *Executor) fail(ctx context.Context, r *run, st *store.Step, cause error) error {
	st.Error = cause.Error()
	if err := e.enterFailed(ctx, st, StateFailing, st.NewServerID, "failed: "+st.Error); err != nil {
		return err
	}
	if err := e.cleanup(ctx, r, st); err != nil {
		// The cleanup's failure is said once, in its own event (unless the process is
		// stopping); the step stays failing, so a resume cleans up again.
		if ctx.Err() == nil && !errors.Is(err, errCrash) {
			e.emit(ctx, Event{Slot: st.Slot, Server: st.NewServerID, Step: StateFailing, Failed: true, Message: "cleaning up failed: " + err.Error()})
		}
		return cleanupError{cause: cause, cleanup: err}
	}
	return cause
}

// cleanupError is a step's failure whose cleanup failed too. It reads as the cause
// alone (the cleanup's error was an event of its own, and often repeats the cause) and
// unwraps to both.
type cleanupError struct{ cause, cleanup error }

func (e cleanupError) Error() string   { return e.cause.Error() }
func (e cleanupError) Unwrap() []error { return []error{e.cause, e.cleanup} }

// cleanup undoes a failed step: the address back to the old server when it points at the
// replacement, then the replacement (and any twin created but not recorded) deleted.
func (e *Executor) cleanup(ctx context.Context, r *run, st *store.Step) error {
	if st.AddressID != "" && st.NewServerID != "" {
		newPort, err := e.portOf(ctx, st.NewServerID)
		if err != nil && !openstack.IsNotFound(err) {
			return err
		}
		fip, err := e.readAddress(ctx, st.AddressID)
		if err != nil {
			return err
		}
		if newPort != "" && fip.PortID == newPort {
			oldPort := ""
			if st.OldServerID != "" && Mode(st.Mode) != ModeUnavailable {
				if oldPort, err = e.portOf(ctx, st.OldServerID); err != nil && !openstack.IsNotFound(err) {
					return err
				}
			}
			back, err := e.moveAddress(ctx, st.AddressID, newPort, oldPort, &fip)
			if err != nil {
				return fmt.Errorf("move %s back: %w", st.Address, err)
			}
			r.setFIP(back)
			e.emit(ctx, Event{Slot: st.Slot, Server: st.OldServerID, Step: "moved-back", Message: fmt.Sprintf("%s moved back to the old server", st.Address)})
			if err := e.wait(ctx, e.Drain); err != nil {
				return err
			}
		}
	}
	victims := []string{}
	if st.NewServerID != "" {
		victims = append(victims, st.NewServerID)
	} else {
		// Created but perhaps not recorded: find it by its tags.
		tagged, err := e.tagged(ctx, r.rollout.ID)
		if err != nil {
			return err
		}
		for _, s := range tagged {
			if s.Metadata[MetaSlot] == strconv.Itoa(st.Slot) {
				victims = append(victims, s.ID)
			}
		}
	}
	for _, id := range victims {
		if err := e.do(ctx, func(ctx context.Context) error { return e.cloud.DeleteServer(ctx, id) }); err != nil {
			return fmt.Errorf("delete replacement %s: %w", id, err)
		}
	}
	if Mode(st.Mode) == ModeUnavailable && st.OldServerID != "" {
		// The old server went first: the slot is empty now.
		if err := e.store.DeleteSlot(ctx, e.spec.Group, st.Slot); err != nil {
			return err
		}
	}
	return e.enterFailed(ctx, st, StateFailed, st.NewServerID, "replacement deleted; "+keptMessage(st))
}

func keptMessage(st *store.Step) string {
	if st.OldServerID == "" || Mode(st.Mode) == ModeUnavailable {
		return "the slot has no server"
	}
	return "the old server keeps serving"
}
