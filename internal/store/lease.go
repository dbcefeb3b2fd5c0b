package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// A lease makes one process the only changer of something (a group: "group/web"; an
// image family: "family/debian-12") for a while. The holder renews it before it expires;
// a holder that dies stops renewing, and once the lease has expired the next process may
// take it over. Every row carries a random token only its holder knows: renewing and
// releasing need it, so a holder whose lease was taken over cannot renew someone else's.
//
// Time is passed in: expiry compares the caller's now with the recorded expires_at, so
// the processes sharing one state file must share a clock (one host, or NTP). A
// PostgreSQL store would use the database's clock instead (or an advisory lock held by
// the session), behind the same three calls.

// ErrLeaseHeld is matched (errors.Is) by a *LeaseHeldError.
var ErrLeaseHeld = errors.New("lease held by another process")

// ErrLeaseLost is returned by RenewLease when the lease is no longer the caller's: it
// expired and another process took it, or it was released.
var ErrLeaseLost = errors.New("lease lost")

// LeaseHolder says who holds a lease, for the message a refused process prints.
type LeaseHolder struct {
	Host    string
	PID     int
	Command string    // e.g. "remint rebuild web"
	Started time.Time // when the holding process started
	// Job is the durable job the lease is held for (its id), 0 for a command run by hand.
	Job int64
}

// Lease is one recorded lease.
type Lease struct {
	Key      string
	Holder   LeaseHolder
	Token    string // known to the holder only; "" in a LeaseHeldError
	Acquired time.Time
	Renewed  time.Time
	Expires  time.Time
}

// LeaseHeldError is returned by AcquireLease when another process holds an unexpired
// lease. Current describes that holder (its token left out).
type LeaseHeldError struct {
	Current Lease
}

func (e *LeaseHeldError) Error() string {
	h := e.Current.Holder
	return fmt.Sprintf("lease %s is held by %q (pid %d on host %s) since %s until %s",
		e.Current.Key, h.Command, h.PID, h.Host, e.Current.Acquired.UTC().Format(time.RFC3339), e.Current.Expires.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

const leaseCols = `lease_key, token, host, pid, command, started_at, acquired_at, renewed_at, expires_at, job_id`

func scanLease(row interface{ Scan(...any) error }) (Lease, error) {
	var l Lease
	var started, acquired, renewed, expires string
	err := row.Scan(&l.Key, &l.Token, &l.Holder.Host, &l.Holder.PID, &l.Holder.Command, &started, &acquired, &renewed, &expires, &l.Holder.Job)
	l.Holder.Started, l.Acquired, l.Renewed, l.Expires = parseTime(started), parseTime(acquired), parseTime(renewed), parseTime(expires)
	return l, err
}

// AcquireLease takes the lease key for holder until now+ttl: it inserts the lease, or
// takes it over when the recorded one expired at or before now. An unexpired lease of
// another process is refused with a *LeaseHeldError. The check and the write are one
// transaction (SQLite: BEGIN IMMEDIATE, so two processes cannot both win). The returned
// lease carries a fresh token: RenewLease and ReleaseLease need it.
func (s *Store) AcquireLease(ctx context.Context, key string, holder LeaseHolder, ttl time.Duration, now time.Time) (Lease, error) {
	if key == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("acquire lease %q: want a key and a positive ttl (got %s)", key, ttl)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	defer tx.Rollback()
	if err := tx.lock(ctx, "lease/"+key); err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	cur, err := scanLease(tx.QueryRowContext(ctx, `SELECT `+leaseCols+` FROM leases WHERE lease_key = ?`, key))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Lease{}, fmt.Errorf("acquire lease %s: read the current holder: %w", key, err)
	case now.Before(cur.Expires):
		cur.Token = ""
		return Lease{}, &LeaseHeldError{Current: cur}
	}
	l := Lease{Key: key, Holder: holder, Token: newToken(), Acquired: now, Renewed: now, Expires: now.Add(ttl)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO leases (`+leaseCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (lease_key) DO UPDATE SET token = excluded.token, host = excluded.host, pid = excluded.pid,
			command = excluded.command, started_at = excluded.started_at, acquired_at = excluded.acquired_at,
			renewed_at = excluded.renewed_at, expires_at = excluded.expires_at, job_id = excluded.job_id`,
		l.Key, l.Token, holder.Host, holder.PID, holder.Command, fmtTime(holder.Started), fmtTime(l.Acquired), fmtTime(l.Renewed), fmtTime(l.Expires), holder.Job); err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	if err := tx.Commit(); err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	return l, nil
}

// RenewLease extends the lease key held with token to now+ttl. It fails with
// ErrLeaseLost when the row no longer carries token (another process took the expired
// lease over, or it was released). A lease that expired but was not taken over is still
// the caller's: nobody else changed anything under it.
func (s *Store) RenewLease(ctx context.Context, key, token string, ttl time.Duration, now time.Time) (Lease, error) {
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("renew lease %s: ttl %s: want a positive one", key, ttl)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE leases SET renewed_at = ?, expires_at = ? WHERE lease_key = ? AND token = ?`,
		fmtTime(now), fmtTime(now.Add(ttl)), key, token)
	if err != nil {
		return Lease{}, fmt.Errorf("renew lease %s: %w", key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Lease{}, fmt.Errorf("renew lease %s: %w", key, err)
	} else if n == 0 {
		return Lease{}, fmt.Errorf("renew lease %s: %w", key, ErrLeaseLost)
	}
	l, err := scanLease(s.db.QueryRowContext(ctx, `SELECT `+leaseCols+` FROM leases WHERE lease_key = ? AND token = ?`, key, token))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("renew lease %s: %w", key, ErrLeaseLost)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("renew lease %s: read it back: %w", key, err)
	}
	return l, nil
}

// ReleaseLease gives up the lease key held with token. Releasing a lease that is no
// longer the caller's changes nothing and is not an error.
func (s *Store) ReleaseLease(ctx context.Context, key, token string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE lease_key = ? AND token = ?`, key, token); err != nil {
		return fmt.Errorf("release lease %s: %w", key, err)
	}
	return nil
}

// GetLease returns the recorded lease key (expired or not, token left out), or
// ErrNotFound.
func (s *Store) GetLease(ctx context.Context, key string) (Lease, error) {
	l, err := scanLease(s.db.QueryRowContext(ctx, `SELECT `+leaseCols+` FROM leases WHERE lease_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("lease %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("read lease %s: %w", key, err)
	}
	l.Token = ""
	return l, nil
}

// newToken returns 128 random bits in hex.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
