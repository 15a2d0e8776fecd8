// Package sqlite is the embedded, single-machine store: a pure-Go SQLite database
// (modernc.org/sqlite, no cgo) in one file, or in memory. Each evaluation is written in one
// transaction; the schema is migrated from versioned files embedded in the binary when the store
// is opened.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
)

// busyTimeout is how long a connection waits for another writer before giving up.
const busyTimeout = 10 * time.Second

// Store is a store.Store kept in SQLite. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// stmts holds every query of the store, prepared once in Open.
	stmts map[string]*sql.Stmt
}

// Open opens the SQLite database at path, creating the file when it is missing (its directory
// must exist), and applies any schema migrations it lacks. Path ":memory:" opens a private
// in-memory database that lives until Close. File databases use write-ahead logging, so readers
// do not block the writer, and wait for each other's locks rather than fail. Open returns an
// error when the path is empty or holds a '?', or when the database cannot be opened or
// migrated.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("opening sqlite store: path %q: want a file name without '?', or \":memory:\"", path)
	}
	// _txlock=immediate: every transaction takes the write lock when it begins, so two writers
	// queue on busy_timeout instead of failing when one upgrades a read lock.
	params := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_txlock=immediate", busyTimeout.Milliseconds())
	memory := path == ":memory:"
	if !memory {
		params += "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	}
	db, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	if memory {
		// Every connection to ":memory:" is a database of its own: keep exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	s := &Store{db: db, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("opening sqlite store %s: preparing %q: %w", path, q, err)
		}
		s.stmts[q] = st
	}
	return s, nil
}

// queries are the statements Open prepares.
var queries = []string{
	selectArtifactVersion, upsertArtifact, deleteEvidence, insertEvidence, upsertDeployment, lowerFirstSeen,
	upsertScore, selectArtifacts, selectEvidence, selectDeployments, selectCurrentScores,
	selectScoreHistory, listArtifacts, selectComponentDocument, insertComponent, componentsByPURL, componentsByName,
	insertGapEvent, selectGaps, deleteRollup, selectTrend, upsertToken, selectTokenByHash, selectTokens,
	upsertException, insertExceptionAudit, selectExceptions, selectExceptionAudit,
}

var (
	_ store.Store = (*Store)(nil)
	_ auth.Store  = (*Store)(nil)
)

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging sqlite store: %w", err)
	}
	return nil
}

// Close closes the database; an in-memory database is gone afterwards.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing sqlite store: %w", err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned schema change, from migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
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
		v, _ := strconv.Atoi(m[1])
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, all in one transaction, recording each in
// schema_migrations. Because the transaction takes the write lock first, processes opening the
// same file at once apply each migration exactly once.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("applying migration %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("recording migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing migrations: %w", err)
	}
	return nil
}

// rollback rolls tx back, ignoring the error of a transaction that already ended.
func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rolling back: %w", err)
	}
	return nil
}
