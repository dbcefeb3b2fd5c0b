// Package store is remint's local state: one SQLite file (modernc.org/sqlite, no cgo)
// holding rollouts and their per-slot steps, the slots of each group (which server
// serves which slot), the failover addresses remint allocated (so they are never
// allocated twice), an append-only event log, leases (one changer of a group at a
// time, lease.go), and the records of durable jobs and schedule runs (jobs.go).
//
// Rows are shaped so that a rollout can later run as a durable job: a rollout has an id,
// a group, a target image, a status and timestamps; each of its steps records the state
// the slot's state machine reached, written before the cloud call that state leads to.
//
// Entry point: Open. Schema changes are numbered migrations applied in order by Open.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver (PostgreSQL)
	"github.com/sethvargo/go-retry"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Rollout statuses.
const (
	RolloutRunning    = "running"
	RolloutCompleted  = "completed"
	RolloutFailed     = "failed"
	RolloutRolledBack = "rolled_back"
)

// migrations are applied in order; the index+1 is the schema version. Never edit one
// that has shipped: append a new one.
var migrations = []string{
	`CREATE TABLE rollouts (
		id            TEXT PRIMARY KEY,
		grp           TEXT NOT NULL,
		image_id      TEXT NOT NULL,
		image_version TEXT NOT NULL,
		strategy      TEXT NOT NULL,
		status        TEXT NOT NULL,
		plan          BLOB,
		error         TEXT NOT NULL DEFAULT '',
		created_at    TEXT NOT NULL,
		updated_at    TEXT NOT NULL
	);
	CREATE INDEX rollouts_grp ON rollouts(grp, created_at);
	CREATE TABLE steps (
		rollout_id        TEXT NOT NULL REFERENCES rollouts(id),
		slot              INTEGER NOT NULL,
		wave              INTEGER NOT NULL,
		mode              TEXT NOT NULL,
		state             TEXT NOT NULL,
		old_server_id     TEXT NOT NULL DEFAULT '',
		old_image_version TEXT NOT NULL DEFAULT '',
		new_server_id     TEXT NOT NULL DEFAULT '',
		new_server_name   TEXT NOT NULL DEFAULT '',
		address_id        TEXT NOT NULL DEFAULT '',
		address           TEXT NOT NULL DEFAULT '',
		retire_after      TEXT NOT NULL DEFAULT '',
		error             TEXT NOT NULL DEFAULT '',
		updated_at        TEXT NOT NULL,
		PRIMARY KEY (rollout_id, slot)
	);
	CREATE TABLE slots (
		grp           TEXT NOT NULL,
		slot          INTEGER NOT NULL,
		server_id     TEXT NOT NULL,
		server_name   TEXT NOT NULL DEFAULT '',
		image_id      TEXT NOT NULL DEFAULT '',
		image_version TEXT NOT NULL DEFAULT '',
		updated_at    TEXT NOT NULL,
		PRIMARY KEY (grp, slot)
	);
	CREATE TABLE addresses (
		grp            TEXT NOT NULL,
		slot           INTEGER NOT NULL,
		fip_id         TEXT NOT NULL DEFAULT '',
		address        TEXT NOT NULL DEFAULT '',
		allocated_from TEXT NOT NULL DEFAULT '',
		description    TEXT NOT NULL DEFAULT '',
		created_at     TEXT NOT NULL,
		PRIMARY KEY (grp, slot)
	);
	CREATE TABLE events (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		rollout_id TEXT NOT NULL,
		grp        TEXT NOT NULL,
		time       TEXT NOT NULL,
		slot       INTEGER NOT NULL,
		server     TEXT NOT NULL DEFAULT '',
		step       TEXT NOT NULL DEFAULT '',
		message    TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX events_rollout ON events(rollout_id, id);`,
	// 2: leases (lease.go): one changer of a group (or image family) at a time.
	`CREATE TABLE leases (
		lease_key   TEXT PRIMARY KEY,
		token       TEXT NOT NULL,
		host        TEXT NOT NULL DEFAULT '',
		pid         INTEGER NOT NULL DEFAULT 0,
		command     TEXT NOT NULL DEFAULT '',
		started_at  TEXT NOT NULL DEFAULT '',
		acquired_at TEXT NOT NULL,
		renewed_at  TEXT NOT NULL,
		expires_at  TEXT NOT NULL
	);`,
	// 3: jobs (jobs.go): what users see of a durable job beside River's own row (River
	// owns status and attempts in river_job, created by rivermigrate in the same file);
	// each job's event log; and the schedules' firing record.
	`CREATE TABLE jobs (
		id          INTEGER PRIMARY KEY,
		kind        TEXT NOT NULL,
		target      TEXT NOT NULL,
		options     TEXT NOT NULL DEFAULT '{}',
		schedule    TEXT NOT NULL DEFAULT '',
		run_start   TEXT NOT NULL DEFAULT '',
		run_end     TEXT NOT NULL DEFAULT '',
		requested_by TEXT NOT NULL DEFAULT '',
		created_at  TEXT NOT NULL,
		started_at  TEXT NOT NULL DEFAULT '',
		ended_at    TEXT NOT NULL DEFAULT '',
		installed   INTEGER NOT NULL DEFAULT 0,
		failed      INTEGER NOT NULL DEFAULT 0,
		reason      TEXT NOT NULL DEFAULT '',
		decisions   TEXT NOT NULL DEFAULT '[]',
		rollouts    TEXT NOT NULL DEFAULT '[]'
	);
	CREATE INDEX jobs_target ON jobs(target, id);
	CREATE TABLE job_events (
		id      INTEGER PRIMARY KEY AUTOINCREMENT,
		job_id  INTEGER NOT NULL,
		time    TEXT NOT NULL,
		attempt INTEGER NOT NULL DEFAULT 0,
		level   TEXT NOT NULL DEFAULT 'info',
		message TEXT NOT NULL
	);
	CREATE INDEX job_events_job ON job_events(job_id, id);
	CREATE TABLE schedule_state (
		name       TEXT PRIMARY KEY,
		rule       TEXT NOT NULL,
		last_fired TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE schedule_runs (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		schedule   TEXT NOT NULL,
		target     TEXT NOT NULL,
		run_start  TEXT NOT NULL,
		run_end    TEXT NOT NULL,
		outcome    TEXT NOT NULL,
		job_id     INTEGER NOT NULL DEFAULT 0,
		reason     TEXT NOT NULL DEFAULT '',
		recorded_at TEXT NOT NULL
	);
	CREATE INDEX schedule_runs_schedule ON schedule_runs(schedule, id);`,
	// 4: in-place runs (inplace.go): each server's progress, so a killed run can be
	// resumed or reported.
	`CREATE TABLE inplace_runs (
		id         TEXT PRIMARY KEY,
		grp        TEXT NOT NULL,
		options    BLOB,
		status     TEXT NOT NULL,
		error      TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE INDEX inplace_runs_grp ON inplace_runs(grp, created_at);
	CREATE TABLE inplace_servers (
		run_id      TEXT NOT NULL REFERENCES inplace_runs(id),
		server_id   TEXT NOT NULL,
		server_name TEXT NOT NULL DEFAULT '',
		seq         INTEGER NOT NULL,
		phase       TEXT NOT NULL DEFAULT '',
		status      TEXT NOT NULL,
		result      BLOB,
		error       TEXT NOT NULL DEFAULT '',
		updated_at  TEXT NOT NULL,
		PRIMARY KEY (run_id, server_id)
	);`,
	// 5: schedules created at run time (schedules.go) by `remint schedule create`, the
	// API and the console; the manifest's schedules stay in the manifest. Integer ids
	// because STACKIT's update-schedules API names schedules by integer id.
	`CREATE TABLE schedules (
		id             INTEGER PRIMARY KEY AUTOINCREMENT,
		name           TEXT NOT NULL UNIQUE,
		rrule          TEXT NOT NULL,
		window_seconds INTEGER NOT NULL,
		enabled        INTEGER NOT NULL DEFAULT 1,
		action         TEXT NOT NULL,
		target         TEXT NOT NULL,
		options        TEXT NOT NULL DEFAULT '{}',
		description    TEXT NOT NULL DEFAULT '',
		created_by     TEXT NOT NULL DEFAULT '',
		created_at     TEXT NOT NULL,
		updated_at     TEXT NOT NULL
	);
	CREATE INDEX schedules_target ON schedules(target, id);`,
	// 6: API bearer tokens (tokens.go): only a SHA-256 of each secret is kept.
	`CREATE TABLE api_tokens (
		name         TEXT PRIMARY KEY,
		hash         TEXT NOT NULL UNIQUE,
		read_only    INTEGER NOT NULL DEFAULT 0,
		created_by   TEXT NOT NULL DEFAULT '',
		created_at   TEXT NOT NULL,
		last_used_at TEXT NOT NULL DEFAULT '',
		revoked_at   TEXT NOT NULL DEFAULT ''
	);`,
	// 7: the STACKIT-compatible update service per server (update_services.go): whether
	// it is enabled, with which policy and Default Update Schedule; and the display name
	// of each run-time schedule made through that API (STACKIT names are free text, the
	// schedule book's names are slugs).
	`CREATE TABLE update_services (
		server_id   TEXT PRIMARY KEY,
		grp         TEXT NOT NULL,
		enabled     INTEGER NOT NULL,
		policy_id   TEXT NOT NULL DEFAULT '',
		schedule_id INTEGER NOT NULL DEFAULT 0,
		updated_by  TEXT NOT NULL DEFAULT '',
		updated_at  TEXT NOT NULL
	);
	CREATE TABLE update_schedule_names (
		schedule_id INTEGER PRIMARY KEY,
		server_id   TEXT NOT NULL,
		name        TEXT NOT NULL
	);
	CREATE INDEX update_schedule_names_server ON update_schedule_names(server_id);`,
	// 8: one record per run of a schedule (RecordScheduleRun inserts only if none): two
	// daemons that read a due run at once recorded it twice before (fired and skipped,
	// or fired twice once the first job had finished). Such duplicates are dropped first,
	// keeping a fired record over a skipped or missed one, then the earliest.
	`DELETE FROM schedule_runs WHERE outcome != 'fired' AND EXISTS (SELECT 1 FROM schedule_runs f
		WHERE f.schedule = schedule_runs.schedule AND f.run_start = schedule_runs.run_start AND f.outcome = 'fired');
	DELETE FROM schedule_runs WHERE EXISTS (SELECT 1 FROM schedule_runs o
		WHERE o.schedule = schedule_runs.schedule AND o.run_start = schedule_runs.run_start AND o.id < schedule_runs.id);
	CREATE UNIQUE INDEX schedule_runs_run ON schedule_runs(schedule, run_start);`,
	// 9: the durable job a lease was taken for (0: none, a command run by hand), so a job
	// resumed after its process died does not wait behind its own earlier attempt's lease.
	`ALTER TABLE leases ADD COLUMN job_id INTEGER NOT NULL DEFAULT 0;`,
}

// Store is an open state database. It is safe for concurrent use.
type Store struct {
	db *db
}

// Open opens the state database and migrates it to the current schema: a SQLite file at
// path (created if needed; ":memory:" is a private in-memory database), or PostgreSQL
// when path is a postgres:// URL.
func Open(ctx context.Context, path string) (*Store, error) {
	if IsPostgres(path) {
		return openPostgres(ctx, path)
	}
	dsn := "file:" + url.PathEscape(path) + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	if path != ":memory:" {
		dsn += "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	// One connection: SQLite serialises writers anyway, and ":memory:" is per connection.
	sqldb.SetMaxOpenConns(1)
	s := &Store{db: &db{DB: sqldb}}
	// Opening a new file races other openers for WAL mode and the first migration; the
	// busy timeout covers most of it, and a lock still reported busy is retried briefly.
	err = retry.Do(ctx, retry.WithMaxDuration(15*time.Second, retry.NewConstant(50*time.Millisecond)), func(ctx context.Context) error {
		if err := s.migrate(ctx); err != nil {
			if isBusy(err) {
				return retry.RetryableError(err)
			}
			return err
		}
		return nil
	})
	if err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("migrate state store %s: %w", path, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", redact(dsn), err)
	}
	sqldb.SetMaxOpenConns(10)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("connect to state store %s: %w", redact(dsn), err)
	}
	s := &Store{db: &db{DB: sqldb, pg: true}}
	if err := s.migrate(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("migrate state store %s: %w", redact(dsn), err)
	}
	return s, nil
}

// redact hides a URL's password, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable PostgreSQL URL)"
	}
	return u.Redacted()
}

// DB is the database handle, for River (package orchestrator), which keeps its own
// tables (river_job, …, migrated by rivermigrate) in the same database. On SQLite it must
// share the one connection: SQLite serialises writers.
func (s *Store) DB() *sql.DB { return s.db.DB }

// Postgres reports whether the store is on PostgreSQL (else SQLite).
func (s *Store) Postgres() bool { return s.db.pg }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	// One write transaction (the DSN asks for BEGIN IMMEDIATE) reads the version and
	// applies what is missing, so two processes opening a new file at once cannot both
	// apply migration 1: the second waits (busy_timeout) and then finds it done. On
	// PostgreSQL an advisory lock does the same for two daemons starting at once.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.lock(ctx, "remint-migrate"); err != nil {
		return fmt.Errorf("lock for migration: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this remint knows (%d): use a newer remint", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		ddl := migrations[i]
		if s.db.pg {
			ddl = pgDDL(ddl)
		}
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, i+1); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// isBusy says whether err is SQLite's "database is locked" (SQLITE_BUSY, code 5).
func isBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()&0xff == 5
	}
	return strings.Contains(err.Error(), "SQLITE_BUSY")
}

// SchemaVersion is the number of migrations applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

const timeLayout = time.RFC3339Nano

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Rollout is one rebuild of a group towards a target image.
type Rollout struct {
	ID           string
	Group        string
	ImageID      string
	ImageVersion string
	Strategy     string
	Status       string
	// Plan is the plan the rollout executes, as JSON (owned by package failover).
	Plan    []byte
	Error   string
	Created time.Time
	Updated time.Time
}

// Step is the state of one slot within a rollout.
type Step struct {
	RolloutID       string
	Slot            int
	Wave            int
	Mode            string // how the slot is replaced (see package failover)
	State           string // where its state machine is (see package failover)
	OldServerID     string
	OldImageVersion string
	NewServerID     string
	NewServerName   string
	AddressID       string
	Address         string
	RetireAfter     time.Time // old server kept for rollback until then
	Error           string
	Updated         time.Time
}

// CreateRollout records a new rollout and its steps in one transaction.
func (s *Store) CreateRollout(ctx context.Context, r Rollout, steps []Step) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (id, grp, image_id, image_version, strategy, status, plan, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Group, r.ImageID, r.ImageVersion, r.Strategy, r.Status, r.Plan, r.Error, fmtTime(r.Created), fmtTime(r.Updated)); err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	for _, st := range steps {
		st.RolloutID = r.ID
		if err := putStep(ctx, tx, st); err != nil {
			return fmt.Errorf("create rollout %s: slot %d: %w", r.ID, st.Slot, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	return nil
}

const rolloutCols = `id, grp, image_id, image_version, strategy, status, plan, error, created_at, updated_at`

func scanRollout(row interface{ Scan(...any) error }) (Rollout, error) {
	var r Rollout
	var created, updated string
	err := row.Scan(&r.ID, &r.Group, &r.ImageID, &r.ImageVersion, &r.Strategy, &r.Status, &r.Plan, &r.Error, &created, &updated)
	r.Created, r.Updated = parseTime(created), parseTime(updated)
	return r, err
}

// GetRollout returns the rollout with id, or ErrNotFound.
func (s *Store) GetRollout(ctx context.Context, id string) (Rollout, error) {
	r, err := scanRollout(s.db.QueryRowContext(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, fmt.Errorf("rollout %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("read rollout %s: %w", id, err)
	}
	return r, nil
}

// LatestRollout returns the group's most recent rollout, or ErrNotFound.
func (s *Store) LatestRollout(ctx context.Context, group string) (Rollout, error) {
	r, err := scanRollout(s.db.QueryRowContext(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE grp = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, group))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, fmt.Errorf("latest rollout of group %s: %w", group, ErrNotFound)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("read latest rollout of group %s: %w", group, err)
	}
	return r, nil
}

// UnfinishedRollout returns the group's running rollout, or ErrNotFound.
func (s *Store) UnfinishedRollout(ctx context.Context, group string) (Rollout, error) {
	r, err := scanRollout(s.db.QueryRowContext(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE grp = ? AND status = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, group, RolloutRunning))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, fmt.Errorf("unfinished rollout of group %s: %w", group, ErrNotFound)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("read unfinished rollout of group %s: %w", group, err)
	}
	return r, nil
}

// Rollouts lists the group's rollouts, newest first.
func (s *Store) Rollouts(ctx context.Context, group string) ([]Rollout, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE grp = ? ORDER BY created_at DESC, rowid DESC`, group)
	if err != nil {
		return nil, fmt.Errorf("list rollouts of group %s: %w", group, err)
	}
	defer rows.Close()
	var out []Rollout
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			return nil, fmt.Errorf("list rollouts of group %s: %w", group, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetRolloutStatus changes a rollout's status and error message.
func (s *Store) SetRolloutStatus(ctx context.Context, id, status, errMsg string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE rollouts SET status = ?, error = ?, updated_at = ? WHERE id = ?`, status, errMsg, fmtTime(now), id)
	if err != nil {
		return fmt.Errorf("set status of rollout %s to %s: %w", id, status, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set status of rollout %s: %w", id, ErrNotFound)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func putStep(ctx context.Context, db execer, st Step) error {
	_, err := db.ExecContext(ctx, `INSERT INTO steps (rollout_id, slot, wave, mode, state, old_server_id, old_image_version, new_server_id, new_server_name, address_id, address, retire_after, error, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (rollout_id, slot) DO UPDATE SET wave = excluded.wave, mode = excluded.mode, state = excluded.state,
			old_server_id = excluded.old_server_id, old_image_version = excluded.old_image_version,
			new_server_id = excluded.new_server_id, new_server_name = excluded.new_server_name,
			address_id = excluded.address_id, address = excluded.address, retire_after = excluded.retire_after,
			error = excluded.error, updated_at = excluded.updated_at`,
		st.RolloutID, st.Slot, st.Wave, st.Mode, st.State, st.OldServerID, st.OldImageVersion, st.NewServerID, st.NewServerName,
		st.AddressID, st.Address, fmtTime(st.RetireAfter), st.Error, fmtTime(st.Updated))
	return err
}

// PutStep writes (inserts or replaces) one step.
func (s *Store) PutStep(ctx context.Context, st Step) error {
	if err := putStep(ctx, s.db, st); err != nil {
		return fmt.Errorf("write step of rollout %s slot %d (%s): %w", st.RolloutID, st.Slot, st.State, err)
	}
	return nil
}

// Steps returns the rollout's steps ordered by slot.
func (s *Store) Steps(ctx context.Context, rolloutID string) ([]Step, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rollout_id, slot, wave, mode, state, old_server_id, old_image_version, new_server_id, new_server_name, address_id, address, retire_after, error, updated_at
		FROM steps WHERE rollout_id = ? ORDER BY slot`, rolloutID)
	if err != nil {
		return nil, fmt.Errorf("list steps of rollout %s: %w", rolloutID, err)
	}
	defer rows.Close()
	var out []Step
	for rows.Next() {
		var st Step
		var retire, updated string
		if err := rows.Scan(&st.RolloutID, &st.Slot, &st.Wave, &st.Mode, &st.State, &st.OldServerID, &st.OldImageVersion, &st.NewServerID, &st.NewServerName,
			&st.AddressID, &st.Address, &retire, &st.Error, &updated); err != nil {
			return nil, fmt.Errorf("list steps of rollout %s: %w", rolloutID, err)
		}
		st.RetireAfter, st.Updated = parseTime(retire), parseTime(updated)
		out = append(out, st)
	}
	return out, rows.Err()
}

// Slot records which server currently serves one slot of a group.
type Slot struct {
	Group        string
	Slot         int
	ServerID     string
	ServerName   string
	ImageID      string
	ImageVersion string
	Updated      time.Time
}

// PutSlot writes (inserts or replaces) a slot.
func (s *Store) PutSlot(ctx context.Context, sl Slot) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO slots (grp, slot, server_id, server_name, image_id, image_version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (grp, slot) DO UPDATE SET server_id = excluded.server_id, server_name = excluded.server_name,
			image_id = excluded.image_id, image_version = excluded.image_version, updated_at = excluded.updated_at`,
		sl.Group, sl.Slot, sl.ServerID, sl.ServerName, sl.ImageID, sl.ImageVersion, fmtTime(sl.Updated))
	if err != nil {
		return fmt.Errorf("record slot %s-%d (server %s): %w", sl.Group, sl.Slot, sl.ServerID, err)
	}
	return nil
}

// DeleteSlot forgets a slot (its server is gone).
func (s *Store) DeleteSlot(ctx context.Context, group string, slot int) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM slots WHERE grp = ? AND slot = ?`, group, slot); err != nil {
		return fmt.Errorf("forget slot %s-%d: %w", group, slot, err)
	}
	return nil
}

// Slots returns the group's slots ordered by slot number.
func (s *Store) Slots(ctx context.Context, group string) ([]Slot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT grp, slot, server_id, server_name, image_id, image_version, updated_at FROM slots WHERE grp = ? ORDER BY slot`, group)
	if err != nil {
		return nil, fmt.Errorf("list slots of group %s: %w", group, err)
	}
	defer rows.Close()
	var out []Slot
	for rows.Next() {
		var sl Slot
		var updated string
		if err := rows.Scan(&sl.Group, &sl.Slot, &sl.ServerID, &sl.ServerName, &sl.ImageID, &sl.ImageVersion, &updated); err != nil {
			return nil, fmt.Errorf("list slots of group %s: %w", group, err)
		}
		sl.Updated = parseTime(updated)
		out = append(out, sl)
	}
	return out, rows.Err()
}

// Address is a failover address remint recorded for a slot of a group (slot -1 for the
// group-wide address). An allocation is recorded (with its Description, which is unique)
// before the cloud is asked, and completed with ID and Address after: a crash in between
// is recovered by finding the floating IP by its description, never by allocating again.
type Address struct {
	Group         string
	Slot          int
	ID            string
	Address       string
	AllocatedFrom string
	Description   string
	Created       time.Time
}

// PutAddress writes (inserts or replaces) a recorded address.
func (s *Store) PutAddress(ctx context.Context, a Address) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO addresses (grp, slot, fip_id, address, allocated_from, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (grp, slot) DO UPDATE SET fip_id = excluded.fip_id, address = excluded.address,
			allocated_from = excluded.allocated_from, description = excluded.description`,
		a.Group, a.Slot, a.ID, a.Address, a.AllocatedFrom, a.Description, fmtTime(a.Created))
	if err != nil {
		return fmt.Errorf("record address of %s slot %d: %w", a.Group, a.Slot, err)
	}
	return nil
}

// Addresses returns the group's recorded addresses ordered by slot.
func (s *Store) Addresses(ctx context.Context, group string) ([]Address, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT grp, slot, fip_id, address, allocated_from, description, created_at FROM addresses WHERE grp = ? ORDER BY slot`, group)
	if err != nil {
		return nil, fmt.Errorf("list addresses of group %s: %w", group, err)
	}
	defer rows.Close()
	var out []Address
	for rows.Next() {
		var a Address
		var created string
		if err := rows.Scan(&a.Group, &a.Slot, &a.ID, &a.Address, &a.AllocatedFrom, &a.Description, &created); err != nil {
			return nil, fmt.Errorf("list addresses of group %s: %w", group, err)
		}
		a.Created = parseTime(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Event is one line of a rollout's event log. Slot is -1 for group-wide events.
type Event struct {
	ID        int64
	RolloutID string
	Group     string
	Time      time.Time
	Slot      int
	Server    string
	Step      string
	Message   string
}

// AppendEvent appends an event to the log.
func (s *Store) AppendEvent(ctx context.Context, e Event) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO events (rollout_id, grp, time, slot, server, step, message) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.RolloutID, e.Group, fmtTime(e.Time), e.Slot, e.Server, e.Step, e.Message)
	if err != nil {
		return fmt.Errorf("append event to rollout %s: %w", e.RolloutID, err)
	}
	return nil
}

// Events returns the rollout's events in the order they were appended.
func (s *Store) Events(ctx context.Context, rolloutID string) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, rollout_id, grp, time, slot, server, step, message FROM events WHERE rollout_id = ? ORDER BY id`, rolloutID)
	if err != nil {
		return nil, fmt.Errorf("list events of rollout %s: %w", rolloutID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var t string
		if err := rows.Scan(&e.ID, &e.RolloutID, &e.Group, &t, &e.Slot, &e.Server, &e.Step, &e.Message); err != nil {
			return nil, fmt.Errorf("list events of rollout %s: %w", rolloutID, err)
		}
		e.Time = parseTime(t)
		out = append(out, e)
	}
	return out, rows.Err()
}
