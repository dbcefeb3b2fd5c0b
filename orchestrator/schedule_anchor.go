package orchestrator

import (
	"time"

	"github.com/teambition/rrule-go"
)

// Re-anchoring. rrule-go finds the next occurrence by walking every period from DTSTART:
// a weekly rule written in 2020 walks 300 weeks to answer "next after now" (~75 µs), and
// 100,000 of them take seconds. A rule's occurrences after a moment depend only on the
// periods from there on, so the walk can start later, if the later start is exact:
//
//   - The new DTSTART is the first instant of a period on the rule's own grid: the period
//     DTSTART falls in plus a multiple of INTERVAL (years, months, weeks starting on WKST,
//     days, hours, minutes, seconds), never a point inside a period and never "the last
//     occurrence": rrule-go applies BYSETPOS to the part of the first period at or after
//     DTSTART, and starts a weekly rule's first period on DTSTART's day, so an anchor
//     inside a period would select different occurrences.
//   - The fields rrule-go takes from DTSTART when the rule leaves them out (BYMONTH and
//     BYMONTHDAY for YEARLY, BYMONTHDAY for MONTHLY, BYDAY for WEEKLY, BYHOUR, BYMINUTE,
//     BYSECOND below their frequency) are written out from the original DTSTART first.
//   - The whole anchor period ends at least anchorMargin (wall-clock) before the moment
//     asked about, so nothing it might emit differently can be "after" that moment.
//   - rrule-go iterates in wall-clock time: an anchor that falls into a DST gap would be
//     normalised by time.Date to another wall-clock time and shift the grid, so such an
//     anchor is rejected and the period one INTERVAL earlier is tried.
//   - COUNT counts from the original DTSTART: those rules are never re-anchored (they are
//     finite, the walk is bounded by COUNT). UNTIL, RDATE and EXDATE are absolute and
//     carry over unchanged.
//
// TestReanchorMatchesNaive checks the re-anchored answers against the walk from the
// original DTSTART over thousands of random rules, zones and moments.

// anchorMargin separates the anchor period from the moment asked about, in wall-clock
// time: more than any DST offset change, so wall-clock order and instant order agree.
const anchorMargin = 26 * time.Hour

// anchorPlan is what re-anchoring needs from a parsed rule.
type anchorPlan struct {
	opt      rrule.ROption // the rule's options with DTSTART-derived defaults written out
	dt       time.Time     // the original DTSTART, in the rule's zone
	wallDT   time.Time     // DTSTART's wall-clock time as a UTC time (naive arithmetic)
	interval int
	wkst     int // 0 = Monday … 6 = Sunday, as rrule-go counts
	rdates   []time.Time
	exdates  []time.Time
	template *rrule.RRule // the rule with its defaults written out, at the original DTSTART
}

// newAnchorPlan returns nil for sets that cannot be re-anchored: no RRULE (RDATEs only;
// nothing to walk) or a COUNT.
func newAnchorPlan(set *rrule.Set) *anchorPlan {
	r := set.GetRRule()
	if r == nil || r.OrigOptions.Count > 0 {
		return nil
	}
	opt := r.OrigOptions
	dt := set.GetDTStart()
	if opt.Interval < 1 {
		opt.Interval = 1
	}
	// Mirror rrule-go's buildRRule: these defaults come from DTSTART.
	if len(opt.Byweekno) == 0 && len(opt.Byyearday) == 0 && len(opt.Bymonthday) == 0 &&
		len(opt.Byweekday) == 0 && len(opt.Byeaster) == 0 {
		switch opt.Freq {
		case rrule.YEARLY:
			if len(opt.Bymonth) == 0 {
				opt.Bymonth = []int{int(dt.Month())}
			}
			opt.Bymonthday = []int{dt.Day()}
		case rrule.MONTHLY:
			opt.Bymonthday = []int{dt.Day()}
		case rrule.WEEKLY:
			opt.Byweekday = []rrule.Weekday{rruleWeekday(dt.Weekday())}
		}
	}
	if len(opt.Byhour) == 0 && opt.Freq < rrule.HOURLY {
		opt.Byhour = []int{dt.Hour()}
	}
	if len(opt.Byminute) == 0 && opt.Freq < rrule.MINUTELY {
		opt.Byminute = []int{dt.Minute()}
	}
	if len(opt.Bysecond) == 0 && opt.Freq < rrule.SECONDLY {
		opt.Bysecond = []int{dt.Second()}
	}
	// Validated once, here; anchors only move DTSTART (RRule.DTStart rebuilds the rule
	// without validating its bounds again).
	template, err := rrule.NewRRule(opt)
	if err != nil {
		return nil // the rule as written (which parsed) is used instead
	}
	return &anchorPlan{
		opt: opt, dt: dt, wallDT: wallClock(dt), interval: opt.Interval, wkst: opt.Wkst.Day(),
		rdates: set.GetRDate(), exdates: set.GetExDate(), template: template,
	}
}

// anchorFor returns the latest exact anchor for questions about times after `after`, and
// false when the original DTSTART is already as late as it can be.
func (p *anchorPlan) anchorFor(after time.Time) (time.Time, bool) {
	loc := p.dt.Location()
	limit := wallClock(after.In(loc)).Add(-anchorMargin) // the anchor period ends by here
	d0 := dateOf(p.wallDT)
	iv := p.interval
	var k int
	var period func(k int) time.Time // wall-clock start of grid period k
	switch p.opt.Freq {
	case rrule.YEARLY:
		k = floorDiv(limit.Year()-1-p.wallDT.Year(), iv)
		period = func(k int) time.Time { return time.Date(p.wallDT.Year()+k*iv, 1, 1, 0, 0, 0, 0, time.UTC) }
	case rrule.MONTHLY:
		m0 := monthIndex(p.wallDT)
		k = floorDiv(monthIndex(limit)-1-m0, iv)
		period = func(k int) time.Time {
			m := m0 + k*iv
			return time.Date(m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC)
		}
	case rrule.WEEKLY:
		back := (pyWeekday(p.wallDT.Weekday()) - p.wkst + 7) % 7
		w0 := d0.AddDate(0, 0, -back) // start of DTSTART's week
		k = floorDiv(floorDays(limit.Sub(w0))-7, 7*iv)
		period = func(k int) time.Time { return w0.AddDate(0, 0, 7*k*iv) }
	case rrule.DAILY:
		k = floorDiv(floorDays(limit.Sub(d0))-1, iv)
		period = func(k int) time.Time { return d0.AddDate(0, 0, k*iv) }
	case rrule.HOURLY:
		k, period = gridOf(p.wallDT.Truncate(time.Hour), limit, time.Hour, iv)
	case rrule.MINUTELY:
		k, period = gridOf(p.wallDT.Truncate(time.Minute), limit, time.Minute, iv)
	case rrule.SECONDLY:
		k, period = gridOf(p.wallDT, limit, time.Second, iv)
	default:
		return time.Time{}, false
	}
	// k >= 1: period 0 is DTSTART's own (partial) period, where the original is exact.
	for tries := 0; k >= 1 && tries < 8; k, tries = k-1, tries+1 {
		w := period(k)
		y, mo, d := w.Date()
		h, mi, sec := w.Clock()
		at := time.Date(y, mo, d, h, mi, sec, 0, loc)
		if wallClock(at).Equal(w) { // not in a DST gap
			return at, true
		}
	}
	return time.Time{}, false
}

// gridOf is anchorFor for the sub-daily frequencies: periods of unit*iv from start.
func gridOf(start, limit time.Time, unit time.Duration, iv int) (int, func(int) time.Time) {
	n := int(limit.Sub(start)/unit) - 1
	if limit.Before(start) {
		n = -1
	}
	return floorDiv(n, iv), func(k int) time.Time { return start.Add(time.Duration(k*iv) * unit) }
}

// build makes the rule re-anchored at `at`, as a maker of iterators over it. Without RDATE
// and EXDATE the rule is iterated directly: rrule.Set's merging costs as much again.
func (p *anchorPlan) build(at time.Time) func() func() (time.Time, bool) {
	r := new(rrule.RRule)
	*r = *p.template
	r.DTStart(at)
	if len(p.rdates) == 0 && len(p.exdates) == 0 {
		return func() func() (time.Time, bool) { return r.Iterator() }
	}
	set := &rrule.Set{}
	set.RRule(r)
	set.SetRDates(p.rdates)
	set.SetExDates(p.exdates)
	return set.Iterator
}

// wallClock is t's wall-clock reading in its own zone, as a UTC time, for arithmetic
// without DST.
func wallClock(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func monthIndex(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }

func floorDays(d time.Duration) int {
	n := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		n--
	}
	return n
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// pyWeekday is rrule-go's weekday number: Monday 0 … Sunday 6.
func pyWeekday(d time.Weekday) int { return (int(d) + 6) % 7 }

var rruleWeekdays = [7]rrule.Weekday{rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU}

func rruleWeekday(d time.Weekday) rrule.Weekday { return rruleWeekdays[pyWeekday(d)] }
