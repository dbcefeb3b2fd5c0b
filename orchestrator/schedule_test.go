package orchestrator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustSchedule(t *testing.T, rule string, window time.Duration) *Schedule {
	t.Helper()
	s, err := ParseSchedule(rule, window)
	require.NoError(t, err)
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func startsUTC(runs []Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Start.UTC().Format(time.RFC3339))
	}
	return out
}

func TestScheduleNextOneLineForm(t *testing.T) {
	t.Parallel()
	s := mustSchedule(t, "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SA", 4*time.Hour)
	assert.Equal(t, "Europe/Sofia", s.Location().String())
	runs := s.Next(utc("2026-11-27T12:00:00Z"), 3)
	assert.Equal(t, []string{"2026-11-28T11:40:00Z", "2026-12-05T11:40:00Z", "2026-12-12T11:40:00Z"}, startsUTC(runs))
	assert.Equal(t, "2026-11-28T13:40:00+02:00", runs[0].Start.Format(time.RFC3339))
	assert.Equal(t, "2026-11-28T15:40:00Z", runs[0].End.UTC().Format(time.RFC3339))
	// Strictly after: a run starting exactly at `after` is not next.
	assert.Equal(t, "2026-12-05T11:40:00Z", startsUTC(s.Next(utc("2026-11-28T11:40:00Z"), 1))[0])
	assert.Empty(t, s.Next(utc("2026-11-28T11:40:00Z"), 0))
}

func TestParseScheduleErrors(t *testing.T) {
	t.Parallel()
	_, err := ParseSchedule("DTSTART:20240101T020000Z RRULE:FREQ=DAILY", 30*time.Minute)
	assert.EqualError(t, err, "maintenance window 30m0s: want 1h to 24h")
	_, err = ParseSchedule("DTSTART:20240101T020000Z RRULE:FREQ=DAILY", 25*time.Hour)
	assert.EqualError(t, err, "maintenance window 25h0m0s: want 1h to 24h")
	_, err = ParseSchedule("RRULE:FREQ=DAILY", time.Hour)
	assert.ErrorContains(t, err, "rrule: starts with RRULE: want DTSTART first")
	_, err = ParseSchedule("DTSTART:20240101T020000Z RRULE:FREQ=HOURLY;INTERVAL=4;BYHOUR=3", time.Hour)
	assert.ErrorContains(t, err, "never fires")
}

func TestScheduleUntilAndCount(t *testing.T) {
	t.Parallel()
	s := mustSchedule(t, "DTSTART:20260101T020000Z RRULE:FREQ=MONTHLY;COUNT=3", time.Hour)
	assert.Equal(t, []string{"2026-02-01T02:00:00Z", "2026-03-01T02:00:00Z"}, startsUTC(s.Next(utc("2026-01-15T00:00:00Z"), 5)))
	s = mustSchedule(t, "DTSTART:20200101T020000Z RRULE:FREQ=WEEKLY;UNTIL=20261210T000000Z", time.Hour)
	assert.Equal(t, []string{"2026-12-02T02:00:00Z", "2026-12-09T02:00:00Z"}, startsUTC(s.Next(utc("2026-11-30T00:00:00Z"), 5)))
}

// runsOnLocalDate counts the runs whose start falls on the given date in the rule's zone.
func runsOnLocalDate(runs []Run, date string) []Run {
	var out []Run
	for _, r := range runs {
		if r.Start.Format("2006-01-02") == date {
			out = append(out, r)
		}
	}
	return out
}

// TestScheduleDST: Europe/Sofia moves from EET (+02:00) to EEST (+03:00) at 03:00 on the
// last Sunday of March (03:00–04:00 does not exist) and back at 04:00 on the last Sunday
// of October (03:00–04:00 happens twice). Each daily run happens once on those days.
// The rules start in 2020, so the answers come from re-anchored rules.
func TestScheduleDST(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, rule, date string
		want             string // the one run that day, UTC
	}{
		// 02:30 exists on the spring-forward day in Sofia: once, at 02:30 EET.
		{"sofia 02:30 spring forward", "DTSTART;TZID=Europe/Sofia:20200301T023000 RRULE:FREQ=DAILY", "2026-03-29", "2026-03-29T00:30:00Z"},
		// 03:30 does not exist that day: once, an hour later on the clock (04:30 EEST).
		{"sofia 03:30 spring forward (skipped hour)", "DTSTART;TZID=Europe/Sofia:20200301T033000 RRULE:FREQ=DAILY", "2026-03-29", "2026-03-29T01:30:00Z"},
		// 03:30 happens twice in autumn: once.
		{"sofia 03:30 autumn (repeated hour)", "DTSTART;TZID=Europe/Sofia:20200301T033000 RRULE:FREQ=DAILY", "2026-10-25", ""},
		{"sofia 02:30 autumn", "DTSTART;TZID=Europe/Sofia:20200301T023000 RRULE:FREQ=DAILY", "2026-10-25", "2026-10-24T23:30:00Z"},
		// Berlin skips 02:00–03:00: a 02:30 run comes at 03:30 CEST, once.
		{"berlin 02:30 spring forward (skipped hour)", "DTSTART;TZID=Europe/Berlin:20200301T023000 RRULE:FREQ=DAILY", "2026-03-29", "2026-03-29T01:30:00Z"},
		{"berlin 02:30 autumn (repeated hour)", "DTSTART;TZID=Europe/Berlin:20200301T023000 RRULE:FREQ=DAILY", "2026-10-25", ""},
		// The weekend rules of the default policy land on DST Sundays too.
		{"weekly sunday 03:30 sofia spring", "DTSTART;TZID=Europe/Sofia:20200105T033000 RRULE:FREQ=WEEKLY;BYDAY=SU", "2026-03-29", "2026-03-29T01:30:00Z"},
		{"weekly sunday 03:30 sofia autumn", "DTSTART;TZID=Europe/Sofia:20200105T033000 RRULE:FREQ=WEEKLY;BYDAY=SU", "2026-10-25", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := mustSchedule(t, c.rule, 2*time.Hour)
			day, err := time.ParseInLocation("2006-01-02", c.date, s.Location())
			require.NoError(t, err)
			// Every run from three days before to three days after, by both methods.
			from := day.AddDate(0, 0, -3)
			next := s.Next(from, 20)
			between := s.Between(from, day.AddDate(0, 0, 4))
			for _, runs := range [][]Run{next, between} {
				on := runsOnLocalDate(runs, c.date)
				require.Len(t, on, 1, "runs on %s: %v", c.date, startsUTC(on))
				if c.want != "" {
					assert.Equal(t, c.want, on[0].Start.UTC().Format(time.RFC3339))
				}
				// Starts strictly increase, no instant twice.
				for i := 1; i < len(runs); i++ {
					require.True(t, runs[i].Start.After(runs[i-1].Start), "%v", startsUTC(runs))
				}
			}
			// The window is real time: 2h after the start, whatever the clock did.
			on := runsOnLocalDate(next, c.date)[0]
			assert.Equal(t, 2*time.Hour, on.End.Sub(on.Start))
		})
	}
}

func TestScheduleCatchUp(t *testing.T) {
	t.Parallel()
	// Daily at 02:00 UTC with a 4h window.
	s := mustSchedule(t, "DTSTART:20200101T020000Z RRULE:FREQ=DAILY", 4*time.Hour)
	last := utc("2026-11-20T02:00:00Z")

	// Down for days; back inside the latest run's window: that run is caught up, the
	// others are missed.
	c := s.CatchUp(last, utc("2026-11-25T03:00:00Z"))
	require.NotNil(t, c.Run)
	assert.Equal(t, "2026-11-25T02:00:00Z", c.Run.Start.UTC().Format(time.RFC3339))
	assert.Equal(t, []string{"2026-11-21T02:00:00Z", "2026-11-22T02:00:00Z", "2026-11-23T02:00:00Z", "2026-11-24T02:00:00Z"}, startsUTC(c.Missed))
	assert.Equal(t, 4, c.MissedTotal)

	// Back after the latest window closed: nothing to run, all missed.
	c = s.CatchUp(last, utc("2026-11-25T06:00:00Z"))
	assert.Nil(t, c.Run)
	assert.Equal(t, 5, c.MissedTotal)

	// A daemon that was up: the run due now starts, nothing missed.
	c = s.CatchUp(utc("2026-11-24T02:00:00Z"), utc("2026-11-25T02:00:01Z"))
	require.NotNil(t, c.Run)
	assert.Zero(t, c.MissedTotal)
	// Nothing due yet.
	c = s.CatchUp(utc("2026-11-25T02:00:00Z"), utc("2026-11-25T05:00:00Z"))
	assert.Nil(t, c.Run)
	assert.Zero(t, c.MissedTotal)
	// The clock went backwards: nothing.
	assert.Equal(t, CatchUp{}, s.CatchUp(utc("2026-11-25T02:00:00Z"), utc("2026-11-24T00:00:00Z")))

	// Down for a year under an hourly rule with an overlapping 2h window: one run, the
	// latest; the missed list is bounded, the count is not.
	h := mustSchedule(t, "DTSTART:20200101T000000Z RRULE:FREQ=HOURLY", 2*time.Hour)
	c = h.CatchUp(utc("2025-11-25T00:00:00Z"), utc("2026-11-25T00:30:00Z"))
	require.NotNil(t, c.Run)
	assert.Equal(t, "2026-11-25T00:00:00Z", c.Run.Start.UTC().Format(time.RFC3339))
	assert.Equal(t, 365*24-1, c.MissedTotal) // 8760 runs came due; the latest is run
	assert.Len(t, c.Missed, maxMissedListed)
	assert.Equal(t, "2026-11-24T23:00:00Z", c.Missed[len(c.Missed)-1].Start.UTC().Format(time.RFC3339))
}

func TestCheckStep(t *testing.T) {
	t.Parallel()
	run := Run{Start: utc("2026-11-28T02:00:00Z"), End: utc("2026-11-28T06:00:00Z")}
	assert.NoError(t, CheckStep(run, utc("2026-11-28T05:59:59Z"), "replace server web-2"))
	err := CheckStep(run, utc("2026-11-28T06:00:00Z"), "replace server web-2")
	require.ErrorIs(t, err, ErrWindowClosed)
	assert.EqualError(t, err, "replace server web-2 not started: the window of the run at 2026-11-28T02:00:00Z closed at 2026-11-28T06:00:00Z (0s ago): maintenance window closed")
	assert.Equal(t, time.Second, Remaining(run, utc("2026-11-28T05:59:59Z")))
	assert.Zero(t, Remaining(run, utc("2026-11-28T07:00:00Z")))
	assert.True(t, run.Contains(run.Start))
	assert.False(t, run.Contains(run.End))
	assert.Equal(t, run.End, run.Deadline())
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	due := Run{Start: utc("2026-11-28T02:00:00Z"), End: utc("2026-11-28T06:00:00Z")}
	now := utc("2026-11-28T02:00:05Z")
	a := Admit("weekend-web", "web", due, now, nil)
	assert.Equal(t, Admission{Start: true, Reason: "start: run of weekend-web on web at 2026-11-28T02:00:00Z, window open until 2026-11-28T06:00:00Z (3h59m55s left)"}, a)

	busy := []Active{
		{Target: "db", Schedule: "weekly-db", Started: utc("2026-11-28T01:00:00Z")},
		{Target: "web", Schedule: "monthly-web", JobID: "job-41", Started: utc("2026-11-28T00:30:00Z")},
	}
	a = Admit("weekend-web", "web", due, now, busy)
	assert.False(t, a.Start)
	assert.Equal(t, "skipped: run of weekend-web at 2026-11-28T02:00:00Z: target web is busy with a run started by schedule monthly-web at 2026-11-28T00:30:00Z (job job-41), still going at 2026-11-28T02:00:05Z", a.Reason)
	// Another target's run does not block.
	assert.True(t, Admit("weekly-db-2", "db2", due, now, busy).Start)
	// A run by hand blocks too.
	a = Admit("weekend-web", "web", due, now, []Active{{Target: "web", Started: utc("2026-11-28T01:59:00Z")}})
	assert.Contains(t, a.Reason, "started by hand")
	// Outside the window.
	assert.Equal(t, "missed: run of weekend-web on web at 2026-11-28T02:00:00Z: its window closed at 2026-11-28T06:00:00Z", Admit("weekend-web", "web", due, due.End, nil).Reason)
	assert.False(t, Admit("weekend-web", "web", due, due.Start.Add(-time.Second), nil).Start)
}

func TestDefaultPolicyStable(t *testing.T) {
	t.Parallel()
	sofia, err := time.LoadLocation("Europe/Sofia")
	require.NoError(t, err)
	p := DefaultPolicy("web", sofia)
	assert.Equal(t, p, DefaultPolicy("web", sofia), "same target, same policy")
	assert.Equal(t, UpdatePolicy{
		ID: "default", Name: "default",
		Description:       "weekly, " + p.Description[len("weekly, "):],
		RRule:             p.RRule,
		MaintenanceWindow: 4, Default: true, Enabled: true,
	}, p)
	// The exact rule for "web" is part of the contract: changing the hash would move
	// every fleet's patch time.
	assert.Equal(t, "DTSTART;TZID=Europe/Sofia:20260104T164500 RRULE:FREQ=WEEKLY;BYDAY=SU", p.RRule)
	assert.Equal(t, "DTSTART:20260104T164500Z RRULE:FREQ=WEEKLY;BYDAY=SU", DefaultPolicy("web", nil).RRule)
	s, err := p.Schedule()
	require.NoError(t, err)
	assert.Equal(t, 4*time.Hour, s.Window())
}

// TestDefaultPolicySpread: 2,000 targets spread over the weekend: every start inside
// Saturday 00:00–Sunday 20:00 in the zone, its window over by Monday, and each of the
// eleven 4-hour slices of the span gets its share (within 30%).
func TestDefaultPolicySpread(t *testing.T) {
	t.Parallel()
	sofia, err := time.LoadLocation("Europe/Sofia")
	require.NoError(t, err)
	const n = 2000
	buckets := make([]int, int(weekendSpan/(4*time.Hour)))
	seen := map[string]bool{}
	after := utc("2026-11-23T00:00:00Z") // a Monday
	for i := range n {
		p := DefaultPolicy(fmt.Sprintf("server-%05d", i), sofia)
		s, err := p.Schedule()
		require.NoError(t, err, p.RRule)
		run := s.Next(after, 1)[0]
		st := run.Start.In(sofia)
		require.Contains(t, []time.Weekday{time.Saturday, time.Sunday}, st.Weekday(), p.RRule)
		sat := time.Date(2026, 11, 28, 0, 0, 0, 0, sofia)
		off := st.Sub(sat)
		require.True(t, off >= 0 && off < weekendSpan, "%s starts %s", p.RRule, st)
		require.True(t, run.End.Before(time.Date(2026, 11, 30, 0, 0, 1, 0, sofia)), "window ends %s", run.End)
		require.Zero(t, st.Minute()%5)
		buckets[int(off/(4*time.Hour))]++
		seen[st.Format("Mon 15:04")] = true
		require.True(t, strings.HasPrefix(p.RRule, "DTSTART;TZID=Europe/Sofia:2026010"))
	}
	want := float64(n) / float64(len(buckets))
	for i, got := range buckets {
		assert.InDelta(t, want, float64(got), 0.3*want, "slice %d (%s after Saturday 00:00): %d starts", i, time.Duration(i)*4*time.Hour, got)
	}
	assert.Greater(t, len(seen), 400, "distinct start times of 528 possible")
}

func TestWindowClosedIsComparable(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("rebuild web: %w", CheckStep(Run{End: utc("2026-01-01T00:00:00Z")}, utc("2026-01-02T00:00:00Z"), "x"))
	assert.True(t, errors.Is(err, ErrWindowClosed))
}

// TestScheduleConcurrentUse: one schedule asked from many goroutines (the daemon's tick and
// an API request at once) gives the same answers; run with -race.
func TestScheduleConcurrentUse(t *testing.T) {
	t.Parallel()
	s := mustSchedule(t, "DTSTART;TZID=Europe/Sofia:20200803T134000 RRULE:FREQ=WEEKLY;BYDAY=SA EXDATE;TZID=Europe/Sofia:20261205T134000", 4*time.Hour)
	after := utc("2026-11-27T12:00:00Z")
	want := startsUTC(s.Next(after, 3))
	assert.Equal(t, []string{"2026-11-28T11:40:00Z", "2026-12-12T11:40:00Z", "2026-12-19T11:40:00Z"}, want, "EXDATE honoured")
	done := make(chan []string)
	for i := range 8 {
		go func() {
			at := after.Add(time.Duration(i) * 24 * time.Hour * 30)
			s.Between(at, at.Add(30*24*time.Hour))
			s.CatchUp(at, at.Add(48*time.Hour))
			done <- startsUTC(s.Next(after, 3))
		}()
	}
	for range 8 {
		assert.Equal(t, want, <-done)
	}
}
