package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/store"
	"github.com/remint-dev/remint/internal/store/pgtest"
)

// testHandler is a job kind for tests: it records decisions and counts, and fails,
// blocks or succeeds as its options say.
type testHandler struct {
	runs    atomic.Int32
	started chan int64 // receives the job id when a run starts, if set
}

type testOptions struct {
	Fail  string `json:"fail,omitempty"`
	Block bool   `json:"block,omitempty"`
}

func (h *testHandler) Check(target string, options json.RawMessage) error {
	var o testOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	if strings.Contains(target, " ") {
		return fmt.Errorf("target %q: no spaces", target)
	}
	return nil
}

func (h *testHandler) Run(ctx context.Context, w *Work) error {
	h.runs.Add(1)
	var o testOptions
	_ = json.Unmarshal(w.Record.Options, &o)
	if h.started != nil {
		h.started <- w.ID
	}
	w.Decide(ctx, "test: nothing to decide for "+w.Target)
	if o.Block {
		<-ctx.Done()
		return fmt.Errorf("blocked job stopped: %w", ctx.Err())
	}
	if o.Fail != "" {
		w.Count(ctx, 1, 2)
		return errors.New(o.Fail)
	}
	w.Rollout(ctx, "r-1")
	w.Count(ctx, 3, 0)
	return nil
}

func openTestQueue(t *testing.T, path string, workers int, h Handler) (*store.Store, *Queue) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := NewQueue(ctx, st, Registry{"test": h}, QueueConfig{Workers: workers, PollInterval: 20 * time.Millisecond, LeaseTTL: 500 * time.Millisecond,
		Holder: store.LeaseHolder{Host: "test", PID: 1, Command: "test"}})
	require.NoError(t, err)
	return st, q
}

func waitStatus(t *testing.T, q *Queue, id int64, want string) Job {
	t.Helper()
	var j Job
	require.Eventually(t, func() bool {
		var err error
		j, err = q.Get(context.Background(), id)
		require.NoError(t, err)
		return j.Status == want
	}, 20*time.Second, 20*time.Millisecond, "job %d never became %s", id, want)
	return j
}

func TestJobInsertedWorkedSucceeded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := &testHandler{}
	_, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 2, h)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })

	j, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "group/web", RequestedBy: "cli"}, nil)
	require.NoError(t, err)
	require.Equal(t, "test", j.Kind)
	require.Equal(t, "group/web", j.Target)

	j = waitStatus(t, q, j.ID, StatusSucceeded)
	require.Equal(t, 3, j.Installed)
	require.Equal(t, 0, j.Failed)
	require.Equal(t, []string{"test: nothing to decide for group/web"}, j.Decisions)
	require.Equal(t, []string{"r-1"}, j.Rollouts)
	require.NotNil(t, j.Started)
	require.NotNil(t, j.Ended)
	require.False(t, j.Ended.Before(*j.Started))
	var msgs []string
	for _, e := range j.Events {
		msgs = append(msgs, e.Message)
	}
	require.Equal(t, []string{
		"queued: test group/web, requested by cli",
		"running test group/web",
		"decision: test: nothing to decide for group/web",
		"succeeded: 3 installed, 0 failed",
	}, msgs)
	require.Equal(t, int32(1), h.runs.Load())
}

func TestJobFailureReasonAndRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := &testHandler{}
	_, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 1, h)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })

	j, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "group/db", Options: json.RawMessage(`{"fail":"slot 2 unhealthy"}`)}, nil)
	require.NoError(t, err)
	j = waitStatus(t, q, j.ID, StatusFailed)
	require.Equal(t, "slot 2 unhealthy", j.Reason)
	require.Equal(t, 1, j.Installed)
	require.Equal(t, 2, j.Failed)

	j, err = q.Retry(ctx, j.ID)
	require.NoError(t, err)
	j = waitStatus(t, q, j.ID, StatusFailed)
	require.Equal(t, 2, j.Attempt)
	require.Equal(t, int32(2), h.runs.Load())
}

func TestJobOnePerTargetAndCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := &testHandler{started: make(chan int64, 4)}
	_, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 2, h)
	require.NoError(t, q.Start(ctx))
	t.Cleanup(func() { q.Stop(context.Background()) })

	first, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "group/web", Options: json.RawMessage(`{"block":true}`)}, nil)
	require.NoError(t, err)
	<-h.started
	_, err = q.Insert(ctx, JobRequest{Kind: "test", Target: "group/web"}, nil)
	var dup *DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, first.ID, dup.Existing.ID)
	require.Contains(t, err.Error(), "already has unfinished job")

	other, err := q.Insert(ctx, JobRequest{Kind: "test", Target: "group/db"}, nil)
	require.NoError(t, err, "another target is not blocked")
	waitStatus(t, q, other.ID, StatusSucceeded)

	_, err = q.Cancel(ctx, first.ID)
	require.NoError(t, err)
	j := waitStatus(t, q, first.ID, StatusCancelled)
	require.Contains(t, j.Reason, "cancelled")

	// Bad input never reaches the queue.
	_, err = q.Insert(ctx, JobRequest{Kind: "nope", Target: "x"}, nil)
	var bad BadRequestError
	require.ErrorAs(t, err, &bad)
	_, err = q.Insert(ctx, JobRequest{Kind: "test", Target: "a b"}, nil)
	require.ErrorAs(t, err, &bad)
	_, err = q.Get(ctx, 999)
	require.ErrorIs(t, err, ErrJobNotFound)
}

// A job whose process died mid-run (its lease stops being renewed) is rescued by another
// queue on the same file and runs to the end once more, never at the same time.
func TestJobRescuedAfterWorkerDied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	h1 := &testHandler{started: make(chan int64, 1)}
	_, q1 := openTestQueue(t, path, 1, h1)
	require.NoError(t, q1.Start(ctx))
	j, err := q1.Insert(ctx, JobRequest{Kind: "test", Target: "group/web", Options: json.RawMessage(`{"block":false}`)}, nil)
	require.NoError(t, err)
	_ = j
	<-h1.started
	waitStatus(t, q1, j.ID, StatusSucceeded)
	require.NoError(t, q1.Stop(ctx))

	// Simulate a dead worker: a running job with an expired lease and no process.
	st2, q2 := openTestQueue(t, path, 1, &testHandler{})
	k, err := q2.Insert(ctx, JobRequest{Kind: "test", Target: "group/db"}, nil)
	require.NoError(t, err)
	_, err = st2.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now') WHERE id = ?`, k.ID)
	require.NoError(t, err)
	_, err = st2.AcquireLease(ctx, jobLeaseKey(k.ID), store.LeaseHolder{Host: "gone", PID: 42}, time.Millisecond, time.Now())
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	rescued, err := q2.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{k.ID}, rescued)
	require.NoError(t, q2.Start(ctx))
	t.Cleanup(func() { q2.Stop(context.Background()) })
	got := waitStatus(t, q2, k.ID, StatusSucceeded)
	require.Equal(t, 2, got.Attempt)
	var rescuedEvent bool
	for _, e := range got.Events {
		rescuedEvent = rescuedEvent || strings.Contains(e.Message, "rescued: attempt 1 stopped renewing its lease") && strings.Contains(e.Message, "pid 42 on gone")
	}
	require.True(t, rescuedEvent, "events: %+v", got.Events)
}

// The queue on PostgreSQL: a job is worked and succeeds with its events, a second job on
// the target is refused, and a dead worker's job is rescued by a second queue (a second
// daemon on the same database) and finished there.
func TestJobsOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := pgtest.Start(t)
	ctx := context.Background()
	h := &testHandler{started: make(chan int64, 4)}
	st1, q1 := openTestQueue(t, dsn, 2, h)
	require.True(t, st1.Postgres())
	require.NoError(t, q1.Start(ctx))
	j, err := q1.Insert(ctx, JobRequest{Kind: "test", Target: "web", RequestedBy: "cli"}, nil)
	require.NoError(t, err)
	<-h.started
	j = waitStatus(t, q1, j.ID, StatusSucceeded)
	require.Equal(t, 3, j.Installed)
	require.Len(t, j.Events, 4)

	blocked, err := q1.Insert(ctx, JobRequest{Kind: "test", Target: "db", Options: json.RawMessage(`{"block":true}`)}, nil)
	require.NoError(t, err)
	<-h.started
	_, err = q1.Insert(ctx, JobRequest{Kind: "test", Target: "db"}, nil)
	var dup *DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, blocked.ID, dup.Existing.ID)

	// A second daemon on the same database; a job whose worker died (running, lease
	// expired) is rescued there and finished once.
	require.NoError(t, q1.Stop(ctx)) // q1's blocked job is snoozed by the stop
	st2, q2 := openTestQueue(t, dsn, 1, &testHandler{})
	k, err := q2.Insert(ctx, JobRequest{Kind: "test", Target: "cache"}, nil)
	require.NoError(t, err)
	_, err = st2.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, k.ID)
	require.NoError(t, err)
	_, err = st2.AcquireLease(ctx, jobLeaseKey(k.ID), store.LeaseHolder{Host: "gone", PID: 42}, time.Millisecond, time.Now())
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	rescued, err := q2.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{k.ID}, rescued)
	require.NoError(t, q2.Start(ctx))
	t.Cleanup(func() { q2.Stop(context.Background()) })
	got := waitStatus(t, q2, k.ID, StatusSucceeded)
	require.Equal(t, 2, got.Attempt)
}

// List narrows by target and kind and pages by id, newest first, with the status filter
// applied after the target's ids are found.
func TestJobListFilteredAndPaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, q := openTestQueue(t, filepath.Join(t.TempDir(), "state.db"), 1, &testHandler{})
	var web []int64
	for i := range 12 {
		target := "web"
		if i%3 == 0 {
			target = "db"
		}
		j, err := q.Insert(ctx, JobRequest{Kind: "test", Target: target, RequestedBy: "cli"}, nil)
		require.NoError(t, err)
		if target == "web" {
			web = append(web, j.ID)
		}
		_, err = q.Cancel(ctx, j.ID) // one unfinished job per target: end each before the next
		require.NoError(t, err)
	}
	slices.Reverse(web)
	got, err := q.List(ctx, ListOptions{Target: "web", Limit: 5})
	require.NoError(t, err)
	require.Equal(t, web[:5], jobIDs(got))
	got, err = q.List(ctx, ListOptions{Target: "web", Limit: 5, BeforeID: web[4]})
	require.NoError(t, err)
	require.Equal(t, web[5:], jobIDs(got))
	got, err = q.List(ctx, ListOptions{Target: "web", Kinds: []string{"other"}})
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = q.List(ctx, ListOptions{Target: "web", Status: StatusCancelled, Limit: 100})
	require.NoError(t, err)
	require.Equal(t, web, jobIDs(got))
	got, err = q.List(ctx, ListOptions{Target: "web", Status: StatusSucceeded})
	require.NoError(t, err)
	require.Empty(t, got)
}

func jobIDs(js []Job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}
