package orchestrator

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/store"
)

// vmRSS is the process's resident set size in bytes (/proc/self/status VmRSS).
func vmRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb * 1024
		}
	}
	return -1
}

// goHeap is the Go heap in use (live and not yet collected objects), in bytes.
func goHeap() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64())
}

// BenchmarkDaemonIdle10k is issue 9's daemon figure: a daemon with 10,000 run-time
// schedules in its SQLite store, idle (no run due) for $REMINT_BENCH_IDLE (default 20s)
// of 1s ticks. Printed: the CPU it used as a fraction of one core (goal < 1%), its RSS
// (goal < 100 MB) and Go heap, the store queries per tick, and the start: loading and
// parsing the 10,000 schedules and computing their next runs, and of that the cost of
// time.LoadLocation for their TZIDs uncached (rrule-go loads the zone for every rule;
// manifest.ParseRRule caches zones by name, so the start pays it once per zone). The
// same idle daemon on an empty store is measured too (%core-idle-0-schedules): River's
// job polling and the rescue, which the schedules do not add to.
func BenchmarkDaemonIdle10k(b *testing.B) {
	const n = 10_000
	idle := 20 * time.Second
	if v := os.Getenv("REMINT_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("REMINT_BENCH_IDLE %q: %v", v, err)
		}
		idle = d
	}
	// $REMINT_BENCH_POLL sets River's poll interval (default: the queue's 500ms, as
	// remint serve runs it); River's SQLite driver polls for jobs and notifications.
	var poll time.Duration
	if v := os.Getenv("REMINT_BENCH_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("REMINT_BENCH_POLL %q: %v", v, err)
		}
		poll = d
	}
	ctx := context.Background()
	rules := benchRules(n)
	for range b.N {
		b.StopTimer()
		st, err := store.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		created := time.Now().Add(-time.Minute) // no run due yet: the start measured is load, parse, next runs
		for i, r := range rules {
			if _, err := st.CreateSchedule(ctx, store.ScheduleDef{Name: fmt.Sprintf("s-%05d", i), RRule: r, Window: 4 * time.Hour, Enabled: true,
				Action: "update", Target: fmt.Sprintf("group-%d", i%500), Options: []byte("{}"), CreatedBy: "bench"}, created); err != nil {
				b.Fatal(err)
			}
		}
		q, err := NewQueue(ctx, st, Registry{KindUpdate: &testHandler{}}, QueueConfig{Workers: 2, PollInterval: poll, LeaseTTL: 30 * time.Second,
			Holder: store.LeaseHolder{Host: "bench", PID: 1, Command: "bench"}})
		if err != nil {
			b.Fatal(err)
		}

		// The start: what a restart costs.
		runtime.GC()
		d := &Daemon{Queue: q, Store: st, RunTime: true, Tick: time.Second}
		cpu0, w0 := cpuTime(), time.Now()
		if err := d.FireSchedules(ctx, time.Now()); err != nil {
			b.Fatal(err)
		}
		loadWall, loadCPU := time.Since(w0), cpuTime()-cpu0
		if len(d.book.entries) != n {
			b.Fatalf("daemon loaded %d schedules, want %d", len(d.book.entries), n)
		}
		zones := map[string]bool{}
		l0 := time.Now()
		for i := range n {
			zone := []string{"Europe/Sofia", "Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo"}[i%5]
			zones[zone] = true
			if _, err := time.LoadLocation(zone); err != nil {
				b.Fatal(err)
			}
		}
		loadLocation := time.Since(l0)

		// Idle: the daemon's loop (rescue, schedules, keep-old, retention) for idle.
		cpu, wall, queries := idleDaemon(b, d, st, idle)
		rss, heap := vmRSS(), goHeap()
		st.Close()
		// The same on an empty store: what River's job polling and the rescue cost alone.
		st0, err := store.Open(ctx, filepath.Join(b.TempDir(), "empty.db"))
		if err != nil {
			b.Fatal(err)
		}
		q0, err := NewQueue(ctx, st0, Registry{KindUpdate: &testHandler{}}, QueueConfig{Workers: 2, PollInterval: poll, LeaseTTL: 30 * time.Second,
			Holder: store.LeaseHolder{Host: "bench", PID: 1, Command: "bench"}})
		if err != nil {
			b.Fatal(err)
		}
		cpu0, wall0, _ := idleDaemon(b, &Daemon{Queue: q0, Store: st0, RunTime: true, Tick: time.Second}, st0, idle)
		st0.Close()
		b.ReportMetric(float64(cpu0)/float64(wall0)*100, "%core-idle-0-schedules")

		b.ReportMetric(float64(cpu)/float64(wall)*100, "%core-idle")
		b.ReportMetric(rss/1e6, "MB-rss")
		b.ReportMetric(heap/1e6, "MB-goheap")
		b.ReportMetric(float64(queries)/wall.Seconds(), "store-queries/s-idle")
		b.ReportMetric(loadWall.Seconds(), "s-start-10k")
		b.ReportMetric(loadCPU.Seconds(), "cpu-s-start-10k")
		b.ReportMetric(loadLocation.Seconds(), "s-LoadLocation-10k-uncached")
		b.ReportMetric(float64(len(zones)), "zones")
	}
}

// idleDaemon runs d for idle (after 2s to start) and returns the CPU the process used,
// the wall time and the store queries sent meanwhile.
func idleDaemon(b *testing.B, d *Daemon, st *store.Store, idle time.Duration) (cpu, wall time.Duration, queries int64) {
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	time.Sleep(2 * time.Second) // started
	runtime.GC()
	cpu0, w0, q0 := cpuTime(), time.Now(), st.Queries()
	b.StartTimer()
	if f := os.Getenv("REMINT_BENCH_IDLE_CPUPROFILE"); f != "" && d.RunTime && len(d.book.entries) > 0 {
		pf, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		time.Sleep(idle)
		pprof.StopCPUProfile()
		pf.Close()
	} else {
		time.Sleep(idle)
	}
	b.StopTimer()
	cpu, wall, queries = cpuTime()-cpu0, time.Since(w0), st.Queries()-q0
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return cpu, wall, queries
}
