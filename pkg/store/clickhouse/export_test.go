package clickhouse

import (
	"context"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// SeenRange returns when the deployment of d with key was first and last seen, for tests of what
// only analytics read.
func SeenRange(ctx context.Context, s *Store, d evidence.Digest, key string) (first, last time.Time, err error) {
	err = s.conn.QueryRow(ctx, `SELECT first_seen, last_seen FROM deployments FINAL
		WHERE digest = ? AND deployment_key = ?`, string(d), key).Scan(&first, &last)
	return first.UTC(), last.UTC(), err
}

// SplitStatements exposes splitStatements to tests.
var SplitStatements = splitStatements

// AddsColumn exposes addsColumn to tests.
var AddsColumn = addsColumn

// ExecMigration runs stmt through s as the migration runner does.
func ExecMigration(ctx context.Context, s *Store, stmt string) error {
	return s.execMigration(ctx, stmt)
}

// MigrationStatements returns every statement of every embedded migration, in order.
func MigrationStatements() ([]string, error) { return MigrationStatementsUpTo(^uint32(0)) }

// MigrationStatementsUpTo returns every statement of the embedded migrations up to version, in
// order.
func MigrationStatementsUpTo(version uint32) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	var stmts []string
	for _, m := range ms {
		if m.version <= version {
			stmts = append(stmts, m.statements...)
		}
	}
	return stmts, nil
}

// AppliedMigrations returns the versions schema_migrations records, one per version, in order.
func AppliedMigrations(ctx context.Context, s *Store) ([]uint32, error) {
	rows, err := s.conn.Query(ctx, "SELECT version FROM schema_migrations FINAL ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []uint32
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// MigrationVersions returns the versions of the embedded migrations, in order.
func MigrationVersions() ([]uint32, error) {
	ms, err := migrations()
	var vs []uint32
	for _, m := range ms {
		vs = append(vs, m.version)
	}
	return vs, err
}

// RefreshAll recomputes the placements, gap feed and coverage cube of every artifact in s, as the
// migrations that created them do.
func RefreshAll(ctx context.Context, s *Store) error { return s.refreshAll(ctx, true) }
