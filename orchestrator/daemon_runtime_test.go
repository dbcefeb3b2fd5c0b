package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/manifest"
	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
)

type daemonTargets struct{}

func (daemonTargets) FamilyNames() []string         { return []string{"debian-12"} }
func (daemonTargets) GroupNames() []string          { return []string{"db", "web"} }
func (daemonTargets) Replaceable(group string) bool { return group == "web" }

func openRunTimeQueue(t *testing.T, path string) (*store.Store, *Queue) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := NewQueue(ctx, st, Registry{KindUpdate: &testHandler{}, KindRebuild: &testHandler{}}, QueueConfig{
		LeaseTTL: 500 * time.Millisecond, Holder: store.LeaseHolder{Host: "test", PID: 1, Command: "test"}})
	require.NoError(t, err)
	return st, q
}

func queued(t *testing.T, q *Queue) []Job {
	t.Helper()
	list, err := q.List(context.Background(), ListOptions{Status: StatusQueued})
	require.NoError(t, err)
	return list
}

func cancelAll(t *testing.T, q *Queue) {
	t.Helper()
	for _, j := range queued(t, q) {
		_, err := q.Cancel(context.Background(), j.ID)
		require.NoError(t, err)
	}
}

// The daemon fires run-time schedules beside the manifest's and picks up creates,
// updates, disables, enables and deletes while it runs; a new daemon on the same store
// carries on from the stored state (catch-up).
func TestDaemonFiresRunTimeSchedules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st, q := openRunTimeQueue(t, path)
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	clock := t0
	book := &ScheduleBook{Store: st, Static: []string{"nightly"}, Targets: daemonTargets{}, Now: func() time.Time { return clock }}
	nightly, err := NewNamedSchedule("nightly", "DTSTART:20260101T230000Z\nRRULE:FREQ=DAILY", 2*time.Hour, manifest.ActionRebuild, "web", manifest.ScheduleOptions{})
	require.NoError(t, err)
	d := &Daemon{Queue: q, Store: st, Schedules: []NamedSchedule{nightly}, RunTime: true}

	hourly := ScheduleSpec{Name: "db-hourly", RRule: "DTSTART:20260101T000000Z\nRRULE:FREQ=HOURLY", Window: time.Hour, Enabled: true,
		Action: manifest.ActionUpdate, Target: "db", Options: manifest.ScheduleOptions{ApplySecurityUpgrades: true}}
	def, err := book.Create(ctx, hourly, "test")
	require.NoError(t, err)
	_, err = book.Create(ctx, ScheduleSpec{Name: "nightly", RRule: hourly.RRule, Window: time.Hour, Enabled: true, Action: "update", Target: "db"}, "test")
	require.ErrorContains(t, err, "the manifest defines a schedule of that name")

	require.NoError(t, d.FireSchedules(ctx, t0.Add(time.Minute)))
	require.Empty(t, queued(t, q), "created at 00:00: the 00:00 run is not caught up")
	require.NoError(t, d.FireSchedules(ctx, t0.Add(time.Hour)))
	jobs := queued(t, q)
	require.Len(t, jobs, 1)
	require.Equal(t, "db-hourly", jobs[0].Schedule)
	require.Equal(t, KindUpdate, jobs[0].Kind)
	require.Equal(t, "schedule db-hourly", jobs[0].RequestedBy)
	var o InPlaceOptions
	require.NoError(t, json.Unmarshal(jobs[0].Options, &o))
	require.True(t, o.ApplySecurityUpgrades, "the schedule's options reach the job")
	cancelAll(t, q)

	// Disabled at 01:30: the 02:00 and 03:00 runs do not fire.
	clock = t0.Add(90 * time.Minute)
	_, err = book.SetEnabled(ctx, def.ID, false)
	require.NoError(t, err)
	require.NoError(t, d.FireSchedules(ctx, t0.Add(2*time.Hour)))
	require.NoError(t, d.FireSchedules(ctx, t0.Add(3*time.Hour)))
	require.Empty(t, queued(t, q), "a disabled schedule does not fire")

	// Enabled at 03:30: the 03:00 run is not caught up; 04:00 fires.
	clock = t0.Add(210 * time.Minute)
	_, err = book.SetEnabled(ctx, def.ID, true)
	require.NoError(t, err)
	require.NoError(t, d.FireSchedules(ctx, clock))
	require.Empty(t, queued(t, q))
	require.NoError(t, d.FireSchedules(ctx, t0.Add(4*time.Hour)))
	require.Len(t, queued(t, q), 1)
	cancelAll(t, q)

	// Changed at 04:30 to daily at 06:00 on web: 05:00 does not fire, 06:00 does.
	clock = t0.Add(270 * time.Minute)
	changed := hourly
	changed.RRule, changed.Target, changed.Options = "DTSTART:20260101T060000Z\nRRULE:FREQ=DAILY", "web", manifest.ScheduleOptions{}
	_, err = book.Update(ctx, def.ID, changed)
	require.NoError(t, err)
	require.NoError(t, d.FireSchedules(ctx, t0.Add(5*time.Hour)))
	require.Empty(t, queued(t, q))
	require.NoError(t, d.FireSchedules(ctx, t0.Add(6*time.Hour)))
	jobs = queued(t, q)
	require.Len(t, jobs, 1)
	require.Equal(t, "web", jobs[0].Target)
	cancelAll(t, q)

	// Created while running: picked up at the next tick.
	clock = t0.Add(6*time.Hour + 10*time.Minute)
	_, err = book.Create(ctx, ScheduleSpec{Name: "db-7", RRule: "DTSTART:20260101T070000Z\nRRULE:FREQ=DAILY", Window: time.Hour, Enabled: true,
		Action: manifest.ActionUpdate, Target: "db"}, "test")
	require.NoError(t, err)
	require.NoError(t, d.FireSchedules(ctx, t0.Add(7*time.Hour)))
	jobs = queued(t, q)
	require.Len(t, jobs, 1)
	require.Equal(t, "db-7", jobs[0].Schedule)
	cancelAll(t, q)

	// Deleted: its next run does not fire, its recorded runs stay.
	clock = t0.Add(8 * time.Hour)
	require.NoError(t, book.Delete(ctx, def.ID))
	require.NoError(t, d.FireSchedules(ctx, t0.Add(30*time.Hour)))
	for _, j := range queued(t, q) {
		require.NotEqual(t, "db-hourly", j.Schedule, "a deleted schedule does not fire")
	}
	runs, err := st.ScheduleRuns(ctx, "db-hourly")
	require.NoError(t, err)
	require.Len(t, runs, 3, "the fired runs of the deleted schedule stay in the history")
	cancelAll(t, q)

	// The manifest schedule is handled beside them (its 23:00 run of the 10th is recorded
	// missed at 06:00 on the 11th: its window closed at 01:00).
	manifestRuns, err := st.ScheduleRuns(ctx, "nightly")
	require.NoError(t, err)
	require.NotEmpty(t, manifestRuns)

	// A new daemon (restart) carries on from the stored state: db-7 last fired on the
	// 10th at 07:00, so on the 12th at 07:30 the 11th's run is missed and the 12th's,
	// still inside its window, is caught up.
	d2 := &Daemon{Queue: q, Store: st, Schedules: []NamedSchedule{nightly}, RunTime: true}
	require.NoError(t, d2.FireSchedules(ctx, time.Date(2026, 1, 12, 7, 30, 0, 0, time.UTC)))
	var db7 []Job
	for _, j := range queued(t, q) {
		if j.Schedule == "db-7" {
			db7 = append(db7, j)
		}
	}
	require.Len(t, db7, 1)
	require.Equal(t, time.Date(2026, 1, 12, 7, 0, 0, 0, time.UTC), db7[0].Run.Start.UTC())
	runs, err = st.ScheduleRuns(ctx, "db-7")
	require.NoError(t, err)
	require.Equal(t, store.RunMissed, runs[len(runs)-2].Outcome)
	require.Equal(t, time.Date(2026, 1, 11, 7, 0, 0, 0, time.UTC), runs[len(runs)-2].Start.UTC())
}

// An idle daemon does not touch the store per schedule: with 300 run-time schedules, the
// only query is the schedules' fingerprint, read every ScheduleCheck (5s), not one or
// more queries per schedule per tick.
func TestDaemonIdleTickQueriesDoNotGrowWithSchedules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, q := openRunTimeQueue(t, filepath.Join(t.TempDir(), "state.db"))
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	clock := t0
	book := &ScheduleBook{Store: st, Targets: daemonTargets{}, Now: func() time.Time { return clock }}
	const n = 300
	for i := range n {
		_, err := book.Create(ctx, ScheduleSpec{Name: fmt.Sprintf("s-%03d", i), RRule: fmt.Sprintf("DTSTART;TZID=Europe/Sofia:20250105T%02d%02d00 RRULE:FREQ=WEEKLY;BYDAY=SU", i%24, i%60),
			Window: 4 * time.Hour, Enabled: true, Action: manifest.ActionUpdate, Target: "db"}, "test")
		require.NoError(t, err)
	}
	d := &Daemon{Queue: q, Store: st, RunTime: true}
	require.NoError(t, d.FireSchedules(ctx, t0)) // loads
	before := st.Queries()
	const ticks = 60
	for i := 1; i <= ticks; i++ {
		require.NoError(t, d.FireSchedules(ctx, t0.Add(time.Duration(i)*time.Second)))
	}
	require.Equal(t, int64(ticks/5), st.Queries()-before, "one query per 5s idle with %d schedules", n)
	require.Empty(t, queued(t, q))

	// SchedulesChanged (the API on this daemon) makes the next tick look.
	clock = t0.Add(61 * time.Second)
	_, err := book.Create(ctx, ScheduleSpec{Name: "now", RRule: "DTSTART:20260101T000102Z\nRRULE:FREQ=DAILY", Window: time.Hour, Enabled: true,
		Action: manifest.ActionUpdate, Target: "db"}, "test")
	require.NoError(t, err)
	d.SchedulesChanged()
	require.NoError(t, d.FireSchedules(ctx, t0.Add(62*time.Second)))
	jobs := queued(t, q)
	require.Len(t, jobs, 1)
	require.Equal(t, "now", jobs[0].Schedule)

	// A change by another process is seen within ScheduleCheck: a schedule due at 00:05 fires then.
	clock = t0.Add(2 * time.Minute)
	_, err = book.Create(ctx, ScheduleSpec{Name: "soon", RRule: "DTSTART:20260101T000500Z\nRRULE:FREQ=DAILY", Window: time.Hour, Enabled: true,
		Action: manifest.ActionUpdate, Target: "web"}, "test")
	require.NoError(t, err)
	require.NoError(t, d.FireSchedules(ctx, t0.Add(5*time.Minute)))
	jobs = queued(t, q)
	require.Len(t, jobs, 2)
	require.Equal(t, "soon", jobs[0].Schedule)
}

// Two daemons on one store fire a run-time schedule's run once: the second reads the
// stored last-fired time and records nothing. A schedule deleted by another process just
// before its run is due is not fired, though the daemon's own fingerprint check
// (ScheduleCheck) has not seen the delete yet.
func TestTwoDaemonsFireARunOnceAndNotADeletedSchedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, q := openRunTimeQueue(t, filepath.Join(t.TempDir(), "state.db"))
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	clock := t0
	book := &ScheduleBook{Store: st, Targets: daemonTargets{}, Now: func() time.Time { return clock }}
	def, err := book.Create(ctx, ScheduleSpec{Name: "db-hourly", RRule: "DTSTART:20260101T000000Z\nRRULE:FREQ=HOURLY", Window: time.Hour,
		Enabled: true, Action: manifest.ActionUpdate, Target: "db"}, "test")
	require.NoError(t, err)
	a := &Daemon{Queue: q, Store: st, RunTime: true}
	b := &Daemon{Queue: q, Store: st, RunTime: true}
	require.NoError(t, a.FireSchedules(ctx, t0.Add(59*time.Minute)))
	require.NoError(t, b.FireSchedules(ctx, t0.Add(59*time.Minute)))

	require.NoError(t, a.FireSchedules(ctx, t0.Add(time.Hour)))
	require.NoError(t, b.FireSchedules(ctx, t0.Add(time.Hour)))
	require.Len(t, queued(t, q), 1, "one job for the 01:00 run")
	runs, err := st.ScheduleRuns(ctx, "db-hourly")
	require.NoError(t, err)
	require.Len(t, runs, 1, "the 01:00 run is recorded once (fired), not also skipped by the second daemon")
	require.Equal(t, store.RunFired, runs[0].Outcome)
	cancelAll(t, q)

	// Deleted at 01:59:58 by another process; a looked at 01:59:57, so its fingerprint
	// check (every 5s) is not due at 02:00.
	require.NoError(t, a.FireSchedules(ctx, t0.Add(2*time.Hour-3*time.Second)))
	require.NoError(t, book.Delete(ctx, def.ID))
	require.NoError(t, a.FireSchedules(ctx, t0.Add(2*time.Hour)))
	require.Empty(t, queued(t, q), "a deleted schedule does not fire")
	runs, err = st.ScheduleRuns(ctx, "db-hourly")
	require.NoError(t, err)
	require.Len(t, runs, 1, "nothing is recorded for the deleted schedule's 02:00 run")
	require.NoError(t, a.FireSchedules(ctx, t0.Add(3*time.Hour)))
	require.Empty(t, queued(t, q))
}

// Two daemons (each its own store and queue on one database) that read a due run's
// state at the same instant: the first fires it; the second finds the run recorded and
// neither records it again (as skipped: the target is busy with the first's job) nor
// fires a second job (when the first job has finished already, so the target is free).
// On SQLite and PostgreSQL.
func TestTwoDaemonsReadingARunAtOnceFireItOnce(t *testing.T) {
	t.Parallel()
	for _, finished := range []bool{false, true} {
		name := map[bool]string{false: "first job running", true: "first job finished"}[finished]
		t.Run(name+"/sqlite", func(t *testing.T) {
			t.Parallel()
			testTwoDaemonsAtOnce(t, filepath.Join(t.TempDir(), "state.db"), finished)
		})
		t.Run(name+"/postgres", func(t *testing.T) {
			if testing.Short() {
				t.Skip("starts PostgreSQL")
			}
			t.Parallel()
			testTwoDaemonsAtOnce(t, pgtest.Start(t), finished)
		})
	}
}

func testTwoDaemonsAtOnce(t *testing.T, path string, finished bool) {
	ctx := context.Background()
	daemon := func() (*store.Store, *Queue, *Daemon) {
		st, err := store.Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		workers := 0
		if finished {
			workers = 1
		}
		q, err := NewQueue(ctx, st, Registry{KindUpdate: &testHandler{}}, QueueConfig{Workers: workers, PollInterval: 20 * time.Millisecond,
			LeaseTTL: 500 * time.Millisecond, Holder: store.LeaseHolder{Host: "test", PID: 1, Command: "test"}})
		require.NoError(t, err)
		if finished {
			require.NoError(t, q.Start(ctx))
			t.Cleanup(func() { q.Stop(context.Background()) })
		}
		return st, q, &Daemon{Queue: q, Store: st, RunTime: true}
	}
	st, qa, a := daemon()
	_, _, b := daemon()
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	book := &ScheduleBook{Store: st, Targets: daemonTargets{}, Now: func() time.Time { return t0 }}
	_, err := book.Create(ctx, ScheduleSpec{Name: "db-hourly", RRule: "DTSTART:20260101T000000Z\nRRULE:FREQ=HOURLY", Window: time.Hour,
		Enabled: true, Action: manifest.ActionUpdate, Target: "db"}, "test")
	require.NoError(t, err)
	require.NoError(t, a.FireSchedules(ctx, t0.Add(59*time.Minute)))
	require.NoError(t, b.FireSchedules(ctx, t0.Add(59*time.Minute)))

	// b has read the 01:00 run's state (not handled yet) when a fires it.
	due := t0.Add(time.Hour)
	b.afterStateRead = func() {
		b.afterStateRead = nil
		require.NoError(t, a.FireSchedules(ctx, due))
		if finished {
			jobs, err := qa.List(ctx, ListOptions{})
			require.NoError(t, err)
			require.Len(t, jobs, 1)
			waitStatus(t, qa, jobs[0].ID, StatusSucceeded)
		}
	}
	require.NoError(t, b.FireSchedules(ctx, due))
	require.NoError(t, b.FireSchedules(ctx, due.Add(time.Second)))

	jobs, err := qa.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs, 1, "one job for the 01:00 run")
	runs, err := st.ScheduleRuns(ctx, "db-hourly")
	require.NoError(t, err)
	require.Len(t, runs, 1, "the 01:00 run is recorded once: %+v", runs)
	require.Equal(t, store.RunFired, runs[0].Outcome)
	require.Equal(t, jobs[0].ID, runs[0].JobID)
}
