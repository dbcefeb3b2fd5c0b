package orchestrator

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/manifest"
)

// benchRules is the mix a fleet's schedules look like: default weekend policies (most),
// weekly and monthly rules written years ago in several zones, daily ones.
func benchRules(n int) []string {
	zones := []string{"Europe/Sofia", "Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo"}
	days := []string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"}
	out := make([]string, 0, n)
	for i := range n {
		zone := zones[i%len(zones)]
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			loc, _ := time.LoadLocation(zone)
			out = append(out, DefaultPolicy(fmt.Sprintf("server-%06d", i), loc).RRule)
		case 6, 7:
			out = append(out, fmt.Sprintf("DTSTART;TZID=%s:2020%02d%02dT%02d%02d00 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=%s",
				zone, 1+i%12, 1+i%28, i%24, (i/24)%60, days[i%7]))
		case 8:
			out = append(out, fmt.Sprintf("DTSTART;TZID=%s:2019%02d01T020000 RRULE:FREQ=MONTHLY;BYDAY=1%s", zone, 1+i%12, days[i%7]))
		default:
			out = append(out, fmt.Sprintf("DTSTART;TZID=%s:2021%02d%02dT%02d3000 RRULE:FREQ=DAILY", zone, 1+i%12, 1+i%28, i%24))
		}
	}
	return out
}

func parseAll(b *testing.B, rules []string) []*Schedule {
	out := make([]*Schedule, len(rules))
	for i, r := range rules {
		s, err := ParseSchedule(r, 4*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// forAll runs f over the schedules on every core and returns the wall time and the CPU
// time used. On a shared machine the wall time includes waiting for a core; CPU time
// divided by the cores is what the work costs on idle ones.
func forAll(n int, f func(i int)) (wall, cpu time.Duration) {
	workers := runtime.GOMAXPROCS(0)
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
	return time.Since(start), cpuTime() - cpu0
}

// BenchmarkNextRun100k is issue 9's scheduler figure: the next run of 100,000 schedules
// (goal: 0.5 s on 2 cores). Printed: the first computation (re-anchoring and building the
// rule) as wall time and as CPU seconds per core (the wall time on idle cores), the cached
// one (what a daemon pays on each later tick), the walk from the original DTSTART on a
// 10,000 sample, extrapolated, for comparison, and parsing the 100,000 rules (once, at
// start; mostly time.LoadLocation, which rrule-go calls for every TZID).
func BenchmarkNextRun100k(b *testing.B) {
	const n = 100_000
	rules := benchRules(n)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var first, firstCPU, cached, naive, naiveCPU, parse time.Duration
	for range b.N {
		b.StopTimer()
		p0 := time.Now()
		scheds := parseAll(b, rules)
		parse += time.Since(p0)
		b.StartTimer()
		w, c := forAll(n, func(i int) {
			if len(scheds[i].Next(now, 1)) != 1 {
				panic("no next run: " + rules[i])
			}
		})
		first, firstCPU = first+w, firstCPU+c
		w, _ = forAll(n, func(i int) { scheds[i].Next(now, 1) })
		cached += w
		b.StopTimer()
		const sample = 10_000
		naiveSets := make([]func() (time.Time, bool), sample)
		for i := range sample {
			set, err := manifest.ParseRRule(rules[i*(n/sample)])
			if err != nil {
				b.Fatal(err)
			}
			naiveSets[i] = set.Iterator()
		}
		w, c = forAll(sample, func(i int) {
			for {
				t, ok := naiveSets[i]()
				if !ok || t.After(now) {
					return
				}
			}
		})
		naive, naiveCPU = naive+w*(n/sample), naiveCPU+c*(n/sample)
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(b.N) }
	cores := float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(per(first)/1e9, "s/100k-first")
	b.ReportMetric(per(firstCPU)/1e9/cores, "cpu-s/core/100k-first")
	b.ReportMetric(per(cached)/1e9, "s/100k-cached")
	b.ReportMetric(per(naive)/1e9, "s/100k-naive")
	b.ReportMetric(per(naiveCPU)/1e9/cores, "cpu-s/core/100k-naive")
	b.ReportMetric(per(parse)/1e9, "s/100k-parse-1core")
	b.ReportMetric(cores, "cores")
}

// BenchmarkParseSchedule is the cost of reading one rule (done once per schedule).
func BenchmarkParseSchedule(b *testing.B) {
	rules := benchRules(1000)
	b.ResetTimer()
	for i := range b.N {
		if _, err := ParseSchedule(rules[i%len(rules)], 4*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
