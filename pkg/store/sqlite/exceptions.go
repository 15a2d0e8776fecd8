package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/store"
)

const (
	upsertException = `INSERT INTO exceptions (id, org, code, document, version) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET org = excluded.org, code = excluded.code, document = excluded.document,
			version = excluded.version
		WHERE excluded.version > exceptions.version`

	insertExceptionAudit = `INSERT INTO exception_audit (id, version, org, at, document) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id, version) DO NOTHING`

	selectExceptions = `SELECT document FROM exceptions
		WHERE (?1 = '' OR org = ?1) AND (?2 = '' OR id = ?2) ORDER BY org, id`

	selectExceptionAudit = `SELECT document FROM exception_audit
		WHERE (?1 = '' OR org = ?1) AND (?2 = '' OR id = ?2) ORDER BY at, id`
)

// WriteExceptionChange records c in one transaction: its exception's new state, unless a newer
// version is stored, and its audit row. Writing it again changes nothing. The error wraps
// evidence.ErrInvalid when c is invalid, and otherwise reports a failing database.
func (s *Store) WriteExceptionChange(ctx context.Context, c store.ExceptionChange) (err error) {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("writing exception change: %w", err)
	}
	e := c.Exception
	doc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("writing exception %s: %w", e.ID, err)
	}
	change, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("writing exception %s: %w", e.ID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing exception %s: %w", e.ID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	w := writer{tx: tx, stmts: s.stmts}
	if err := w.exec(ctx, insertExceptionAudit, e.ID, e.Version, e.Org, c.At.UnixNano(), string(change)); err != nil {
		return fmt.Errorf("writing exception %s audit: %w", e.ID, err)
	}
	if err := w.exec(ctx, upsertException, e.ID, e.Org, e.Code, string(doc), e.Version); err != nil {
		return fmt.Errorf("writing exception %s: %w", e.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing exception %s: committing: %w", e.ID, err)
	}
	return nil
}

// Exceptions returns the current state of the exceptions q matches, ordered by org, then ID.
func (s *Store) Exceptions(ctx context.Context, q store.ExceptionQuery) ([]store.Exception, error) {
	out, err := documents[store.Exception](ctx, s.stmts[selectExceptions], q)
	if err != nil {
		return nil, fmt.Errorf("reading exceptions: %w", err)
	}
	return out, nil
}

// ExceptionAudit returns the changes of the exceptions q matches, ordered by time, then
// exception ID.
func (s *Store) ExceptionAudit(ctx context.Context, q store.ExceptionQuery) ([]store.ExceptionChange, error) {
	out, err := documents[store.ExceptionChange](ctx, s.stmts[selectExceptionAudit], q)
	if err != nil {
		return nil, fmt.Errorf("reading exception audit: %w", err)
	}
	return out, nil
}

// documents runs st, which selects one JSON document per row for an exception query, and
// decodes the rows.
func documents[T any](ctx context.Context, st *sql.Stmt, q store.ExceptionQuery) ([]T, error) {
	rows, err := st.QueryContext(ctx, q.Org, q.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			return nil, fmt.Errorf("decoding a stored %T: %w", v, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// acceptance is how queries over deployments (alias d) joined to current scores (alias c) tell
// accepted gaps: the exceptions active at a time, as SQL with numbered parameters.
type acceptance struct {
	terms []string
	args  []any
}

// activeExceptions reads the exceptions of org (all orgs when empty) active at at, as SQL whose
// parameters are numbered from first.
func (s *Store) activeExceptions(ctx context.Context, org string, at time.Time, first int) (acceptance, error) {
	exs, err := s.Exceptions(ctx, store.ExceptionQuery{Org: org})
	if err != nil {
		return acceptance{}, err
	}
	var a acceptance
	param := func(v any) string {
		a.args = append(a.args, v)
		return "?" + strconv.Itoa(first+len(a.args)-1)
	}
	for _, e := range exs {
		if !e.Active(at) {
			continue
		}
		conds := []string{"d.org = " + param(e.Org), "g.value = " + param(e.Code)}
		if e.Scope.Digest != "" {
			conds = append(conds, "d.digest = "+param(string(e.Scope.Digest)))
		}
		if e.Scope.Team != "" {
			conds = append(conds, "d.team = "+param(e.Scope.Team))
		}
		if e.Scope.Environment != "" {
			conds = append(conds, "d.environment = "+param(e.Scope.Environment))
		}
		if e.Scope.Repository != "" {
			// Patterns hold no '?', '[' or ']' (ExceptionScope.Validate): GLOB's '*' is theirs.
			conds = append(conds, "d.repository GLOB "+param(e.Scope.Repository))
		}
		a.terms = append(a.terms, "("+strings.Join(conds, " AND ")+")")
	}
	return a, nil
}

// open returns the expression of whether the current score c has a gap that no exception
// accepts: gap_count > 0 itself when no exception is active.
func (a acceptance) open() string {
	if len(a.terms) == 0 {
		return "c.gap_count > 0"
	}
	return "EXISTS (SELECT 1 FROM json_each(c.gap_codes) AS g WHERE NOT (" + strings.Join(a.terms, " OR ") + "))"
}
