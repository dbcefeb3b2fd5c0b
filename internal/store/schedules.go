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

// ScheduleDef is a schedule created at run time (`remint schedule create`, the API, the
// console). The store keeps it as given; orchestrator validates it (rule, window, action,
// target) before it is written.
type ScheduleDef struct {
	ID     int64
	Name   string
	RRule  string
	Window time.Duration
	// Enabled schedules fire; disabled ones are kept and shown but do not.
	Enabled bool
	Action  string
	Target  string
	// Options are the action's options as JSON ("{}" when none).
	Options     json.RawMessage
	Description string
	CreatedBy   string
	Created     time.Time
	Updated     time.Time
}

// ErrScheduleNotFound is returned for an unknown schedule id or name.
var ErrScheduleNotFound = errors.New("schedule not found")

// ErrScheduleExists is returned when a schedule of that name exists already.
var ErrScheduleExists = errors.New("a schedule of that name exists already")

const scheduleCols = `id, name, rrule, window_seconds, enabled, action, target, options, description, created_by, created_at, updated_at`

func scanSchedule(row interface{ Scan(...any) error }) (ScheduleDef, error) {
	var d ScheduleDef
	var secs, enabled int64
	var opts, created, updated string
	if err := row.Scan(&d.ID, &d.Name, &d.RRule, &secs, &enabled, &d.Action, &d.Target, &opts, &d.Description, &d.CreatedBy,
		&created, &updated); err != nil {
		return d, err
	}
	d.Window = time.Duration(secs) * time.Second
	d.Enabled = enabled != 0
	d.Options = json.RawMessage(opts)
	d.Created, d.Updated = parseTime(created), parseTime(updated)
	return d, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func optionsText(o json.RawMessage) string {
	if len(o) == 0 {
		return "{}"
	}
	return string(o)
}

// isUniqueViolation reports a UNIQUE constraint failure on SQLite or PostgreSQL.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505") ||
		strings.Contains(m, "duplicate key value violates unique constraint")
}

// CreateSchedule writes a new schedule and returns it with its id and times set.
func (s *Store) CreateSchedule(ctx context.Context, d ScheduleDef, now time.Time) (ScheduleDef, error) {
	d.Created, d.Updated = now.UTC(), now.UTC()
	err := s.db.QueryRowContext(ctx, `INSERT INTO schedules (name, rrule, window_seconds, enabled, action, target, options, description,
		created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Name, d.RRule, int64(d.Window/time.Second), boolInt(d.Enabled), d.Action, d.Target, optionsText(d.Options), d.Description,
		d.CreatedBy, fmtTimeFixed(d.Created), fmtTimeFixed(d.Updated)).Scan(&d.ID)
	if isUniqueViolation(err) {
		return d, fmt.Errorf("create schedule %s: %w", d.Name, ErrScheduleExists)
	}
	if err != nil {
		return d, fmt.Errorf("create schedule %s: %w", d.Name, err)
	}
	if d.Options == nil {
		d.Options = json.RawMessage("{}")
	}
	return d, nil
}

// Schedule returns the schedule with id.
func (s *Store) Schedule(ctx context.Context, id int64) (ScheduleDef, error) {
	d, err := scanSchedule(s.db.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("schedule %d: %w", id, ErrScheduleNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("read schedule %d: %w", id, err)
	}
	return d, nil
}

// ScheduleByName returns the schedule called name.
func (s *Store) ScheduleByName(ctx context.Context, name string) (ScheduleDef, error) {
	d, err := scanSchedule(s.db.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("schedule %s: %w", name, ErrScheduleNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("read schedule %s: %w", name, err)
	}
	return d, nil
}

// ListSchedules returns the schedules on target ("" for all), by id.
func (s *Store) ListSchedules(ctx context.Context, target string) ([]ScheduleDef, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE ? = '' OR target = ? ORDER BY id`, target, target)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	var out []ScheduleDef
	for rows.Next() {
		d, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ErrScheduleChanged is returned by UpdateSchedule when the schedule was changed after
// the caller read it (d.Updated no longer matches): the caller re-reads and decides again.
var ErrScheduleChanged = errors.New("schedule was changed by someone else since it was read")

// UpdateSchedule replaces the schedule with d.ID's fields (all but id, created_by and
// created) and returns it as stored. When d.Updated is set (d was read from the store),
// the write happens only if nobody changed the schedule since (ErrScheduleChanged
// otherwise): two writers that read the same version cannot both win.
func (s *Store) UpdateSchedule(ctx context.Context, d ScheduleDef, now time.Time) (ScheduleDef, error) {
	if !d.Updated.IsZero() && !now.After(d.Updated) {
		now = d.Updated.Add(time.Nanosecond) // every write makes a new version
	}
	q := `UPDATE schedules SET name = ?, rrule = ?, window_seconds = ?, enabled = ?, action = ?, target = ?,
		options = ?, description = ?, updated_at = ? WHERE id = ?`
	args := []any{d.Name, d.RRule, int64(d.Window / time.Second), boolInt(d.Enabled), d.Action, d.Target, optionsText(d.Options), d.Description,
		fmtTimeFixed(now.UTC()), d.ID}
	if !d.Updated.IsZero() {
		q += ` AND updated_at = ?`
		args = append(args, fmtTimeFixed(d.Updated.UTC()))
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if isUniqueViolation(err) {
		return d, fmt.Errorf("rename schedule %d to %s: %w", d.ID, d.Name, ErrScheduleExists)
	}
	if err != nil {
		return d, fmt.Errorf("update schedule %d: %w", d.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		cur, err := s.Schedule(ctx, d.ID)
		if err != nil {
			return d, err // gone: ErrScheduleNotFound
		}
		return cur, fmt.Errorf("schedule %s (changed at %s): %w", cur.Name, cur.Updated.UTC().Format(time.RFC3339), ErrScheduleChanged)
	}
	return s.Schedule(ctx, d.ID)
}

// DeleteSchedule deletes the schedule with id. Its recorded runs (schedule_runs) stay:
// the history of what it did is not lost with it.
func (s *Store) DeleteSchedule(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM schedules WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete schedule %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("schedule %d: %w", id, ErrScheduleNotFound)
	}
	return nil
}
