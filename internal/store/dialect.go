package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync/atomic"
)

// The store speaks SQLite by default and PostgreSQL when opened with a postgres:// URL
// (several daemons on one database). Queries are written once, in SQLite's form with ?
// placeholders; db and tx rewrite them for PostgreSQL ($1, $2, …), and migrations are
// translated by pgDDL. Keep new SQL to what both understand (ON CONFLICT … DO UPDATE,
// LIMIT; no rowid, no SQLite-only functions) and it works on both.

// db is the database handle with the dialect's query rewriting.
type db struct {
	*sql.DB
	pg bool
	// queries counts the statements sent (Store.Queries), transactions' included.
	queries atomic.Int64
}

func (d *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	d.queries.Add(1)
	return d.DB.ExecContext(ctx, rebind(d.pg, q), args...)
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	d.queries.Add(1)
	return d.DB.QueryContext(ctx, rebind(d.pg, q), args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	d.queries.Add(1)
	return d.DB.QueryRowContext(ctx, rebind(d.pg, q), args...)
}

func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, pg: d.pg, queries: &d.queries}, nil
}

// tx is a transaction with the dialect's query rewriting.
type tx struct {
	*sql.Tx
	pg      bool
	queries *atomic.Int64
}

func (t *tx) count() {
	if t.queries != nil {
		t.queries.Add(1)
	}
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.count()
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.count()
	return t.Tx.QueryContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	t.count()
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

// lock serialises transactions on key: PostgreSQL runs them concurrently (READ
// COMMITTED), so a check-then-write like AcquireLease takes a transaction-scoped advisory
// lock first. SQLite's transactions are BEGIN IMMEDIATE already: one writer at a time.
func (t *tx) lock(ctx context.Context, key string) error {
	if !t.pg {
		return nil
	}
	_, err := t.Tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, key)
	return err
}

// rebind rewrites ? placeholders to $n and drops SQLite's rowid tie-breaks for PostgreSQL.
func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	q = strings.ReplaceAll(q, ", rowid DESC", "")
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pgDDL translates a migration written for SQLite to PostgreSQL.
func pgDDL(s string) string {
	r := strings.NewReplacer(
		"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY",
		"INTEGER", "BIGINT",
		"BLOB", "BYTEA",
	)
	return r.Replace(s)
}

// IsPostgres reports whether s is a postgres:// (or postgresql://) URL.
func IsPostgres(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
