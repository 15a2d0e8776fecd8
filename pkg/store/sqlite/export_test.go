package sqlite

import (
	"context"
	"time"
)

// SeenRange returns when the deployment with key was first and last seen, for tests of what
// only analytics read.
func SeenRange(ctx context.Context, s *Store, key string) (first, last time.Time, err error) {
	var f, l int64
	err = s.db.QueryRowContext(ctx, `SELECT first_seen, last_seen FROM deployments WHERE deployment_key = ?`, key).Scan(&f, &l)
	return time.Unix(0, f).UTC(), time.Unix(0, l).UTC(), err
}

// AppliedMigrations returns the versions schema_migrations records, in order.
func AppliedMigrations(ctx context.Context, s *Store) ([]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// MigrationVersions returns the versions of the embedded migrations, in order.
func MigrationVersions() ([]int, error) {
	ms, err := migrations()
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.version)
	}
	return vs, err
}

// MigrationSQL returns the SQL of the embedded migration with version v, or "" when there is
// none.
func MigrationSQL(v int) (string, error) {
	ms, err := migrations()
	for _, m := range ms {
		if m.version == v {
			return m.sql, err
		}
	}
	return "", err
}
