package failover

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// ErrDeadline is wrapped by the error of a rollout stopped at Options.Deadline.
var ErrDeadline = errors.New("maintenance window closed")

// DeadlineError says a rollout stopped because its maintenance window closed: the steps
// under way finished, no new slot (or wave) started, and the rollout stays running in
// the state store, so the next rebuild of the group resumes it.
type DeadlineError struct {
	Rollout  string
	Deadline time.Time
	Done     int      // slots replaced (done or kept)
	Total    int      // slots to replace
	Left     []string // the slots not replaced, by name
}

func (e *DeadlineError) Error() string {
	left := ""
	if len(e.Left) > 0 {
		left = "; left: " + strings.Join(e.Left, ", ")
	}
	next := "the next run resumes the rollout " + e.Rollout
	if e.Rollout == "" {
		next = "no rollout started; the next run replaces them"
	}
	return fmt.Sprintf("%s at %s: %d of %d slots replaced%s; %s",
		ErrDeadline, e.Deadline.UTC().Format(time.RFC3339), e.Done, e.Total, left, next)
}

func (e *DeadlineError) Unwrap() error { return ErrDeadline }

// deadline tells the rollout loops whether a new slot or wave may start.
type deadline struct {
	at  time.Time
	now func() time.Time
	hit atomic.Bool
}

// passed reports (and remembers) that the window closed: no new disruptive step.
func (d *deadline) passed() bool {
	if d == nil || d.at.IsZero() {
		return false
	}
	if !d.now().Before(d.at) {
		d.hit.Store(true)
		return true
	}
	return false
}

func (d *deadline) stopped() bool { return d != nil && d.hit.Load() }

// window is the deadline of the executor's maintenance window, read by its window clock.
func (e *Executor) window() *deadline {
	now := e.now
	if e.windowNow != nil {
		now = e.windowNow
	}
	return &deadline{at: e.Deadline, now: now}
}

// planDeadlineError is what a rebuild whose window closed before its rollout started
// leaves: every slot the plan would have replaced.
func (e *Executor) planDeadlineError(p Plan) *DeadlineError {
	de := &DeadlineError{Deadline: e.Deadline}
	for _, s := range p.Work() {
		if s.Action == ActionRemove {
			continue
		}
		de.Total++
		de.Left = append(de.Left, e.spec.slotName(s.Slot))
	}
	return de
}

// deadlineError sums up what a rollout stopped at its deadline left undone.
func (e *Executor) deadlineError(rollout string, steps []store.Step) *DeadlineError {
	de := &DeadlineError{Rollout: rollout, Deadline: e.Deadline}
	for _, st := range steps {
		if Mode(st.Mode) == ModeRemove {
			if !terminalState(st.State) {
				de.Left = append(de.Left, e.spec.slotName(st.Slot)+" (removal)")
			}
			continue
		}
		de.Total++
		switch st.State {
		case StateDone, StateKept, StateBaking, StateRetiring:
			de.Done++
		default:
			de.Left = append(de.Left, e.spec.slotName(st.Slot))
		}
	}
	return de
}
