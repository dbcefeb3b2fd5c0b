package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remint-dev/remint/internal/store/pgtest"
)

// Two processes opening a new state file at the same moment must not both apply
// migration 1 ("table rollouts already exists"): each Open is its own connection pool,
// as in two processes.
func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "state.db")
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(context.Background(), path)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, err)
			}
		}
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.SchemaVersion(context.Background())
		s.Close()
		if err != nil || v != len(migrations) {
			t.Fatalf("schema version %d (%v), want %d", v, err, len(migrations))
		}
	}
}

// A state database at schema 7 (main before schedule runs were unique) whose runs were
// recorded twice by two daemons at once migrates: one record per run is kept, the fired
// one over a skipped one, then the earliest; other rows stay, and so does a lease (held
// for no job). On SQLite and PostgreSQL.
func TestMigrateDedupesScheduleRuns(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testMigrateDedupesScheduleRuns(t, filepath.Join(t.TempDir(), "state.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts PostgreSQL")
		}
		testMigrateDedupesScheduleRuns(t, pgtest.Start(t))
	})
}

func testMigrateDedupesScheduleRuns(t *testing.T, path string) {
	ctx := context.Background()
	// Schema 7 as main's Open left it, with the runs main's daemons could record.
	old := migrations
	migrations = migrations[:7]
	s, err := Open(ctx, path)
	migrations = old
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		schedule, start, outcome string
		job                      int
	}{
		{"weekend-web", "2026-11-28T02:00:00Z", "skipped", 0}, // 1: dropped, 2 fired
		{"weekend-web", "2026-11-28T02:00:00Z", "fired", 7},   // 2: kept
		{"weekend-web", "2026-11-28T02:00:00Z", "fired", 8},   // 3: dropped, 2 is earlier
		{"weekend-web", "2026-11-21T02:00:00Z", "missed", 0},  // 4: kept
		{"weekend-web", "2026-11-21T02:00:00Z", "missed", 0},  // 5: dropped
		{"weekend-db", "2026-11-28T02:00:00Z", "skipped", 0},  // 6: kept, another schedule
		{"weekend-db", "2026-11-29T02:00:00Z", "fired", 9},    // 7: kept
	}
	for _, r := range rows {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO schedule_runs (schedule, target, run_start, run_end, outcome, job_id, reason, recorded_at)
			VALUES (?, 'web', ?, '', ?, ?, '', '2026-11-28T02:00:01Z')`, r.schedule, r.start, r.outcome, r.job); err != nil {
			t.Fatal(err)
		}
	}
	// A lease taken by main's code (no job column yet).
	if _, err := s.db.ExecContext(ctx, `INSERT INTO leases (lease_key, token, host, pid, command, started_at, acquired_at, renewed_at, expires_at)
		VALUES ('group/web', 't', 'hostx', 1234, 'remint rebuild web', '', '2026-11-28T02:00:00Z', '2026-11-28T02:00:00Z', '2026-11-28T02:00:30Z')`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("a schema 7 database with duplicate runs does not migrate: %v", err)
	}
	defer s.Close()
	if l, err := s.GetLease(ctx, "group/web"); err != nil || l.Holder.Command != "remint rebuild web" || l.Holder.Job != 0 {
		t.Fatalf("lease after migration: %+v, %v; want main's lease, held for no job", l, err)
	}
	runs, err := s.ScheduleRuns(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%d %s %s %s %d", r.ID, r.Schedule, r.Start.Format(time.RFC3339), r.Outcome, r.JobID))
	}
	want := []string{
		"2 weekend-web 2026-11-28T02:00:00Z fired 7",
		"4 weekend-web 2026-11-21T02:00:00Z missed 0",
		"6 weekend-db 2026-11-28T02:00:00Z skipped 0",
		"7 weekend-db 2026-11-29T02:00:00Z fired 9",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("runs after migration:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := s.RecordScheduleRun(ctx, nil, ScheduleRun{Schedule: "weekend-web", Target: "web", Start: time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC),
		Outcome: RunSkipped}); !errors.Is(err, ErrRunRecorded) {
		t.Fatalf("recording a run recorded already: %v, want ErrRunRecorded", err)
	}
}
