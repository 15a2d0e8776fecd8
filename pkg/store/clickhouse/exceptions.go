package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/store"
)

const (
	insertException      = `INSERT INTO exceptions (org, id, code, document, version)`
	insertExceptionAudit = `INSERT INTO exception_audit (org, id, version, at_ns, actor, action, document)`

	// selectExceptions reads each exception's newest row matching {where}; the table is small.
	selectExceptions = `
		SELECT argMax(document, version)
		FROM exceptions
		WHERE {where}
		GROUP BY org, id
		ORDER BY org, id`

	// selectExceptionAudit reads changes in the order ExceptionAudit promises: a change's version is
	// its time (ExceptionChange.Validate), then the exception ID.
	selectExceptionAudit = `
		SELECT DISTINCT org, id, version, document
		FROM exception_audit
		WHERE {where}
		ORDER BY version, id`
)

// WriteExceptionChange records c: its exception's new state, which readers take when no newer
// version is stored, and its audit row. Writing it again changes nothing. The error wraps
// evidence.ErrInvalid when c is invalid, and otherwise reports a failing server.
func (s *Store) WriteExceptionChange(ctx context.Context, c store.ExceptionChange) error {
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
	// The audit row first: a change whose state row is lost is written again by a retry,
	// and the audit log never misses a state that readers saw.
	if err := s.insert(ctx, insertExceptionAudit, [][]any{{e.Org, e.ID, uint64(e.Version),
		uint64(c.At.UnixNano()), c.Actor, c.Action, string(change)}}); err != nil {
		return fmt.Errorf("writing exception %s audit: %w", e.ID, err)
	}
	if err := s.insert(ctx, insertException, [][]any{{e.Org, e.ID, e.Code, string(doc), uint64(e.Version)}}); err != nil {
		return fmt.Errorf("writing exception %s: %w", e.ID, err)
	}
	return nil
}

// exceptionWhere returns the condition and arguments of q.
func exceptionWhere(q store.ExceptionQuery) (string, []any) {
	conds := []string{"1"}
	var args []any
	if q.Org != "" {
		conds = append(conds, "org = @org")
		args = append(args, chgo.Named("org", q.Org))
	}
	if q.ID != "" {
		conds = append(conds, "id = @id")
		args = append(args, chgo.Named("id", q.ID))
	}
	return strings.Join(conds, " AND "), args
}

// Exceptions returns the current state of the exceptions q matches, ordered by org, then ID.
// The error reports a failing server or a stored document that does not decode.
func (s *Store) Exceptions(ctx context.Context, q store.ExceptionQuery) ([]store.Exception, error) {
	where, args := exceptionWhere(q)
	rows, err := s.conn.Query(ctx, strings.Replace(selectExceptions, "{where}", where, 1), args...)
	if err != nil {
		return nil, fmt.Errorf("reading exceptions: %w", err)
	}
	defer rows.Close()
	out := []store.Exception{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("reading exceptions: %w", err)
		}
		var e store.Exception
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			return nil, fmt.Errorf("reading exceptions: decoding a stored exception: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading exceptions: %w", err)
	}
	return out, nil
}

// ExceptionAudit returns the changes of the exceptions q matches, ordered by time, then
// exception ID. The error reports a failing server or a stored change that does not decode.
func (s *Store) ExceptionAudit(ctx context.Context, q store.ExceptionQuery) ([]store.ExceptionChange, error) {
	where, args := exceptionWhere(q)
	rows, err := s.conn.Query(ctx, strings.Replace(selectExceptionAudit, "{where}", where, 1), args...)
	if err != nil {
		return nil, fmt.Errorf("reading exception audit: %w", err)
	}
	defer rows.Close()
	out := []store.ExceptionChange{}
	for rows.Next() {
		var org, id, doc string
		var version uint64
		if err := rows.Scan(&org, &id, &version, &doc); err != nil {
			return nil, fmt.Errorf("reading exception audit: %w", err)
		}
		var c store.ExceptionChange
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, fmt.Errorf("reading exception audit: decoding the change of %s: %w", id, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading exception audit: %w", err)
	}
	return out, nil
}

// acceptance is how queries over placements tell accepted gaps: the exceptions active at a
// time, as SQL.
type acceptance struct {
	terms   []string
	covered []string // per exception, whether a placement has a gap it accepts
	args    []any
}

// activeExceptions reads the exceptions of org (all orgs when empty) active at at.
func (s *Store) activeExceptions(ctx context.Context, org string, at time.Time) (acceptance, error) {
	exs, err := s.Exceptions(ctx, store.ExceptionQuery{Org: org})
	if err != nil {
		return acceptance{}, err
	}
	var a acceptance
	for _, e := range exs {
		if !e.Active(at) {
			continue
		}
		p := "x" + strconv.Itoa(len(a.terms)) + "_"
		named := func(name, column, value string) string {
			a.args = append(a.args, chgo.Named(p+name, value))
			return column + " = @" + p + name
		}
		conds := []string{named("org", "org", e.Org)}
		if e.Scope.Digest != "" {
			conds = append(conds, named("digest", "digest", string(e.Scope.Digest)))
		}
		if e.Scope.Team != "" {
			conds = append(conds, named("team", "team", e.Scope.Team))
		}
		if e.Scope.Environment != "" {
			conds = append(conds, named("env", "environment", e.Scope.Environment))
		}
		if e.Scope.Repository != "" {
			a.args = append(a.args, chgo.Named(p+"repo", store.RepositoryRegexpSource(e.Scope.Repository)))
			conds = append(conds, "match(repository, @"+p+"repo)")
		}
		a.args = append(a.args, chgo.Named(p+"code", e.Code))
		a.terms = append(a.terms, "if("+strings.Join(conds, " AND ")+", [@"+p+"code], emptyArrayString())")
		a.covered = append(a.covered, "("+strings.Join(conds, " AND ")+" AND has(gap_codes, @"+p+"code))")
	}
	return a, nil
}

// open returns the expression, over a row of placements, of whether the placement has a gap
// that no exception accepts: with_gaps itself when no exception is active. The codes the
// exceptions accept in the row's placement are gathered into an array — ClickHouse 18.16's
// lambdas cannot read the row's columns — which must hold every gap code for none to be open.
func (a acceptance) open() string {
	if len(a.terms) == 0 {
		return "with_gaps"
	}
	return "toUInt8(with_gaps = 1 AND NOT hasAll(arrayConcat(" + strings.Join(a.terms, ", ") + "), gap_codes))"
}

// anyCovered returns the condition, over a row of placements, that an exception accepts one of
// its gaps: false when no exception is active.
func (a acceptance) anyCovered() string {
	if len(a.covered) == 0 {
		return "0"
	}
	return "(" + strings.Join(a.covered, " OR ") + ")"
}
