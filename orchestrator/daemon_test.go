package orchestrator

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
)

// A schedule fires at its due time by the daemon's (injected) clock: nothing before,
// one job at the start of the run, nothing again within the same run; a run missed while
// no daemon was up is recorded missed; a run due while the target is busy is skipped.
func TestScheduleFiresAtDueTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 0, &testHandler{}) // insert-only: jobs stay queued
	sched, err := ParseSchedule("DTSTART:20260105T030000Z\nRRULE:FREQ=DAILY", 2*time.Hour)
	require.NoError(t, err)
	d := &Daemon{Queue: q, Store: st, Schedules: []NamedSchedule{{Name: "nightly", Schedule: sched, Kind: "test", Action: "rebuild", Target: "web"}}}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm
	}

	require.NoError(t, d.FireSchedules(ctx, at("2026-01-10T01:00:00Z"))) // first seen: registered from now
	require.NoError(t, d.FireSchedules(ctx, at("2026-01-10T02:59:59Z")))
	jobs, err := q.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Empty(t, jobs, "nothing is due before 03:00")

	require.NoError(t, d.FireSchedules(ctx, at("2026-01-10T03:00:00Z")))
	require.NoError(t, d.FireSchedules(ctx, at("2026-01-10T03:00:01Z")))
	jobs, err = q.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs, 1, "one job per run")
	require.Equal(t, "nightly", jobs[0].Schedule)
	require.Equal(t, "web", jobs[0].Target)
	require.Equal(t, StatusQueued, jobs[0].Status)
	require.Equal(t, at("2026-01-10T03:00:00Z"), jobs[0].Run.Start.UTC())
	require.Equal(t, at("2026-01-10T05:00:00Z"), jobs[0].Run.End.UTC())

	// The daemon was down for two days; the 12th's run is still in its window, the 11th's
	// is missed. The target is still busy with the job of the 10th: the run is skipped.
	require.NoError(t, d.FireSchedules(ctx, at("2026-01-12T04:00:00Z")))
	runs, err := st.ScheduleRuns(ctx, "nightly")
	require.NoError(t, err)
	require.Len(t, runs, 3)
	require.Equal(t, store.RunFired, runs[0].Outcome)
	require.Equal(t, jobs[0].ID, runs[0].JobID)
	require.Equal(t, store.RunMissed, runs[1].Outcome)
	require.Equal(t, at("2026-01-11T03:00:00Z"), runs[1].Start.UTC())
	require.Equal(t, store.RunSkipped, runs[2].Outcome)
	require.Contains(t, runs[2].Reason, "target web is busy")

	// Once the target is free, the next run fires.
	_, err = q.Cancel(ctx, jobs[0].ID)
	require.NoError(t, err)
	require.NoError(t, d.FireSchedules(ctx, at("2026-01-13T03:30:00Z")))
	jobs, err = q.List(ctx, ListOptions{Status: StatusQueued})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, at("2026-01-13T03:00:00Z"), jobs[0].Run.Start.UTC())
}

// The job endpoints through the HTTP client behind the token guard: no token (401),
// insert (recorded as the token's), duplicate (409), bad request (400), not found (404),
// list, get, cancel (logged with the token's name).
func TestJobAPIThroughClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 0, &testHandler{})
	tokens := &auth.Tokens{Store: st}
	secret, _, err := tokens.Create(ctx, "ci", false, "test")
	require.NoError(t, err)
	srv := httptest.NewServer((&auth.Guard{Auth: tokens}).Wrap(APIHandler(Local{q}, nil)))
	t.Cleanup(srv.Close)
	_, err = (&Client{Base: srv.URL}).List(ctx, ListOptions{})
	require.ErrorContains(t, err, "unauthorized: a valid bearer token is required (set $REMINT_TOKEN or --token")
	c := &Client{Base: srv.URL, Token: secret}

	j, err := c.Insert(ctx, JobRequest{Kind: "test", Target: "web", Options: json.RawMessage(`{"fail":"x"}`), RequestedBy: "someone else"})
	require.NoError(t, err)
	require.Equal(t, StatusQueued, j.Status)
	require.Equal(t, "token ci", j.RequestedBy, "the token, not what the client claims")

	_, err = c.Insert(ctx, JobRequest{Kind: "test", Target: "web"})
	var dup *DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, j.ID, dup.Existing.ID)

	_, err = c.Insert(ctx, JobRequest{Kind: "nope", Target: "web"})
	var bad BadRequestError
	require.ErrorAs(t, err, &bad)
	require.Contains(t, err.Error(), `job kind "nope"`)

	_, err = c.Get(ctx, 4242)
	require.ErrorIs(t, err, ErrJobNotFound)

	list, err := c.List(ctx, ListOptions{Status: StatusQueued})
	require.NoError(t, err)
	require.Len(t, list, 1)

	got, err := c.Get(ctx, j.ID)
	require.NoError(t, err)
	require.NotEmpty(t, got.Events)

	evs, err := c.Events(ctx, j.ID, 0)
	require.NoError(t, err)
	require.Equal(t, len(got.Events), len(evs.Events))
	require.Equal(t, 1, evs.Events[0].Seq)
	require.Equal(t, got.Events[0].Message, evs.Events[0].Message)
	require.False(t, evs.Done)

	got, err = c.Cancel(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, StatusCancelled, got.Status)
	require.Equal(t, "cancel requested by token ci", got.Events[len(got.Events)-1].Message)

	// Only the events after the ones read: the cancel.
	more, err := c.Events(ctx, j.ID, evs.Next)
	require.NoError(t, err)
	require.True(t, more.Done)
	require.Len(t, more.Events, 1)
	require.Equal(t, evs.Next+1, more.Events[0].Seq)
	require.Equal(t, "cancel requested by token ci", more.Events[0].Message)
	far, err := c.Events(ctx, j.ID, 1000)
	require.NoError(t, err)
	require.Empty(t, far.Events)
	require.Equal(t, more.Next, far.Next, "next never points past the log")
	_, err = c.Events(ctx, j.ID, -1)
	require.ErrorAs(t, err, &bad)
	require.ErrorContains(t, err, "after \"-1\"")
}

// Retention runs once per period per family, by the daemon's clock, remembered across
// daemons (the store), and waits while the family has an unfinished job.
func TestDaemonRetentionEveryPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := store.Open(ctx, path)
	require.NoError(t, err)
	defer st.Close()
	q, err := NewQueue(ctx, st, Registry{KindImageRetention: ImageRetentionHandler{
		Families: func(name string) (int, bool) { return 2, name == "debian-12" || name == "debian-13" },
		Retire:   func(context.Context, string, int) ([]string, error) { return nil, nil },
	}}, QueueConfig{})
	require.NoError(t, err)
	d := &Daemon{Queue: q, Store: st, RetentionFamilies: []string{"debian-12", "debian-13"}, RetentionEvery: 24 * time.Hour}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	count := func() int {
		list, err := q.List(ctx, ListOptions{})
		require.NoError(t, err)
		return len(list)
	}
	require.NoError(t, d.Retention(ctx, t0))
	require.Equal(t, 2, count(), "one job per family at first start")
	require.NoError(t, d.Retention(ctx, t0.Add(time.Hour)))
	require.Equal(t, 2, count())
	list, err := q.List(ctx, ListOptions{})
	require.NoError(t, err)
	for _, j := range list {
		_, err := q.Cancel(ctx, j.ID)
		require.NoError(t, err)
	}
	// A new daemon on the same store remembers when retention last ran.
	d2 := &Daemon{Queue: q, Store: st, RetentionFamilies: []string{"debian-12", "debian-13"}, RetentionEvery: 24 * time.Hour}
	require.NoError(t, d2.Retention(ctx, t0.Add(23*time.Hour)))
	require.Equal(t, 2, count())
	require.NoError(t, d2.Retention(ctx, t0.Add(24*time.Hour)))
	require.Equal(t, 4, count())
	list, err = q.List(ctx, ListOptions{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "daemon (retention, every 24h0m0s)", list[0].RequestedBy)
	// Those two are still queued a day later: no second job on the family, and the run
	// is not marked done, so it comes once the family is free.
	require.NoError(t, d2.Retention(ctx, t0.Add(48*time.Hour)))
	require.Equal(t, 4, count())
	_, err = q.Cancel(ctx, list[0].ID)
	require.NoError(t, err)
	require.NoError(t, d2.Retention(ctx, t0.Add(49*time.Hour)))
	require.Equal(t, 5, count())
}
