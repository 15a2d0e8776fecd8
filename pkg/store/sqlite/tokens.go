package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	upsertToken = `INSERT INTO tokens
		(id, name, hash, scopes, org, teams, environments, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name,
			hash = excluded.hash,
			scopes = excluded.scopes,
			org = excluded.org,
			teams = excluded.teams,
			environments = excluded.environments,
			created_at = excluded.created_at,
			expires_at = excluded.expires_at,
			revoked_at = excluded.revoked_at`

	tokenColumns = `id, name, hash, scopes, org, teams, environments, created_at, expires_at, revoked_at`

	selectTokenByHash = `SELECT ` + tokenColumns + ` FROM tokens WHERE hash = ? ORDER BY id LIMIT 1`

	selectTokens = `SELECT ` + tokenColumns + ` FROM tokens ORDER BY created_at DESC, id`
)

// PutToken stores t, replacing the record with the same ID (revoking a token is putting it with
// RevokedAt set). Only the hash of the secret is stored. It returns an error wrapping
// auth.ErrInvalid when t is invalid or holds a time before 1970 or after 2105.
func (s *Store) PutToken(ctx context.Context, t auth.Token) error {
	if err := store.ValidateToken(t); err != nil {
		return fmt.Errorf("storing token: %w", err)
	}
	var doc [3][]byte
	for i, v := range []any{t.Scopes, t.Teams, t.Environments} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("storing token %s: %w", t.ID, err)
		}
		doc[i] = b
	}
	if _, err := s.stmts[upsertToken].ExecContext(ctx, t.ID, t.Name, t.Hash, string(doc[0]), t.Org, string(doc[1]),
		string(doc[2]), t.CreatedAt.UnixNano(), nullTime(t.ExpiresAt), nullTime(t.RevokedAt)); err != nil {
		return fmt.Errorf("storing token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash. The error wraps auth.ErrNotFound
// when there is none, and otherwise reports a failing database.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	t, err := scanToken(s.stmts[selectTokenByHash].QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, fmt.Errorf("looking up token: %w", auth.ErrNotFound)
	}
	if err != nil {
		return auth.Token{}, fmt.Errorf("looking up token: %w", err)
	}
	return t, nil
}

// Tokens returns every token record, revoked and expired ones included, newest first (ties by
// ID); it is empty, not nil, when there are none. The error reports a failing database.
func (s *Store) Tokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := s.stmts[selectTokens].QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	ts := []auth.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return ts, nil
}

// scanToken reads a row of tokenColumns.
func scanToken(row interface{ Scan(...any) error }) (auth.Token, error) {
	var t auth.Token
	var scopes, teams, envs string
	var created int64
	var expires, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &t.Org, &teams, &envs, &created, &expires, &revoked); err != nil {
		return auth.Token{}, err
	}
	for _, f := range []struct {
		doc string
		v   any
	}{{scopes, &t.Scopes}, {teams, &t.Teams}, {envs, &t.Environments}} {
		if err := json.Unmarshal([]byte(f.doc), f.v); err != nil {
			return auth.Token{}, fmt.Errorf("decoding token %s: %w", t.ID, err)
		}
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	t.ExpiresAt, t.RevokedAt = timeOf(expires), timeOf(revoked)
	return t, nil
}

// nullTime is t in Unix nanoseconds, or NULL when t is nil.
func nullTime(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// timeOf is the time of Unix nanoseconds n, or nil when n is NULL.
func timeOf(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}
