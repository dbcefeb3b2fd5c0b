package orchestrator

import (
	"errors"
	"fmt"
	"time"
)

// maxMissedListed bounds CatchUp.Missed: a daemon down for a year under an hourly rule
// records the count, and the latest runs by name.
const maxMissedListed = 100

// CatchUp is what to do about the runs that came due since the schedule last fired.
type CatchUp struct {
	// Run is the one run to start now: the latest due run, if its window is still open.
	Run *Run `json:"run,omitempty"`
	// Missed are the other due runs, to be recorded as missed, oldest first; at most
	// maxMissedListed of them (the latest), MissedTotal counts them all.
	Missed      []Run `json:"missed,omitempty"`
	MissedTotal int   `json:"missed_total"`
}

// CatchUp decides, at now, what happens to the runs that started after lastFired and at or
// before now (lastFired: the start of the last run fired, or when the schedule was created
// or enabled if it never fired). The rule: a run missed while no daemon was up is caught
// up once, and only if its window is still open; several due runs never start several
// jobs: the latest is the one to run, the others are missed. The same call serves every
// tick of a running daemon: a run that just came due is "caught up" at once.
func (s *Schedule) CatchUp(lastFired, now time.Time) CatchUp {
	var c CatchUp
	if !now.After(lastFired) {
		return c
	}
	due := s.Between(lastFired, now)
	if len(due) == 0 {
		return c
	}
	latest := due[len(due)-1]
	if latest.Contains(now) {
		c.Run = &latest
		due = due[:len(due)-1]
	}
	c.MissedTotal = len(due)
	if len(due) > maxMissedListed {
		due = due[len(due)-maxMissedListed:]
	}
	c.Missed = due
	return c
}

// ErrWindowClosed is returned by CheckStep once a run's window has closed.
var ErrWindowClosed = errors.New("maintenance window closed")

// CheckStep says whether a new disruptive step (replacing a server, moving an address,
// rebooting, upgrading a package set) may start at now within run's window: nil while the
// window is open, an error wrapping ErrWindowClosed from its end on. Steps already under
// way finish; the job then stops safely and reports what is left. A job resumed after
// the window closed does not refuse here: it finishes the steps its cut-short attempt had
// under way, with the window end as the use case's deadline, and starts nothing new.
func CheckStep(run Run, now time.Time, step string) error {
	if now.Before(run.End) {
		return nil
	}
	return fmt.Errorf("%s not started: the window of the run at %s closed at %s (%s ago): %w",
		step, run.Start.UTC().Format(time.RFC3339), run.End.UTC().Format(time.RFC3339), now.Sub(run.End).Round(time.Second), ErrWindowClosed)
}

// windowClosedOnResume is the decision of a job resumed after its run's window closed:
// a step the cut-short attempt had under way is finished (refusing it would leave it
// half done), nothing new starts.
func windowClosedOnResume(run Run, now time.Time) string {
	return fmt.Sprintf("the window of the run at %s closed at %s (%s ago) while an earlier attempt was cut short: finish only the steps it had under way, start nothing new",
		run.Start.UTC().Format(time.RFC3339), run.End.UTC().Format(time.RFC3339), now.Sub(run.End).Round(time.Second))
}

// Remaining is how much of run's window is left at now (0 once it closed).
func Remaining(run Run, now time.Time) time.Duration {
	return max(run.End.Sub(now), 0)
}

// Active is a run under way on a target: a job some schedule (or an operator) started.
type Active struct {
	Target   string    `json:"target"`
	Schedule string    `json:"schedule,omitempty"` // "" for a run started by hand
	JobID    string    `json:"job_id,omitempty"`
	Started  time.Time `json:"started"`
}

// Admission says whether a due run may start.
type Admission struct {
	Start  bool   `json:"start"`
	Reason string `json:"reason"`
}

// Admit decides whether schedule's run that is due on target may start at now, given the
// runs under way. No two runs on one target overlap: if one is still going, the due run
// is skipped (not queued behind it) and the reason is recorded. A run whose window closed
// before it could start is skipped too.
func Admit(schedule, target string, due Run, now time.Time, active []Active) Admission {
	for _, a := range active {
		if a.Target != target {
			continue
		}
		by := "by hand"
		if a.Schedule != "" {
			by = "by schedule " + a.Schedule
		}
		job := ""
		if a.JobID != "" {
			job = " (job " + a.JobID + ")"
		}
		return Admission{Reason: fmt.Sprintf("skipped: run of %s at %s: target %s is busy with a run started %s at %s%s, still going at %s",
			schedule, due.Start.UTC().Format(time.RFC3339), target, by, a.Started.UTC().Format(time.RFC3339), job, now.UTC().Format(time.RFC3339))}
	}
	if !due.Contains(now) {
		if now.Before(due.Start) {
			return Admission{Reason: fmt.Sprintf("not yet: run of %s on %s starts at %s", schedule, target, due.Start.UTC().Format(time.RFC3339))}
		}
		return Admission{Reason: fmt.Sprintf("missed: run of %s on %s at %s: its window closed at %s", schedule, target, due.Start.UTC().Format(time.RFC3339), due.End.UTC().Format(time.RFC3339))}
	}
	return Admission{Start: true, Reason: fmt.Sprintf("start: run of %s on %s at %s, window open until %s (%s left)",
		schedule, target, due.Start.UTC().Format(time.RFC3339), due.End.UTC().Format(time.RFC3339), Remaining(due, now).Round(time.Second))}
}
