package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// In-place run statuses.
const (
	InplaceRunning   = "running"
	InplaceSucceeded = "succeeded"
	InplaceFailed    = "failed"
)

// InplaceRun is one `remint inplace` run over a group's servers.
type InplaceRun struct {
	ID    string
	Group string
	// Options are the run's options as JSON (owned by package inplace), so a resumed run
	// does what the killed one set out to do.
	Options []byte
	Status  string
	Error   string
	Created time.Time
	Updated time.Time
}

// InplaceServer is one server's progress within an in-place run.
type InplaceServer struct {
	RunID      string
	ServerID   string
	ServerName string
	Seq        int    // order within the run
	Phase      string // the phase reached (see package inplace)
	Status     string // pending, running, succeeded, failed, not-started
	// Result is the server's result so far as JSON (owned by package inplace).
	Result  []byte
	Error   string
	Updated time.Time
}

// CreateInplaceRun records a new run and its servers (pending) in one transaction.
func (s *Store) CreateInplaceRun(ctx context.Context, r InplaceRun, servers []InplaceServer) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create in-place run %s: %w", r.ID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO inplace_runs (id, grp, options, status, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Group, r.Options, r.Status, r.Error, fmtTime(r.Created), fmtTime(r.Updated)); err != nil {
		return fmt.Errorf("create in-place run %s: %w", r.ID, err)
	}
	for _, sv := range servers {
		sv.RunID = r.ID
		if err := putInplaceServer(ctx, tx, sv); err != nil {
			return fmt.Errorf("create in-place run %s: server %s: %w", r.ID, sv.ServerName, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create in-place run %s: %w", r.ID, err)
	}
	return nil
}

func putInplaceServer(ctx context.Context, db execer, sv InplaceServer) error {
	_, err := db.ExecContext(ctx, `INSERT INTO inplace_servers (run_id, server_id, server_name, seq, phase, status, result, error, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, server_id) DO UPDATE SET server_name = excluded.server_name, seq = excluded.seq, phase = excluded.phase,
			status = excluded.status, result = excluded.result, error = excluded.error, updated_at = excluded.updated_at`,
		sv.RunID, sv.ServerID, sv.ServerName, sv.Seq, sv.Phase, sv.Status, sv.Result, sv.Error, fmtTime(sv.Updated))
	return err
}

// PutInplaceServer records a server's progress (written before the step it leads to).
func (s *Store) PutInplaceServer(ctx context.Context, sv InplaceServer) error {
	if err := putInplaceServer(ctx, s.db, sv); err != nil {
		return fmt.Errorf("record in-place run %s server %s: %w", sv.RunID, sv.ServerName, err)
	}
	return nil
}

// SetInplaceRunStatus ends (or re-opens, for a resume) a run.
func (s *Store) SetInplaceRunStatus(ctx context.Context, id, status, errMsg string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE inplace_runs SET status = ?, error = ?, updated_at = ? WHERE id = ?`, status, errMsg, fmtTime(now), id)
	if err != nil {
		return fmt.Errorf("set in-place run %s to %s: %w", id, status, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set in-place run %s to %s: %w", id, status, ErrNotFound)
	}
	return nil
}

const inplaceRunCols = `id, grp, options, status, error, created_at, updated_at`

func scanInplaceRun(row interface{ Scan(...any) error }) (InplaceRun, error) {
	var r InplaceRun
	var created, updated string
	err := row.Scan(&r.ID, &r.Group, &r.Options, &r.Status, &r.Error, &created, &updated)
	r.Created, r.Updated = parseTime(created), parseTime(updated)
	return r, err
}

// LatestInplaceRun returns the group's most recent in-place run, or ErrNotFound.
func (s *Store) LatestInplaceRun(ctx context.Context, group string) (InplaceRun, error) {
	r, err := scanInplaceRun(s.db.QueryRowContext(ctx, `SELECT `+inplaceRunCols+` FROM inplace_runs WHERE grp = ? ORDER BY created_at DESC, id DESC LIMIT 1`, group))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, ErrNotFound
		}
		return r, fmt.Errorf("latest in-place run of group %s: %w", group, err)
	}
	return r, nil
}

// InplaceServers returns a run's servers in run order.
func (s *Store) InplaceServers(ctx context.Context, runID string) ([]InplaceServer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, server_id, server_name, seq, phase, status, result, error, updated_at
		FROM inplace_servers WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("servers of in-place run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []InplaceServer
	for rows.Next() {
		var sv InplaceServer
		var updated string
		if err := rows.Scan(&sv.RunID, &sv.ServerID, &sv.ServerName, &sv.Seq, &sv.Phase, &sv.Status, &sv.Result, &sv.Error, &updated); err != nil {
			return nil, fmt.Errorf("servers of in-place run %s: %w", runID, err)
		}
		sv.Updated = parseTime(updated)
		out = append(out, sv)
	}
	return out, rows.Err()
}
