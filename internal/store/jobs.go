package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A durable job is River's row (river_job: state, attempts, errors; River owns it) and
// the record below, keyed by the same id: what the job is about, what it did and why, in
// the words users read. The record is inserted in the transaction that inserts River's
// row, so one never exists without the other.

// JobRecord is the remint side of a durable job.
type JobRecord struct {
	ID       int64
	Kind     string
	Target   string
	Options  json.RawMessage // the kind's options as given
	Schedule string          // the schedule that fired it, "" when started by hand
	RunStart time.Time       // the schedule's run (its maintenance window), if any
	RunEnd   time.Time
	// RequestedBy says who asked: "schedule weekend-web", "cli", "api".
	RequestedBy string
	Created     time.Time
	Started     time.Time // the first attempt's start
	Ended       time.Time // when the last attempt ended
	JobOutcome
}

// JobOutcome is what a job did so far; the worker saves it as it goes, so a job cut
// short still says what it did.
type JobOutcome struct {
	// Installed and Failed count updates: servers moved to a new image (rebuild), images
	// retired (retention), packages upgraded (in place).
	Installed int
	Failed    int
	// Reason is why the job failed or stopped ("" when it succeeded).
	Reason string
	// Decisions are the reasons for what the job chose to do, in order.
	Decisions []string
	// Rollouts are the ids of the rollouts the job ran or resumed.
	Rollouts []string
}

// wrap gives a transaction begun on DB() the store's dialect.
func (s *Store) wrap(t *sql.Tx) *tx { return &tx{Tx: t, pg: s.db.pg, queries: &s.db.queries} }

// JobEvent is one line of a job's event log.
type JobEvent struct {
	ID      int64
	JobID   int64
	Time    time.Time
	Attempt int
	Level   string // info, warn, error
	Message string
}

const jobCols = `id, kind, target, options, schedule, run_start, run_end, requested_by, created_at, started_at, ended_at, installed, failed, reason, decisions, rollouts`

func scanJob(row interface{ Scan(...any) error }) (JobRecord, error) {
	var r JobRecord
	var opts, runStart, runEnd, created, started, ended, decisions, rollouts string
	err := row.Scan(&r.ID, &r.Kind, &r.Target, &opts, &r.Schedule, &runStart, &runEnd, &r.RequestedBy, &created, &started, &ended,
		&r.Installed, &r.Failed, &r.Reason, &decisions, &rollouts)
	if err != nil {
		return r, err
	}
	r.Options = json.RawMessage(opts)
	r.RunStart, r.RunEnd, r.Created, r.Started, r.Ended = parseTime(runStart), parseTime(runEnd), parseTime(created), parseTime(started), parseTime(ended)
	if err := json.Unmarshal([]byte(decisions), &r.Decisions); err != nil {
		return r, fmt.Errorf("job %d: decisions: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(rollouts), &r.Rollouts); err != nil {
		return r, fmt.Errorf("job %d: rollouts: %w", r.ID, err)
	}
	return r, nil
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// InsertJob records a job in sqlTx: the transaction that inserts River's row with the same id.
func (s *Store) InsertJob(ctx context.Context, sqlTx *sql.Tx, r JobRecord) error {
	tx := s.wrap(sqlTx)
	opts := string(r.Options)
	if opts == "" {
		opts = "{}"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (`+jobCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Kind, r.Target, opts, r.Schedule, fmtTime(r.RunStart), fmtTime(r.RunEnd), r.RequestedBy, fmtTime(r.Created),
		fmtTime(r.Started), fmtTime(r.Ended), r.Installed, r.Failed, r.Reason, jsonList(r.Decisions), jsonList(r.Rollouts))
	if err != nil {
		return fmt.Errorf("record job %d (%s %s): %w", r.ID, r.Kind, r.Target, err)
	}
	return nil
}

// GetJob returns the job record id, or ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id int64) (JobRecord, error) {
	r, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read job %d: %w", id, err)
	}
	return r, nil
}

// Jobs returns the records of the given ids that exist, by id.
func (s *Store) Jobs(ctx context.Context, ids []int64) (map[int64]JobRecord, error) {
	out := make(map[int64]JobRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read %d job records: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("read job records: %w", err)
		}
		out[r.ID] = r
	}
	return out, rows.Err()
}

// JobFilter narrows JobIDs.
type JobFilter struct {
	Target   string   // "" for any
	Kinds    []string // none for any
	BeforeID int64    // 0 for no bound: ids below it only
}

// JobIDs returns up to limit job ids matching f, newest (highest) first.
func (s *Store) JobIDs(ctx context.Context, f JobFilter, limit int) ([]int64, error) {
	q := `SELECT id FROM jobs WHERE 1 = 1`
	var args []any
	if f.Target != "" {
		q += ` AND target = ?`
		args = append(args, f.Target)
	}
	if len(f.Kinds) > 0 {
		q += ` AND kind IN (?` + strings.Repeat(", ?", len(f.Kinds)-1) + `)`
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list job ids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list job ids: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// JobStarted records that an attempt of job id started at now: the job's start is its
// first attempt's, its end is cleared (a retried job runs again).
func (s *Store) JobStarted(ctx context.Context, id int64, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET started_at = CASE WHEN started_at = '' THEN ? ELSE started_at END, ended_at = '' WHERE id = ?`, fmtTime(now), id)
	if err != nil {
		return fmt.Errorf("record start of job %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("record start of job %d: %w", id, ErrNotFound)
	}
	return nil
}

// SaveJobOutcome writes what job id did so far; a non-zero ended marks the attempt over.
func (s *Store) SaveJobOutcome(ctx context.Context, id int64, o JobOutcome, ended time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE jobs SET installed = ?, failed = ?, reason = ?, decisions = ?, rollouts = ?,
		ended_at = CASE WHEN ? = '' THEN ended_at ELSE ? END WHERE id = ?`,
		o.Installed, o.Failed, o.Reason, jsonList(o.Decisions), jsonList(o.Rollouts), fmtTime(ended), fmtTime(ended), id)
	if err != nil {
		return fmt.Errorf("save outcome of job %d: %w", id, err)
	}
	return nil
}

// AppendJobEvent appends a line to a job's event log.
func (s *Store) AppendJobEvent(ctx context.Context, e JobEvent) error {
	if e.Level == "" {
		e.Level = "info"
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO job_events (job_id, time, attempt, level, message) VALUES (?, ?, ?, ?, ?)`,
		e.JobID, fmtTime(e.Time), e.Attempt, e.Level, e.Message)
	if err != nil {
		return fmt.Errorf("append event to job %d: %w", e.JobID, err)
	}
	return nil
}

// LastJobEvent returns the latest line of job id's event log, or ErrNotFound.
func (s *Store) LastJobEvent(ctx context.Context, id int64) (JobEvent, error) {
	var e JobEvent
	var t string
	err := s.db.QueryRowContext(ctx, `SELECT id, job_id, time, attempt, level, message FROM job_events WHERE job_id = ? ORDER BY id DESC LIMIT 1`, id).
		Scan(&e.ID, &e.JobID, &t, &e.Attempt, &e.Level, &e.Message)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("last event of job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("read the last event of job %d: %w", id, err)
	}
	e.Time = parseTime(t)
	return e, nil
}

// JobEvents returns job id's event log in order.
func (s *Store) JobEvents(ctx context.Context, id int64) ([]JobEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job_id, time, attempt, level, message FROM job_events WHERE job_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list events of job %d: %w", id, err)
	}
	defer rows.Close()
	var out []JobEvent
	for rows.Next() {
		var e JobEvent
		var t string
		if err := rows.Scan(&e.ID, &e.JobID, &t, &e.Attempt, &e.Level, &e.Message); err != nil {
			return nil, fmt.Errorf("list events of job %d: %w", id, err)
		}
		e.Time = parseTime(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Schedule run outcomes.
const (
	RunFired   = "fired"   // a job was inserted for the run
	RunMissed  = "missed"  // its window closed while no daemon was up
	RunSkipped = "skipped" // the target was busy, or the action has no job kind
)

// ScheduleRun records what became of one run of a schedule.
type ScheduleRun struct {
	ID       int64
	Schedule string
	Target   string
	Start    time.Time
	End      time.Time
	Outcome  string
	JobID    int64
	Reason   string
	Recorded time.Time
}

// ScheduleLastFired returns the start of the last run the daemon handled for schedule
// name (fired, missed or skipped) and the rule it had then; ok is false for a schedule
// never seen.
func (s *Store) ScheduleLastFired(ctx context.Context, name string) (last time.Time, rule string, ok bool, err error) {
	var t string
	err = s.db.QueryRowContext(ctx, `SELECT last_fired, rule FROM schedule_state WHERE name = ?`, name).Scan(&t, &rule)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("read state of schedule %s: %w", name, err)
	}
	return parseTime(t), rule, true, nil
}

// SetScheduleFired records (in tx, or on the store when tx is nil) that schedule name
// has been handled up to the run starting at last.
func (s *Store) SetScheduleFired(ctx context.Context, sqlTx *sql.Tx, name, rule string, last, now time.Time) error {
	var db execer = s.db
	if sqlTx != nil {
		db = s.wrap(sqlTx)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO schedule_state (name, rule, last_fired, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET rule = excluded.rule, last_fired = excluded.last_fired, updated_at = excluded.updated_at`,
		name, rule, fmtTime(last), fmtTime(now))
	if err != nil {
		return fmt.Errorf("record schedule %s handled up to %s: %w", name, fmtTime(last), err)
	}
	return nil
}

// ErrRunRecorded is returned by RecordScheduleRun when the run has a record already:
// another daemon on the same database handled it.
var ErrRunRecorded = errors.New("schedule run recorded already")

// RecordScheduleRun records a run's outcome (in tx, or on the store when tx is nil),
// unless the run (schedule and start) has a record already: then nothing is written and
// the error is ErrRunRecorded. Two daemons recording one run at once get one record: on
// PostgreSQL the second insert waits for the first's transaction and then does nothing.
func (s *Store) RecordScheduleRun(ctx context.Context, sqlTx *sql.Tx, r ScheduleRun) error {
	var db execer = s.db
	if sqlTx != nil {
		db = s.wrap(sqlTx)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO schedule_runs (schedule, target, run_start, run_end, outcome, job_id, reason, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (schedule, run_start) DO NOTHING`,
		r.Schedule, r.Target, fmtTime(r.Start), fmtTime(r.End), r.Outcome, r.JobID, r.Reason, fmtTime(r.Recorded))
	if err != nil {
		return fmt.Errorf("record %s run of schedule %s at %s: %w", r.Outcome, r.Schedule, fmtTime(r.Start), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record %s run of schedule %s at %s: %w", r.Outcome, r.Schedule, fmtTime(r.Start), err)
	}
	if n == 0 {
		return fmt.Errorf("record %s run of schedule %s at %s: %w", r.Outcome, r.Schedule, fmtTime(r.Start), ErrRunRecorded)
	}
	return nil
}

// ScheduleRuns returns the recorded runs of schedule name ("" for every schedule), in order.
func (s *Store) ScheduleRuns(ctx context.Context, name string) ([]ScheduleRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, schedule, target, run_start, run_end, outcome, job_id, reason, recorded_at
		FROM schedule_runs WHERE ? = '' OR schedule = ? ORDER BY id`, name, name)
	if err != nil {
		return nil, fmt.Errorf("list runs of schedule %s: %w", name, err)
	}
	defer rows.Close()
	var out []ScheduleRun
	for rows.Next() {
		var r ScheduleRun
		var start, end, rec string
		if err := rows.Scan(&r.ID, &r.Schedule, &r.Target, &start, &end, &r.Outcome, &r.JobID, &r.Reason, &rec); err != nil {
			return nil, fmt.Errorf("list runs of schedule %s: %w", name, err)
		}
		r.Start, r.End, r.Recorded = parseTime(start), parseTime(end), parseTime(rec)
		out = append(out, r)
	}
	return out, rows.Err()
}

// KeptDue counts the group's old servers kept for rollback whose keep-old time is over
// at now: the daemon retires them.
func (s *Store) KeptDue(ctx context.Context, group string, now time.Time) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT steps.retire_after FROM steps JOIN rollouts ON rollouts.id = steps.rollout_id
		WHERE rollouts.grp = ? AND steps.state = 'kept' AND steps.retire_after != ''`, group)
	if err != nil {
		return 0, fmt.Errorf("list kept servers of group %s: %w", group, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return 0, fmt.Errorf("list kept servers of group %s: %w", group, err)
		}
		if at := parseTime(t); !at.IsZero() && !now.Before(at) {
			n++
		}
	}
	return n, rows.Err()
}
