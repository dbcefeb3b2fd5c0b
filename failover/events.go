package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// Event is one thing that happened during a rollout, for progress output and the store's
// event log. Slot is -1 for rollout-wide events.
type Event struct {
	Time    time.Time `json:"time"`
	Rollout string    `json:"rollout"`
	Group   string    `json:"group"`
	Slot    int       `json:"slot"`
	Server  string    `json:"server,omitempty"` // the server the event is about
	Step    string    `json:"step"`             // the state the slot entered, or a rollout phase
	Message string    `json:"message"`
	// Failed marks events reporting a failure.
	Failed bool `json:"failed,omitempty"`
}

func (e Event) String() string {
	who := "rollout"
	if e.Slot >= 0 {
		who = fmt.Sprintf("%s-%d", e.Group, e.Slot)
	}
	s := fmt.Sprintf("%s %-8s %-10s %s", e.Time.Format("15:04:05.000"), who, e.Step, e.Message)
	if e.Server != "" {
		s += " (server " + shortID(e.Server) + ")"
	}
	return s
}

// Result summarises a finished (or stopped) rollout.
type Result struct {
	Rollout  string        `json:"rollout"`
	Group    string        `json:"group"`
	Status   string        `json:"status"` // store.Rollout* status
	Target   Target        `json:"target"`
	Slots    []SlotResult  `json:"slots"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// SlotResult is one slot's outcome.
type SlotResult struct {
	Slot            int    `json:"slot"`
	State           string `json:"state"`
	OldServerID     string `json:"old_server_id,omitempty"`
	OldImageVersion string `json:"old_image_version,omitempty"`
	NewServerID     string `json:"new_server_id,omitempty"`
	Address         string `json:"address,omitempty"`
	Error           string `json:"error,omitempty"`
}

// OK reports whether every slot reached the target.
func (r Result) OK() bool { return r.Status == store.RolloutCompleted }

// eventWriteTimeout bounds storing one event, which outlives a cancelled rollout.
const eventWriteTimeout = 5 * time.Second

// emit stamps, stores (best effort: the event log is not the state) and forwards an event.
// The record of what happened must survive the cancellation that often comes with it
// (Ctrl-C, a failed sibling step): the write uses ctx without its cancellation, with its
// own short deadline, and keeps ctx's values.
func (e *Executor) emit(ctx context.Context, ev Event) {
	ev.Time, ev.Group, ev.Rollout = e.now(), e.spec.Group, e.currentRollout()
	if ev.Rollout != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventWriteTimeout)
		if err := e.store.AppendEvent(ctx, store.Event{RolloutID: ev.Rollout, Group: ev.Group, Time: ev.Time, Slot: ev.Slot, Server: ev.Server, Step: ev.Step, Message: ev.Message}); err != nil {
			e.log.Warn("event not stored", "rollout", ev.Rollout, "err", err)
		}
		cancel()
	}
	if e.Events != nil {
		e.Events(ev)
	}
}
