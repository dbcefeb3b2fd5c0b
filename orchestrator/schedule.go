package orchestrator

import (
	"fmt"
	"sync"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/remint-dev/remint/internal/manifest"
)

// Maintenance windows are whole durations from 1 to 24 hours.
const (
	MinWindow = time.Hour
	MaxWindow = 24 * time.Hour
)

// Run is one occurrence of a schedule and its maintenance window [Start, End).
//
// Start is in the rule's zone (the DTSTART TZID, UTC for "...Z" rules); use Start.UTC()
// for the UTC form. The window is a real duration, not wall-clock time: a 4h window
// that spans a DST change still lasts 4 hours.
type Run struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t is inside the run's window.
func (r Run) Contains(t time.Time) bool { return !t.Before(r.Start) && t.Before(r.End) }

// Deadline is when the window closes: no new disruptive step may start at or after it.
func (r Run) Deadline() time.Time { return r.End }

// String renders the run in UTC and in its zone.
func (r Run) String() string {
	return fmt.Sprintf("%s (%s) until %s", r.Start.UTC().Format(time.RFC3339), r.Start.Format(time.RFC3339), r.End.UTC().Format(time.RFC3339))
}

// Schedule is a parsed recurrence rule with its maintenance window. It is safe for
// concurrent use; the re-anchored rule it computes runs from is cached (see
// schedule_anchor.go), so asking for the next run again costs a few periods of the rule.
type Schedule struct {
	rule   string
	window time.Duration
	set    *rrule.Set // as written: DTSTART where the author put it
	loc    *time.Location
	anchor *anchorPlan // nil when the rule cannot be re-anchored (COUNT, no RRULE)

	mu       sync.Mutex                      // guards the caches and every iteration (rrule-go iterators write to their rule)
	cachedAt time.Time                       // the anchor instant cached is built for
	cached   func() func() (time.Time, bool) // new iterators over the rule re-anchored at cachedAt
	memo     struct {                        // the starts after memo.after, as last computed
		ok, exhausted bool
		after         time.Time
		starts        []time.Time
	}
}

// ParseSchedule parses rule (see manifest.ParseRRule for the accepted forms, including
// the one-line "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA")
// and checks the window is 1 to 24 hours.
func ParseSchedule(rule string, window time.Duration) (*Schedule, error) {
	if window < MinWindow || window > MaxWindow {
		return nil, fmt.Errorf("maintenance window %s: want 1h to 24h", window)
	}
	set, err := manifest.ParseRRule(rule)
	if err != nil {
		return nil, fmt.Errorf("rrule: %w", err)
	}
	s := &Schedule{rule: rule, window: window, set: set, loc: set.GetDTStart().Location()}
	s.anchor = newAnchorPlan(set)
	return s, nil
}

// Rule is the rule as it was given.
func (s *Schedule) Rule() string { return s.rule }

// Window is the maintenance window length.
func (s *Schedule) Window() time.Duration { return s.window }

// Location is the rule's zone (DTSTART's TZID; UTC for rules written in UTC).
func (s *Schedule) Location() *time.Location { return s.loc }

// run makes the run that starts at t.
func (s *Schedule) run(t time.Time) Run { return Run{Start: t, End: t.Add(s.window)} }

// Next returns up to n runs that start strictly after `after`, in order; fewer when the
// rule ends (UNTIL, COUNT).
func (s *Schedule) Next(after time.Time, n int) []Run {
	var out []Run
	if n <= 0 {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	starts := s.memoNext(after, n)
	for _, t := range starts {
		out = append(out, s.run(t))
	}
	return out
}

// memoNext answers Next from the starts remembered from the last walk when it can (the
// daemon's tick asks the same question until the run is due), else walks the rule from
// its cached anchor and remembers. The caller holds s.mu.
func (s *Schedule) memoNext(after time.Time, n int) []time.Time {
	if s.memo.ok && !after.Before(s.memo.after) {
		i := 0
		for i < len(s.memo.starts) && !s.memo.starts[i].After(after) {
			i++
		}
		if rest := s.memo.starts[i:]; len(rest) >= n || s.memo.exhausted {
			return rest[:min(n, len(rest))]
		}
	}
	next := s.iteratorFor(after)
	var starts []time.Time
	exhausted := false
	for len(starts) < n {
		t, ok := next()
		if !ok {
			exhausted = true
			break
		}
		if t.After(after) {
			starts = append(starts, t)
		}
	}
	s.memo.ok, s.memo.after, s.memo.starts, s.memo.exhausted = true, after, starts, exhausted
	return starts
}

// Between returns the runs that start in (from, to], in order.
func (s *Schedule) Between(from, to time.Time) []Run {
	var out []Run
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.iteratorFor(from)
	for {
		t, ok := next()
		if !ok || t.After(to) {
			return out
		}
		if t.After(from) {
			out = append(out, s.run(t))
		}
	}
}

// iteratorFor returns an iterator over the rule re-anchored as close before `after` as is
// exact (or the rule as written when it cannot be re-anchored). It yields every
// occurrence after `after`, and possibly a few before it, which callers skip. The caller
// holds s.mu: rrule-go's iterators write to the rule they iterate.
func (s *Schedule) iteratorFor(after time.Time) func() (time.Time, bool) {
	if s.anchor == nil {
		return s.set.Iterator()
	}
	at, ok := s.anchor.anchorFor(after)
	if !ok {
		return s.set.Iterator()
	}
	if s.cached == nil || !s.cachedAt.Equal(at) {
		s.cachedAt, s.cached = at, s.anchor.build(at)
	}
	return s.cached()
}
