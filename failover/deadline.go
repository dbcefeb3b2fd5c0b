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
	return fmt.Sprintf("%s at %s: %d of %d slots replaced%s; the next run resumes the rollout %s",
		ErrDeadline, e.Deadline.UTC().Format(time.RFC3339), e.Done, e.Total, left, e.Rollout)
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

// deadlineError sums up what a rollout stopped at its deadline left undone.
func (e *Executor) deadlineError(rollout string, steps []store.Step) *DeadlineError {
	de := &DeadlineError{Rollout: rollout, Deadline: e.Deadline}
	for _, st := range steps {
		if Mode(st.Mode) == ModeRemove {
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
