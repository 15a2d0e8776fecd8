// Package clickhouse is the production store: ClickHouse over its native protocol
// (github.com/ClickHouse/clickhouse-go/v2). The schema is a set of versioned migrations embedded
// from migrations/NNNN_name.sql and applied by Open; it runs on ClickHouse 18.16 (Debian's
// package, which the tests use) as well as on current releases.
//
// ClickHouse has no transactions. Every table is a ReplacingMergeTree keyed by its natural key
// with a version, every write is an idempotent insert, and readers only ever see the newest
// version of a row, so a re-delivered evaluation changes nothing and one interrupted half-way is
// repaired by its re-delivery. Scores are written last for that reason, and then the current
// state derived from an artifact's deployments, scores and gap events (its placements and gap
// feed, see refresh), which current-state queries read instead of the history.
package clickhouse

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
)

// Store is a store.Store kept in ClickHouse. It is safe for concurrent use.
type Store struct {
	conn driver.Conn
	// lastVersion is the last version nextVersion returned.
	lastVersion atomic.Uint64
	// gapSums keeps sums of the biggest part of current_gaps for GapsVersion.
	gapSums partSums
}

var (
	_ store.Store = (*Store)(nil)
	_ auth.Store  = (*Store)(nil)
)

// nextVersion returns a row version for a write that must replace earlier ones: the time in
// Unix nanoseconds, or one more than the last version returned when the clock has not moved on.
func (s *Store) nextVersion() uint64 {
	for {
		last := s.lastVersion.Load()
		v := max(uint64(time.Now().UnixNano()), last+1)
		if s.lastVersion.CompareAndSwap(last, v) {
			return v
		}
	}
}

// Open connects to the ClickHouse server cfg names (zero fields take defaults), creates
// cfg.Database when it is missing and applies the schema migrations it lacks. Processes may open
// the same database at once: every migration is idempotent. Open returns an error when cfg is
// invalid, the server does not answer or a migration fails.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("opening clickhouse store: %w", err)
	}
	if err := createDatabase(ctx, cfg); err != nil {
		return nil, fmt.Errorf("opening clickhouse store: %w", err)
	}
	conn, err := connect(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("opening clickhouse store: %w", err)
	}
	s := &Store{conn: conn}
	if err := s.migrate(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("opening clickhouse store %s: %w", cfg.Database, err)
	}
	return s, nil
}

// connect opens a connection pool to database and checks that the server answers.
func connect(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	conn, err := chgo.Open(&chgo.Options{
		Protocol: chgo.Native,
		Addr:     cfg.Addr,
		Auth: chgo.Auth{
			Database: database,
			Username: cfg.Username,
			Password: cfg.Password,
		},
		DialTimeout: cfg.DialTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(cfg.Addr, ","), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(cfg.Addr, ","), err)
	}
	return conn, nil
}

// createDatabase creates cfg.Database unless it exists, through a connection to the user's
// default database.
func createDatabase(ctx context.Context, cfg Config) error {
	conn, err := connect(ctx, cfg, "")
	if err != nil {
		return err
	}
	defer conn.Close()
	// The name is an identifier (Config.Validate), so quoting it is enough.
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+cfg.Database+"`"); err != nil {
		return fmt.Errorf("creating database %s: %w", cfg.Database, err)
	}
	return nil
}

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("pinging clickhouse store: %w", err)
	}
	return nil
}

// Close closes the connections to the server.
func (s *Store) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("closing clickhouse store: %w", err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned schema change, from migrations/NNNN_name.sql.
type migration struct {
	version    uint32
	name       string
	statements []string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// migrations returns the embedded migrations in version order, or an error when a file is
// misnamed or two share a version.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		m := migrationName.FindStringSubmatch(path.Base(name))
		if m == nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", name)
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: uint32(v), name: m[2], statements: splitStatements(string(b))})
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version) - int(b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// splitStatements splits a migration into its statements: the native protocol runs one at a
// time. Lines starting with "--" are dropped; a statement ends with a line ending in ';'.
func splitStatements(sql string) []string {
	var stmts []string
	var cur strings.Builder
	for line := range strings.Lines(sql) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		stmts = append(stmts, rest)
	}
	return stmts
}

// afterMigration holds what runs, in Go, after the statements of a migration and before it is
// recorded: filling tables that SQL alone cannot fill from the data already stored. Each must be
// idempotent, as the statements are.
var afterMigration = map[uint32]func(*Store, context.Context) error{
	// placements and current_gaps from deployments, scores and events (coverage_live comes later)
	4: func(s *Store, ctx context.Context) error { return s.refreshAll(ctx, false) },
	// coverage_live from the placements
	9: func(s *Store, ctx context.Context) error { return s.refreshAll(ctx, true) },
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    UInt32,
	name       String,
	applied_at DateTime
) ENGINE = ReplacingMergeTree
ORDER BY version`

// migrate applies the migrations the database lacks and records each in schema_migrations.
// ClickHouse has no transactions or locks, so two processes may apply the same migration at
// once; each statement is idempotent (IF NOT EXISTS, or a column added by execMigration) and the
// duplicate record collapses.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, createSchemaMigrations); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		for i, stmt := range m.statements {
			if err := s.execMigration(ctx, stmt); err != nil {
				return fmt.Errorf("applying migration %04d_%s, statement %d: %w", m.version, m.name, i+1, err)
			}
		}
		if after := afterMigration[m.version]; after != nil {
			if err := after(s, ctx); err != nil {
				return fmt.Errorf("applying migration %04d_%s: %w", m.version, m.name, err)
			}
		}
		if err := s.insert(ctx, "INSERT INTO schema_migrations (version, name, applied_at)", [][]any{
			{m.version, m.name, time.Now().UTC().Truncate(time.Second)},
		}); err != nil {
			return fmt.Errorf("recording migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// addColumn matches "ALTER TABLE t ADD COLUMN c ...", capturing t and c; anyAddColumn finds
// every ADD COLUMN of a statement.
var (
	addColumn    = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\s`)
	anyAddColumn = regexp.MustCompile(`(?i)\bADD\s+COLUMN\b`)
)

// addsColumn returns the table and the column of a statement that adds exactly one column to a
// table of the current database; ok is false for any other statement.
func addsColumn(stmt string) (table, column string, ok bool) {
	m := addColumn.FindStringSubmatch(stmt)
	if m == nil || len(anyAddColumn.FindAllStringIndex(stmt, -1)) != 1 {
		return "", "", false
	}
	return m[1], m[2], true
}

// execMigration runs one statement of a migration. ClickHouse 18.16 has no ADD COLUMN IF NOT
// EXISTS, so a statement adding one column is made idempotent here: it is skipped when the column
// exists, and its failure is ignored when the column exists afterwards (another process, starting
// at the same time, added it first; ClickHouse runs the two ALTERs one after the other). Every
// other statement must be idempotent itself.
func (s *Store) execMigration(ctx context.Context, stmt string) error {
	table, column, ok := addsColumn(stmt)
	if !ok {
		return s.conn.Exec(ctx, stmt)
	}
	if exists, err := s.hasColumn(ctx, table, column); err != nil || exists {
		return err
	}
	err := s.conn.Exec(ctx, stmt)
	if err == nil {
		return nil
	}
	if exists, cerr := s.hasColumn(ctx, table, column); cerr == nil && exists {
		return nil
	}
	return err
}

// hasColumn reports whether table, in the current database, has column.
func (s *Store) hasColumn(ctx context.Context, table, column string) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT count() FROM system.columns
		WHERE database = currentDatabase() AND table = ? AND name = ?`, table, column).Scan(&n); err != nil {
		return false, fmt.Errorf("looking for column %s.%s: %w", table, column, err)
	}
	return n > 0, nil
}

// appliedMigrations returns the versions recorded in schema_migrations.
func (s *Store) appliedMigrations(ctx context.Context) (map[uint32]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	return applied, nil
}

// insert sends rows in one batch; query names the table and its columns, in the order of each
// row's values. It does nothing when there are no rows.
func (s *Store) insert(ctx context.Context, query string, rows [][]any) (err error) {
	if len(rows) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("preparing batch: %w", err)
	}
	defer func() {
		if !batch.IsSent() {
			err = errors.Join(err, batch.Abort())
		}
	}()
	for _, row := range rows {
		if err := batch.Append(row...); err != nil {
			return fmt.Errorf("appending to batch: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("sending batch: %w", err)
	}
	return nil
}
