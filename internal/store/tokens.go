package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// APIToken is a bearer token of remint's HTTP API as stored: its name and the hex
// SHA-256 of its secret, never the secret (package auth makes and checks them).
type APIToken struct {
	Name      string
	Hash      string
	ReadOnly  bool
	CreatedBy string
	Created   time.Time
	LastUsed  time.Time // zero: never used
	Revoked   time.Time // zero: valid
}

// ErrTokenNotFound is returned for an unknown token name or hash.
var ErrTokenNotFound = errors.New("token not found")

// ErrTokenExists is returned when a token of that name exists already (revoked ones too:
// names stay unique so the job log's "token NAME" always means one token).
var ErrTokenExists = errors.New("a token of that name exists already")

const tokenCols = `name, hash, read_only, created_by, created_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var ro int64
	var created, used, revoked string
	if err := row.Scan(&t.Name, &t.Hash, &ro, &t.CreatedBy, &created, &used, &revoked); err != nil {
		return t, err
	}
	t.ReadOnly = ro != 0
	t.Created, t.LastUsed, t.Revoked = parseTime(created), parseTime(used), parseTime(revoked)
	return t, nil
}

// CreateToken stores a new token.
func (s *Store) CreateToken(ctx context.Context, t APIToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, '', '')`,
		t.Name, t.Hash, boolInt(t.ReadOnly), t.CreatedBy, fmtTime(t.Created))
	if isUniqueViolation(err) {
		return fmt.Errorf("create token %s: %w", t.Name, ErrTokenExists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash (revoked or not).
func (s *Store) TokenByHash(ctx context.Context, hash string) (APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrTokenNotFound
	}
	if err != nil {
		return t, fmt.Errorf("look up token: %w", err)
	}
	return t, nil
}

// Tokens lists every token (revoked ones too), by name.
func (s *Store) Tokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CountValidTokens is the number of tokens not revoked.
func (s *Store) CountValidTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE revoked_at = ''`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return n, nil
}

// RevokeToken marks the named token revoked at now; revoking a revoked token keeps the
// first time.
func (s *Store) RevokeToken(ctx context.Context, name string, now time.Time) (APIToken, error) {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at = ''`, fmtTime(now), name)
	if err != nil {
		return APIToken{}, fmt.Errorf("revoke token %s: %w", name, err)
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token %s: %w", name, ErrTokenNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("revoke token %s: %w", name, err)
	}
	return t, nil
}

// TouchToken records that the named token was used at now.
func (s *Store) TouchToken(ctx context.Context, name string, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE name = ?`, fmtTime(now), name); err != nil {
		return fmt.Errorf("record use of token %s: %w", name, err)
	}
	return nil
}
