package clickhouse

import (
	"context"
	"fmt"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	insertToken = `INSERT INTO tokens (id, name, hash, scopes, org, teams, environments, created_ns, expires_ns,
		revoked_ns, version)`

	// tokenRecords reads the newest row of each token whose rows match {where}, in listing
	// order. The table is small: one row per token and put, until parts merge.
	tokenRecords = `
		SELECT id, argMax(name, version), argMax(hash, version) AS t_hash, argMax(scopes, version),
			argMax(org, version), argMax(teams, version), argMax(environments, version),
			argMax(created_ns, version) AS t_created, argMax(expires_ns, version), argMax(revoked_ns, version)
		FROM tokens
		WHERE %s
		GROUP BY id
		HAVING %s
		ORDER BY t_created DESC, id`
)

var (
	// selectTokenByHash reads the token whose newest record has the hash: the rows of the tokens
	// that ever had it, reduced, then checked.
	selectTokenByHash = fmt.Sprintf(tokenRecords, "id IN (SELECT id FROM tokens WHERE hash = @hash)", "t_hash = @hash")
	selectTokens      = fmt.Sprintf(tokenRecords, "1", "1")
)

// PutToken stores t, replacing the record with the same ID (revoking a token is putting it with
// RevokedAt set): the newest put wins, by its time in this process (puts from two processes at
// once are ordered by their clocks). Only the hash of the secret is stored. It returns an error
// wrapping auth.ErrInvalid when t is invalid or holds a time before 1970 or after 2105.
func (s *Store) PutToken(ctx context.Context, t auth.Token) error {
	if err := store.ValidateToken(t); err != nil {
		return fmt.Errorf("storing token: %w", err)
	}
	scopes := make([]string, len(t.Scopes))
	for i, sc := range t.Scopes {
		scopes[i] = string(sc)
	}
	if err := s.insert(ctx, insertToken, [][]any{{t.ID, t.Name, t.Hash, scopes, t.Org, strs(t.Teams), strs(t.Environments),
		uint64(t.CreatedAt.UnixNano()), nanos(t.ExpiresAt), nanos(t.RevokedAt), s.nextVersion()}}); err != nil {
		return fmt.Errorf("storing token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash. The error wraps auth.ErrNotFound
// when there is none, and otherwise reports a failing server.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	ts, err := s.tokens(ctx, selectTokenByHash, chgo.Named("hash", hash))
	if err != nil {
		return auth.Token{}, fmt.Errorf("looking up token: %w", err)
	}
	if len(ts) == 0 {
		return auth.Token{}, fmt.Errorf("looking up token: %w", auth.ErrNotFound)
	}
	return ts[0], nil
}

// Tokens returns every token record, revoked and expired ones included, newest first (ties by
// ID); it is empty, not nil, when there are none. The error reports a failing server.
func (s *Store) Tokens(ctx context.Context) ([]auth.Token, error) {
	ts, err := s.tokens(ctx, selectTokens)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return ts, nil
}

// tokens runs query, which reads tokenRecords, with args.
func (s *Store) tokens(ctx context.Context, query string, args ...any) ([]auth.Token, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ts := []auth.Token{}
	for rows.Next() {
		var t auth.Token
		var scopes []string
		var created uint64
		var expires, revoked *uint64
		if err := rows.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &t.Org, &t.Teams, &t.Environments, &created, &expires,
			&revoked); err != nil {
			return nil, err
		}
		for _, sc := range scopes {
			t.Scopes = append(t.Scopes, auth.Scope(sc))
		}
		if len(t.Teams) == 0 {
			t.Teams = nil
		}
		if len(t.Environments) == 0 {
			t.Environments = nil
		}
		t.CreatedAt = time.Unix(0, int64(created)).UTC()
		t.ExpiresAt, t.RevokedAt = timeOf(expires), timeOf(revoked)
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// strs returns s, or an empty slice when s is nil.
func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nanos is t in Unix nanoseconds, or nil (NULL) when t is nil.
func nanos(t *time.Time) *uint64 {
	if t == nil {
		return nil
	}
	n := uint64(t.UnixNano())
	return &n
}

// timeOf is the time of Unix nanoseconds n, or nil when n is NULL.
func timeOf(n *uint64) *time.Time {
	if n == nil {
		return nil
	}
	t := time.Unix(0, int64(*n)).UTC()
	return &t
}
