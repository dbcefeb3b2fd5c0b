package store

import (
	"context"
	"fmt"
	"time"
)

// ScheduleStates returns every schedule's last-fired time (schedule_state) by name, in
// one query: the daemon reads it once at start instead of once per schedule per tick.
func (s *Store) ScheduleStates(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, last_fired FROM schedule_state`)
	if err != nil {
		return nil, fmt.Errorf("read schedule states: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name, t string
		if err := rows.Scan(&name, &t); err != nil {
			return nil, fmt.Errorf("read schedule states: %w", err)
		}
		out[name] = parseTime(t)
	}
	return out, rows.Err()
}

// fmtTimeFixed writes t with all nine fractional digits: unlike RFC 3339 with trimmed
// zeros, these strings sort in time order, so MAX(updated_at) is the latest change.
func fmtTimeFixed(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
}

// SchedulesVersion is a cheap fingerprint of the run-time schedules: their count and the
// latest updated_at. Any create, update, enable, disable or delete changes it, so the
// daemon asks this once a tick and reloads the schedules only when it changed.
func (s *Store) SchedulesVersion(ctx context.Context) (string, error) {
	var n int64
	var latest string
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(updated_at), '') FROM schedules`).Scan(&n, &latest)
	if err != nil {
		return "", fmt.Errorf("read schedules version: %w", err)
	}
	return fmt.Sprintf("%d@%s", n, latest), nil
}

// Queries is how many statements this store has sent to its database (outside River's
// own): tests and benchmarks use it to see what an idle daemon costs.
func (s *Store) Queries() int64 { return s.db.queries.Load() }
