package failover

import (
	"context"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// The state failover keeps: these interfaces are the store operations it calls, and
// nothing more, so another store (PostgreSQL) fits behind them without touching failover.
// Rows are store's types. A lookup that finds nothing returns an error wrapping
// store.ErrNotFound. *store.Store satisfies State.

// RolloutState records rollouts and their steps.
type RolloutState interface {
	// CreateRollout records a rollout and its steps at once.
	CreateRollout(ctx context.Context, r store.Rollout, steps []store.Step) error
	GetRollout(ctx context.Context, id string) (store.Rollout, error)
	// LatestRollout is the group's newest rollout, whatever its status.
	LatestRollout(ctx context.Context, group string) (store.Rollout, error)
	// UnfinishedRollout is the group's rollout with status running.
	UnfinishedRollout(ctx context.Context, group string) (store.Rollout, error)
	Rollouts(ctx context.Context, group string) ([]store.Rollout, error)
	SetRolloutStatus(ctx context.Context, id, status, errMsg string, now time.Time) error
	// PutStep writes one step (keyed by rollout and slot): the write-ahead record.
	PutStep(ctx context.Context, st store.Step) error
	Steps(ctx context.Context, rolloutID string) ([]store.Step, error)
}

// SlotState records which server each slot of a group runs.
type SlotState interface {
	PutSlot(ctx context.Context, sl store.Slot) error
	DeleteSlot(ctx context.Context, group string, slot int) error
	Slots(ctx context.Context, group string) ([]store.Slot, error)
}

// AddressState records the failover addresses remint allocated (intent first, then id).
type AddressState interface {
	PutAddress(ctx context.Context, a store.Address) error
	Addresses(ctx context.Context, group string) ([]store.Address, error)
	// DeleteAddress forgets a recorded address whose floating IP is gone (Forget).
	DeleteAddress(ctx context.Context, group string, slot int) error
}

// EventLog keeps the rollouts' event history.
type EventLog interface {
	AppendEvent(ctx context.Context, ev store.Event) error
}

// State is every state operation the Executor calls.
type State interface {
	RolloutState
	SlotState
	AddressState
	EventLog
}

var _ State = (*store.Store)(nil)

// Step states. Each is written to the store before the cloud call it leads to, so a
// process killed anywhere resumes from the last state written (see resume.go).
const (
	StatePending       = "pending"        // nothing done yet
	StateRetiringFirst = "retiring-first" // unavailable mode: the old server is deleted first
	StateCreating      = "creating"       // CreateServer next (name and tags recorded)
	StateBooting       = "booting"        // replacement created; waiting for ACTIVE
	StateChecking      = "checking"       // ACTIVE; health checks (grace, threshold, deadline)
	StateHealthy       = "healthy"        // passed; next the address moves
	StateMoving        = "moving"         // the revision-checked address update next
	StateGating        = "gating"         // address moved; checking through the address
	StateBaking        = "baking"         // gate passed; the wave is watched for the bake time, old server kept
	StateRetiring      = "retiring"       // old server deleted after the soak
	StateKept          = "kept"           // old server kept for rollback until retire_after
	StateDone          = "done"
	StateFailing       = "failing" // cleaning up: address back, replacement deleted
	StateFailed        = "failed"
	StateRolledBack    = "rolled-back"
)

// terminalState reports whether a step needs no more work from a rollout.
func terminalState(s string) bool {
	switch s {
	case StateDone, StateKept, StateFailed, StateRolledBack:
		return true
	}
	return false
}

// enter writes the step's new state to the store (before the cloud call it leads to)
// and reports it.
func (e *Executor) enter(ctx context.Context, st *store.Step, state, server, msg string) error {
	return e.transition(ctx, st, state, server, msg, false)
}

func (e *Executor) enterFailed(ctx context.Context, st *store.Step, state, server, msg string) error {
	return e.transition(ctx, st, state, server, msg, true)
}

func (e *Executor) transition(ctx context.Context, st *store.Step, state, server, msg string, failed bool) error {
	if err := e.crashPoint("before " + state); err != nil {
		return err
	}
	prev := st.State
	st.State, st.Updated = state, e.now()
	if err := e.store.PutStep(ctx, *st); err != nil {
		st.State = prev
		return err
	}
	e.log.Debug("step", "group", e.spec.Group, "slot", st.Slot, "state", state, "server", server)
	e.emit(ctx, Event{Slot: st.Slot, Server: server, Step: state, Message: msg, Failed: failed})
	return e.crashPoint("after " + state)
}
