package orchestrator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
)

// naiveNext walks the rule as written from its DTSTART: the reference answer.
func naiveNext(t testing.TB, rule string, after time.Time, n int) []time.Time {
	t.Helper()
	set, err := manifest.ParseRRule(rule)
	require.NoError(t, err, rule)
	var out []time.Time
	next := set.Iterator()
	for len(out) < n {
		o, ok := next()
		if !ok {
			break
		}
		if o.After(after) {
			out = append(out, o)
		}
	}
	return out
}

var testZones = []string{"UTC", "Europe/Sofia", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "America/Havana"}

// randomRule writes a random rule: every frequency, INTERVAL, WKST, BYDAY with and without
// ordinals, BYMONTHDAY, BYMONTH, BYYEARDAY, BYWEEKNO, BYHOUR/BYMINUTE in the hours DST
// moves, BYSETPOS, UNTIL, COUNT, RDATE and EXDATE, in zones with DST gaps at 02:00, 03:00,
// midnight and of 30 minutes.
func randomRule(r *rand.Rand, after time.Time) string {
	zone := testZones[r.IntN(len(testZones))]
	loc, _ := time.LoadLocation(zone)
	freqs := []string{"YEARLY", "MONTHLY", "MONTHLY", "WEEKLY", "WEEKLY", "WEEKLY", "DAILY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"}
	freq := freqs[r.IntN(len(freqs))]
	// How far back DTSTART goes: years for the slow frequencies, less for the fast ones
	// (the reference walk must stay affordable).
	back := map[string]time.Duration{
		"YEARLY": 40 * 365 * 24 * time.Hour, "MONTHLY": 12 * 365 * 24 * time.Hour, "WEEKLY": 8 * 365 * 24 * time.Hour,
		"DAILY": 6 * 365 * 24 * time.Hour, "HOURLY": 400 * 24 * time.Hour, "MINUTELY": 5 * 24 * time.Hour, "SECONDLY": 40 * time.Hour,
	}[freq]
	dt := after.Add(-time.Duration(r.Int64N(int64(back)))).In(loc)
	// Wall-clock DTSTART, often in the hours DST moves.
	hour := dt.Hour()
	if r.IntN(3) == 0 {
		hour = []int{0, 1, 2, 3, 4, 23}[r.IntN(6)]
	}
	minute := []int{0, 0, 30, 45, dt.Minute()}[r.IntN(5)]
	sec := 0
	if r.IntN(4) == 0 {
		sec = dt.Second()
	}
	start := time.Date(dt.Year(), dt.Month(), dt.Day(), hour, minute, sec, 0, time.UTC)
	var dtstart string
	if zone == "UTC" && r.IntN(2) == 0 {
		dtstart = "DTSTART:" + start.Format("20060102T150405Z")
	} else {
		dtstart = "DTSTART;TZID=" + zone + ":" + start.Format("20060102T150405")
	}

	parts := []string{"FREQ=" + freq}
	if r.IntN(2) == 0 {
		iv := 1 + r.IntN(4)
		if freq == "MINUTELY" || freq == "SECONDLY" {
			iv = []int{7, 13, 45, 90, 600}[r.IntN(5)]
		}
		parts = append(parts, fmt.Sprintf("INTERVAL=%d", iv))
	}
	days := []string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"}
	if r.IntN(3) == 0 {
		parts = append(parts, "WKST="+days[r.IntN(7)])
	}
	nDays := 0
	switch r.IntN(4) {
	case 0, 1:
		var picked []string
		for _, d := range days {
			if r.IntN(3) == 0 {
				picked = append(picked, d)
			}
		}
		if len(picked) == 0 {
			picked = []string{days[r.IntN(7)]}
		}
		if (freq == "MONTHLY" || freq == "YEARLY") && r.IntN(2) == 0 {
			picked = []string{[]string{"1", "2", "-1", "3"}[r.IntN(4)] + picked[0]}
		}
		nDays = len(picked)
		parts = append(parts, "BYDAY="+strings.Join(picked, ","))
	case 2:
		if freq != "WEEKLY" {
			parts = append(parts, "BYMONTHDAY="+[]string{"1", "15", "28", "-1", "1,15", "2,-2"}[r.IntN(6)])
			nDays = 2
		}
	}
	special := freq == "YEARLY" && r.IntN(4) == 0
	if special {
		if r.IntN(2) == 0 {
			parts = append(parts, "BYWEEKNO="+[]string{"1", "20", "-1", "10,30"}[r.IntN(4)])
		} else {
			parts = append(parts, "BYYEARDAY="+[]string{"1", "100", "-1", "60,200"}[r.IntN(4)])
		}
		nDays = 2
	}
	if r.IntN(4) == 0 && freq != "WEEKLY" && !special && !strings.Contains(strings.Join(parts, ";"), "BYMONTHDAY") {
		parts = append(parts, "BYMONTH="+[]string{"3", "10", "3,10", "1,6,11"}[r.IntN(4)])
	}
	if freq != "HOURLY" && freq != "MINUTELY" && freq != "SECONDLY" && r.IntN(3) == 0 {
		parts = append(parts, "BYHOUR="+[]string{"2", "3", "0", "2,14", "1,3,23"}[r.IntN(5)])
		if r.IntN(2) == 0 {
			parts = append(parts, "BYMINUTE="+[]string{"0", "30", "15,45"}[r.IntN(3)])
		}
	}
	if (freq == "HOURLY" || freq == "MINUTELY") && r.IntN(3) == 0 {
		parts = append(parts, "BYHOUR="+[]string{"2", "3", "2,3,4", "0,12"}[r.IntN(4)])
	}
	if r.IntN(4) == 0 && (freq == "MONTHLY" || freq == "YEARLY" || nDays >= 2) {
		parts = append(parts, "BYSETPOS="+[]string{"1", "-1", "2", "1,-1"}[r.IntN(4)])
	}
	switch r.IntN(5) {
	case 0:
		parts = append(parts, fmt.Sprintf("COUNT=%d", 1+r.IntN(60)))
	case 1, 2:
		until := after.Add(time.Duration(r.Int64N(int64(3*365*24*time.Hour))) - 30*24*time.Hour)
		if until.After(start) {
			parts = append(parts, "UNTIL="+until.UTC().Format("20060102T150405Z"))
		}
	}
	rule := dtstart + " RRULE:" + strings.Join(parts, ";")
	if r.IntN(5) == 0 {
		rd := after.Add(time.Duration(r.Int64N(int64(60*24*time.Hour))) - 30*24*time.Hour).UTC().Truncate(time.Minute)
		rule += " RDATE:" + rd.Format("20060102T150405Z")
	}
	return rule
}

// randomAfter is a moment to ask about: anywhere in 2024–2029, often in a DST weekend.
func randomAfter(r *rand.Rand) time.Time {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t := base.Add(time.Duration(r.Int64N(int64(6 * 365 * 24 * time.Hour)))).Truncate(time.Second)
	if r.IntN(3) == 0 {
		// The last Sunday of March or October, give or take two days.
		month := []time.Month{time.March, time.October}[r.IntN(2)]
		last := time.Date(t.Year(), month+1, 0, 0, 0, 0, 0, time.UTC)
		for last.Weekday() != time.Sunday {
			last = last.AddDate(0, 0, -1)
		}
		t = last.Add(time.Duration(r.Int64N(int64(96*time.Hour))) - 48*time.Hour).Truncate(time.Minute)
	}
	return t
}

// TestReanchorMatchesNaive is the property behind re-anchoring: for random rules, zones
// and moments, the next runs from the re-anchored rule are exactly those of the rule
// walked from its original DTSTART. Each seed is a reproducible case.
func TestReanchorMatchesNaive(t *testing.T) {
	t.Parallel()
	seeds := 1000
	if testing.Short() {
		seeds = 200
	}
	anchored, refused := 0, 0
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 9))
		after := randomAfter(r)
		rule := randomRule(r, after)
		// Rules that never fire are refused when parsed (rrule-go would search for their
		// next run forever); the generator makes a few.
		if _, err := manifest.ParseRRule(rule); err != nil {
			require.Contains(t, err.Error(), "never fires", "seed %d: %s", seed, rule)
			refused++
			continue
		}
		// An EXDATE on a run the rule really has, so exclusions are exercised.
		if r.IntN(4) == 0 {
			if next := naiveNext(t, rule, after, 3); len(next) == 3 {
				rule += " EXDATE:" + next[1].UTC().Format("20060102T150405Z")
			}
		}
		s, err := ParseSchedule(rule, 4*time.Hour)
		require.NoError(t, err, "seed %d: %s", seed, rule)
		if s.anchor != nil {
			if _, ok := s.anchor.anchorFor(after); ok {
				anchored++
			}
		}
		want := naiveNext(t, rule, after, 6)
		// Twice: the second answer comes from the cache.
		for pass := range 2 {
			got := s.Next(after, 6)
			require.Len(t, got, len(want), "seed %d pass %d: %s after %s", seed, pass, rule, after)
			for i := range want {
				require.True(t, want[i].Equal(got[i].Start), "seed %d pass %d: %s after %s: run %d is %s, want %s",
					seed, pass, rule, after, i, got[i].Start, want[i])
				require.Equal(t, want[i].Location().String(), got[i].Start.Location().String())
			}
		}
		// Asking about a later moment with the same schedule object must not reuse a
		// stale anchor.
		later := after.Add(time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
		want = naiveNext(t, rule, later, 3)
		got := s.Next(later, 3)
		require.Len(t, got, len(want), "seed %d later: %s after %s", seed, rule, later)
		for i := range want {
			require.True(t, want[i].Equal(got[i].Start), "seed %d later: %s after %s: run %d is %s, want %s", seed, rule, later, i, got[i].Start, want[i])
		}
	}
	// The property is only worth something if most cases really were re-anchored.
	require.Greater(t, anchored, seeds/2, "re-anchored cases")
	require.Less(t, refused, seeds/10, "rules refused as never firing")
	t.Logf("%d rules: %d re-anchored, %d refused as never firing", seeds, anchored, refused)
}

// TestReanchorGapIsRejected: an hourly rule whose grid anchor would fall into Sofia's
// spring-forward gap (03:00–04:00 on 2026-03-29) keeps its grid.
func TestReanchorGapIsRejected(t *testing.T) {
	t.Parallel()
	rule := "DTSTART;TZID=Europe/Sofia:20260301T010000 RRULE:FREQ=HOURLY;INTERVAL=2"
	s, err := ParseSchedule(rule, time.Hour)
	require.NoError(t, err)
	sofia := s.Location()
	for h := range 12 {
		after := time.Date(2026, 3, 30, 3+h, 30, 0, 0, sofia)
		at, ok := s.anchor.anchorFor(after)
		require.True(t, ok)
		require.Equal(t, at, wallClockIn(at), "anchor %s is a real wall-clock time", at)
		want := naiveNext(t, rule, after, 4)
		got := s.Next(after, 4)
		for i := range want {
			require.True(t, want[i].Equal(got[i].Start), "after %s: %s want %s", after, got[i].Start, want[i])
		}
	}
}

func wallClockIn(t time.Time) time.Time {
	w := wallClock(t)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, t.Location())
}
