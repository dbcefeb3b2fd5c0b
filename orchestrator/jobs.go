package orchestrator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/remint-dev/remint/internal/auth"
	"github.com/remint-dev/remint/internal/store"
)

// A durable job is one River job of the River kind riverKind, whose args name the remint
// kind (rebuild, retire-kept, image-retention, …) and the target; a Handler registered for
// the kind does the work. River owns the job's state and attempts (river_job, in the state
// file beside the rollouts); the store keeps what users read (store.JobRecord: counts,
// failure reason, decisions, rollouts, event log), inserted in the same transaction.
//
// Never two at once on one target: River refuses a second unfinished job with the same
// target key (UniqueOpts by args), and the handlers that change a group hold its lease.
//
// A job whose process died (kill -9) is not lost: each running attempt holds the lease
// "job/<id>", renewed every TTL/3 and never released; Queue.Rescue makes a running job
// whose lease expired available again, and its handler resumes (a rebuild finishes the
// rollout recorded in the store). A job stopped by SIGTERM is snoozed, not failed: the
// next daemon resumes it.

// riverKind is the one River job kind remint inserts; the remint kind is in the args.
const riverKind = "remint"

// Job statuses users see.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// jobArgs are River's args: only Target (a key such as "group/web") makes a job unique.
type jobArgs struct {
	JobKind string `json:"kind"`
	Target  string `json:"target" river:"unique"`
}

func (jobArgs) Kind() string { return riverKind }

// uniqueStates are the states in which a second job on the same target is refused.
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// JobRequest asks for a job.
type JobRequest struct {
	Kind    string          `json:"kind"`
	Target  string          `json:"target"`
	Options json.RawMessage `json:"options,omitempty"`
	// Schedule and Run say which schedule run fired it (empty when asked by hand).
	Schedule    string `json:"schedule,omitempty"`
	Run         *Run   `json:"run,omitempty"`
	RequestedBy string `json:"requested_by,omitempty"`
}

// Job is a durable job as users see it.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Target      string          `json:"target"`
	Status      string          `json:"status"`
	Attempt     int             `json:"attempt"`
	Options     json.RawMessage `json:"options,omitempty"`
	Schedule    string          `json:"schedule,omitempty"`
	Run         *Run            `json:"run,omitempty"`
	RequestedBy string          `json:"requested_by,omitempty"`
	Created     time.Time       `json:"created"`
	Started     *time.Time      `json:"started,omitempty"`
	Ended       *time.Time      `json:"ended,omitempty"`
	Installed   int             `json:"installed"`
	Failed      int             `json:"failed"`
	Reason      string          `json:"reason,omitempty"`
	Decisions   []string        `json:"decisions"`
	Rollouts    []string        `json:"rollouts"`
	Events      []JobEvent      `json:"events,omitempty"`
}

// JobEvent is one line of a job's event log.
type JobEvent struct {
	Time    time.Time `json:"time"`
	Attempt int       `json:"attempt"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// Handler does the work of one job kind.
type Handler interface {
	// Check validates a request's target and options before the job is inserted; its
	// error is a bad request.
	Check(target string, options json.RawMessage) error
	// Run does the work. It reports through w as it goes; its error fails the job (its
	// message is the job's failure reason). It must stop soon after ctx is done and
	// leave the work resumable: a job cut short by a shutdown runs again.
	Run(ctx context.Context, w *Work) error
}

// Registry maps a job kind to its handler.
type Registry map[string]Handler

// Kinds lists the registered kinds in order.
func (r Registry) Kinds() []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BadRequestError marks a request that can never succeed as given.
type BadRequestError struct{ Err error }

func (e BadRequestError) Error() string { return e.Err.Error() }
func (e BadRequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return BadRequestError{fmt.Errorf(format, args...)}
}

// DuplicateError refuses a job on a target that already has an unfinished one.
type DuplicateError struct{ Existing Job }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("target %s already has unfinished job %d (%s, %s): one job at a time per target",
		e.Existing.Target, e.Existing.ID, e.Existing.Kind, e.Existing.Status)
}

// ErrJobNotFound is returned for an unknown job id.
var ErrJobNotFound = errors.New("job not found")

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Workers is how many jobs run at once (on different targets); 0 makes an
	// insert-only queue (the CLI working on the state file without a daemon).
	Workers int
	// PollInterval is how often an idle worker looks for new jobs (default 500ms). On
	// SQLite it is also the longest a job inserted by another process (or by this one:
	// River's SQLite listener is off) waits to be picked up; PostgreSQL is woken at once
	// by LISTEN/NOTIFY.
	PollInterval time.Duration
	// LeaseTTL is how long a dead worker's attempt stays claimed (default 30s).
	LeaseTTL time.Duration
	// Holder names this process in the leases it takes.
	Holder store.LeaseHolder
	Now    func() time.Time
	Logger *slog.Logger
}

// Queue is the durable job queue on the state store's database.
type Queue struct {
	st     *store.Store
	reg    Registry
	cfg    QueueConfig
	client *river.Client[*sql.Tx]
	log    *slog.Logger

	observer Observer // nil: nobody listens (metrics.go)

	mu       sync.Mutex
	working  map[int64]bool // jobs this process is working
	stopping bool
}

// NewQueue migrates River's tables into the store's database and returns the queue.
func NewQueue(ctx context.Context, st *store.Store, reg Registry, cfg QueueConfig) (*Queue, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var driver riverdriver.Driver[*sql.Tx] = riversqlite.New(st.DB())
	if st.Postgres() {
		// database/sql over pgx (riverdatabasesql rather than riverpgxv5): River's insert
		// and the job record share one *sql.Tx, whichever database holds them.
		driver = riverdatabasesql.New(st.DB())
	}
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("job queue: migrate River's tables: %w", err)
	}
	q := &Queue{st: st, reg: reg, cfg: cfg, log: log, working: map[int64]bool{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{q: q})
	rc := &river.Config{
		Workers:           workers,
		Logger:            slog.New(slog.DiscardHandler), // River's own chatter; remint logs what matters
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     min(cfg.PollInterval, 100*time.Millisecond),
		JobTimeout:        -1, // a rollout takes as long as it takes; its lease bounds a dead one
		// River's own rescuer would re-run a live job that runs long; Rescue uses the
		// job's lease instead.
		RescueStuckJobsAfter: 100 * 365 * 24 * time.Hour,
		// River emulates LISTEN/NOTIFY on SQLite by querying a notification table every
		// 50ms, which alone kept an idle daemon at ~1% of a core. Poll-only mode fetches
		// every PollInterval and polls running jobs' cancellation instead (Cancel below).
		PollOnly: !st.Postgres(),
	}
	if cfg.Workers > 0 {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	}
	q.client, err = river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return q, nil
}

// Start starts working jobs (Workers > 0).
func (q *Queue) Start(ctx context.Context) error {
	if q.cfg.Workers == 0 {
		return errors.New("job queue: insert-only (0 workers): nothing to start")
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("job queue: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and cancels the running ones: each handler finishes its
// current step and returns; the job is snoozed, to resume on the next start.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	q.stopping = true
	q.mu.Unlock()
	if err := q.client.StopAndCancel(ctx); err != nil {
		return fmt.Errorf("job queue: stop: %w", err)
	}
	return nil
}

// Kinds lists the job kinds this queue can run.
func (q *Queue) Kinds() []string { return q.reg.Kinds() }

// Insert checks the request with its kind's handler and inserts the job, unless the
// target has an unfinished job (a *DuplicateError naming it). also, if set, runs in the
// insert's transaction (a schedule records its run there).
func (q *Queue) Insert(ctx context.Context, req JobRequest, also func(tx *sql.Tx, id int64) error) (Job, error) {
	h, ok := q.reg[req.Kind]
	if !ok {
		return Job{}, badRequest("job kind %q: want one of %v", req.Kind, q.reg.Kinds())
	}
	if req.Target == "" {
		return Job{}, badRequest("job kind %s: a target is required", req.Kind)
	}
	if len(req.Options) == 0 || string(req.Options) == "null" {
		req.Options = json.RawMessage("{}")
	}
	if err := h.Check(req.Target, req.Options); err != nil {
		return Job{}, BadRequestError{fmt.Errorf("%s %s: %w", req.Kind, req.Target, err)}
	}
	tx, err := q.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return Job{}, fmt.Errorf("insert %s job on %s: %w", req.Kind, req.Target, err)
	}
	defer tx.Rollback()
	res, err := q.client.InsertTx(ctx, tx, jobArgs{JobKind: req.Kind, Target: req.Target}, &river.InsertOpts{
		MaxAttempts: 1, // a failed job is failed; a cut-short one is rescued (Rescue) or snoozed
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: uniqueStates},
	})
	if err != nil {
		return Job{}, fmt.Errorf("insert %s job on %s: %w", req.Kind, req.Target, err)
	}
	if res.UniqueSkippedAsDuplicate {
		tx.Rollback()
		existing, err := q.Get(ctx, res.Job.ID)
		if err != nil {
			return Job{}, fmt.Errorf("insert %s job on %s: read the unfinished job %d: %w", req.Kind, req.Target, res.Job.ID, err)
		}
		return existing, &DuplicateError{Existing: existing}
	}
	rec := store.JobRecord{ID: res.Job.ID, Kind: req.Kind, Target: req.Target, Options: req.Options,
		Schedule: req.Schedule, RequestedBy: req.RequestedBy, Created: q.cfg.Now()}
	if req.Run != nil {
		rec.RunStart, rec.RunEnd = req.Run.Start, req.Run.End
	}
	if err := q.st.InsertJob(ctx, tx, rec); err != nil {
		return Job{}, err
	}
	if also != nil {
		if err := also(tx, res.Job.ID); err != nil {
			return Job{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return Job{}, fmt.Errorf("insert %s job on %s: %w", req.Kind, req.Target, err)
	}
	q.event(ctx, res.Job.ID, 0, "info", fmt.Sprintf("queued: %s %s, requested by %s", req.Kind, req.Target, orDefault(req.RequestedBy, "hand")))
	return q.Get(ctx, res.Job.ID)
}

// Get returns job id with its event log.
func (q *Queue) Get(ctx context.Context, id int64) (Job, error) {
	row, err := q.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) || (err == nil && row.Kind != riverKind) {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrJobNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("read job %d: %w", id, err)
	}
	rec, err := q.st.GetJob(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Job{}, err
	}
	j := toJob(row, rec)
	evs, err := q.st.JobEvents(ctx, id)
	if err != nil {
		return Job{}, err
	}
	for _, e := range evs {
		j.Events = append(j.Events, JobEvent{Time: e.Time, Attempt: e.Attempt, Level: e.Level, Message: e.Message})
	}
	return j, nil
}

// ListOptions filter List.
type ListOptions struct {
	Limit  int    // newest first; 0 means 100, at most 10000
	Status string // one of the Status* values, "" for all
	// Target and Kinds narrow the list to one target (a group, a family, a server) and
	// to some job kinds; BeforeID pages: only jobs with a smaller id (the last id of the
	// previous page).
	Target   string
	Kinds    []string
	BeforeID int64
}

// List returns jobs newest first (without event logs).
func (q *Queue) List(ctx context.Context, o ListOptions) ([]Job, error) {
	if o.Limit <= 0 {
		o.Limit = 100
	}
	o.Limit = min(o.Limit, 10000)
	var states []rivertype.JobState
	if o.Status != "" {
		var ok bool
		if states, ok = statesOf[o.Status]; !ok {
			return nil, badRequest("status %q: want queued, running, succeeded, failed or cancelled", o.Status)
		}
	}
	if o.Target == "" && len(o.Kinds) == 0 && o.BeforeID == 0 {
		p := river.NewJobListParams().Kinds(riverKind).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(o.Limit)
		if len(states) > 0 {
			p = p.States(states...)
		}
		res, err := q.client.JobList(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		return q.withRecords(ctx, res.Jobs)
	}
	// Filtered: the job records (indexed by target) give the ids a page at a time, newest
	// first; River's rows give their state.
	var out []Job
	before := o.BeforeID
	for len(out) < o.Limit {
		page := o.Limit - len(out)
		if len(states) > 0 {
			page = max(page*2, 100) // some ids will be in other states
		}
		ids, err := q.st.JobIDs(ctx, store.JobFilter{Target: o.Target, Kinds: o.Kinds, BeforeID: before}, page)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			break
		}
		before = ids[len(ids)-1]
		p := river.NewJobListParams().Kinds(riverKind).IDs(ids...).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(len(ids))
		if len(states) > 0 {
			p = p.States(states...)
		}
		res, err := q.client.JobList(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		jobs, err := q.withRecords(ctx, res.Jobs)
		if err != nil {
			return nil, err
		}
		out = append(out, jobs[:min(len(jobs), o.Limit-len(out))]...)
		if len(ids) < page {
			break
		}
	}
	return out, nil
}

// withRecords joins River's rows with remint's job records.
func (q *Queue) withRecords(ctx context.Context, rows []*rivertype.JobRow) ([]Job, error) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	recs, err := q.st.Jobs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Job, 0, len(rows))
	for _, r := range rows {
		out = append(out, toJob(r, recs[r.ID]))
	}
	return out, nil
}

// Cancel cancels job id: a queued job never runs; a running one has its context
// cancelled (within about two seconds, wherever it runs), stops after its current step,
// and ends cancelled. A rollout it left unfinished is resumed by the group's next rebuild.
func (q *Queue) Cancel(ctx context.Context, id int64) (Job, error) {
	before, err := q.Get(ctx, id)
	if err != nil {
		return Job{}, err
	}
	switch before.Status {
	case StatusSucceeded, StatusFailed, StatusCancelled:
		return before, badRequest("job %d is %s already: nothing to cancel", id, before.Status)
	}
	if _, err := q.client.JobCancel(ctx, id); err != nil {
		return Job{}, fmt.Errorf("cancel job %d: %w", id, err)
	}
	q.event(ctx, id, before.Attempt, "warn", "cancel requested"+byWhom(ctx))
	return q.Get(ctx, id)
}

// Retry queues a finished job (failed, cancelled or succeeded) to run again.
func (q *Queue) Retry(ctx context.Context, id int64) (Job, error) {
	before, err := q.Get(ctx, id)
	if err != nil {
		return Job{}, err
	}
	if before.Status == StatusQueued || before.Status == StatusRunning {
		return before, badRequest("job %d is %s: only a finished job can be retried", id, before.Status)
	}
	active, err := q.Unfinished(ctx)
	if err != nil {
		return Job{}, err
	}
	for _, a := range active {
		if a.Target == before.Target {
			return before, badRequest("job %d cannot be retried now: target %s has unfinished job %d (%s, %s)", id, a.Target, a.ID, a.Kind, a.Status)
		}
	}
	if _, err := q.client.JobRetry(ctx, id); err != nil {
		return Job{}, fmt.Errorf("retry job %d: %w", id, err)
	}
	q.event(ctx, id, before.Attempt, "info", fmt.Sprintf("retry requested%s (it was %s)", byWhom(ctx), before.Status))
	return q.Get(ctx, id)
}

// Unfinished returns the queued and running jobs (without event logs), newest first.
func (q *Queue) Unfinished(ctx context.Context) ([]Job, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(riverKind).States(uniqueStates...).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(10000))
	if err != nil {
		return nil, fmt.Errorf("list unfinished jobs: %w", err)
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, r := range res.Jobs {
		out = append(out, toJob(r, store.JobRecord{}))
	}
	return out, nil
}

var statesOf = map[string][]rivertype.JobState{
	StatusQueued:    {rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
	StatusRunning:   {rivertype.JobStateRunning},
	StatusSucceeded: {rivertype.JobStateCompleted},
	StatusFailed:    {rivertype.JobStateDiscarded},
	StatusCancelled: {rivertype.JobStateCancelled},
}

func statusOf(s rivertype.JobState) string {
	for status, states := range statesOf {
		for _, st := range states {
			if st == s {
				return status
			}
		}
	}
	return string(s)
}

func toJob(row *rivertype.JobRow, rec store.JobRecord) Job {
	var args jobArgs
	_ = json.Unmarshal(row.EncodedArgs, &args) // remint wrote them; a bad row shows empty
	j := Job{ID: row.ID, Kind: args.JobKind, Target: args.Target, Status: statusOf(row.State), Attempt: row.Attempt,
		Options: rec.Options, Schedule: rec.Schedule, RequestedBy: rec.RequestedBy, Created: row.CreatedAt,
		Installed: rec.Installed, Failed: rec.Failed, Reason: rec.Reason, Decisions: rec.Decisions, Rollouts: rec.Rollouts}
	if !rec.RunStart.IsZero() {
		j.Run = &Run{Start: rec.RunStart, End: rec.RunEnd}
	}
	switch {
	case !rec.Started.IsZero():
		t := rec.Started
		j.Started = &t
	case rec.ID != 0 && j.Status == StatusRunning:
		// Fetched by a worker that has not started it: it is looking whether the leases
		// its handler needs are free (waitTurn), and waits queued when they are not.
		j.Status = StatusQueued
	case j.Status == StatusRunning && row.AttemptedAt != nil:
		// No record read (Unfinished): River's attempt start. A job that waited for a
		// lease was fetched (attempted) without starting: it has no start.
		j.Started = row.AttemptedAt
	}
	// The end as remint recorded it (the clock its start was read by) when it has one:
	// River's finalized_at on SQLite has whole milliseconds and could come out before it.
	switch {
	case !rec.Ended.IsZero() && j.Status != StatusRunning:
		t := rec.Ended
		j.Ended = &t
	case row.FinalizedAt != nil:
		j.Ended = row.FinalizedAt
	}
	if j.Ended != nil && j.Started != nil && j.Ended.Before(*j.Started) {
		j.Ended = j.Started
	}
	if j.Status == StatusFailed && j.Reason == "" && len(row.Errors) > 0 {
		j.Reason = row.Errors[len(row.Errors)-1].Error
	}
	if j.Decisions == nil {
		j.Decisions = []string{}
	}
	if j.Rollouts == nil {
		j.Rollouts = []string{}
	}
	return j
}

func (q *Queue) event(ctx context.Context, id int64, attempt int, level, msg string) {
	if err := q.st.AppendJobEvent(ctx, store.JobEvent{JobID: id, Time: q.cfg.Now(), Attempt: attempt, Level: level, Message: msg}); err != nil {
		q.log.Warn("could not record job event", "job", id, "event", msg, "err", err)
	}
}

// byWhom names the API caller in ctx for the job log (" by token NAME"), or "".
func byWhom(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return " by " + p.RequestedBy()
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
