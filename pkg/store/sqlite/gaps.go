package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/internal/listing"
)

const (
	insertGapEvent = `INSERT OR IGNORE INTO gap_events
		(fingerprint, evaluation_id, state, at, digest, repository, environment, org, team, code, severity, message, rule)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	// selectGaps reads the gap feed. Open gaps (when ?1) are the gaps of the current scores in
	// environments where a deployment of the artifact runs, the first of each code, opened at
	// the latest "opened" event of the gap or else at the score's evaluation. Closed gaps (when
	// ?2) are those whose latest event (by time, then evaluation ID, a close after an open at
	// the same time) closed them and that are not open, opened at the latest "opened" event up
	// to the close or else at the close. Both are filtered by org ?3, team ?4, environment ?5,
	// code ?6 and severity ?7 (empty matches all), and follow the cursor (?8 to ?11) in its
	// order, at most ?12 (-1 for all).
	selectGaps = `
		WITH running AS (
			SELECT DISTINCT digest, environment FROM deployments WHERE ended_at IS NULL
		), current_gaps AS (
			SELECT c.digest, c.repository, c.environment, c.org, c.team, c.level, c.evaluated_at,
				json_extract(g.value, '$.code') AS code, json_extract(g.value, '$.severity') AS severity,
				json_extract(g.value, '$.message') AS message, json_extract(g.value, '$.rule') AS rule,
				row_number() OVER (
					PARTITION BY c.digest, c.environment, json_extract(g.value, '$.code') ORDER BY g.key
				) AS nth
			FROM scores_current AS c
			JOIN running AS r ON r.digest = c.digest AND r.environment = c.environment
			JOIN json_each(c.score, '$.gaps') AS g
			WHERE c.gap_count > 0
		), open_gaps AS (
			SELECT digest, repository, environment, org, team, code, severity, message, rule, level,
				coalesce((
					SELECT max(e.at) FROM gap_events AS e
					WHERE e.digest = g.digest AND e.environment = g.environment AND e.code = g.code
						AND e.state = 'opened'
				), evaluated_at) AS opened_at
			FROM current_gaps AS g
			WHERE nth = 1
		), latest AS (
			SELECT * FROM (
				SELECT e.*, row_number() OVER (
					PARTITION BY digest, environment, code ORDER BY at DESC, evaluation_id DESC, state = 'closed' DESC
				) AS nth
				FROM gap_events AS e
			)
			WHERE nth = 1 AND state = 'closed'
		), closed_gaps AS (
			SELECT l.digest, l.repository, l.environment, l.org, l.team, l.code, l.severity, l.message, l.rule,
				coalesce(s.level, 0) AS level,
				coalesce((
					SELECT max(o.at) FROM gap_events AS o
					WHERE o.digest = l.digest AND o.environment = l.environment AND o.code = l.code
						AND o.state = 'opened' AND o.at <= l.at
				), l.at) AS opened_at,
				l.at AS closed_at
			FROM latest AS l
			LEFT JOIN scores_current AS s ON s.digest = l.digest AND s.environment = l.environment
			WHERE NOT EXISTS (
				SELECT 1 FROM open_gaps AS o
				WHERE o.digest = l.digest AND o.environment = l.environment AND o.code = l.code
			)
		)
		SELECT state, digest, repository, environment, org, team, code, severity, message, rule, level,
			opened_at, closed_at
		FROM (
			SELECT 'open' AS state, digest, repository, environment, org, team, code, severity, message, rule,
				level, opened_at, NULL AS closed_at
			FROM open_gaps WHERE ?1
			UNION ALL
			SELECT 'closed', digest, repository, environment, org, team, code, severity, message, rule,
				level, opened_at, closed_at
			FROM closed_gaps WHERE ?2
		)
		WHERE (?3 = '' OR org = ?3) AND (?4 = '' OR team = ?4) AND (?5 = '' OR environment = ?5)
			AND (?6 = '' OR code = ?6) AND (?7 = '' OR severity = ?7)
			AND (opened_at, digest, environment, code) > (?8, ?9, ?10, ?11)
		ORDER BY opened_at, digest, environment, code
		LIMIT ?12`
)

// WriteGapEvents stores events in one transaction; an event already stored (the same
// fingerprint, evaluation ID and state) is left as it is. It returns an error wrapping
// evidence.ErrInvalid, and writes nothing, when an event is invalid.
func (s *Store) WriteGapEvents(ctx context.Context, events []store.GapEvent) (err error) {
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("writing gap events: %w", err)
		}
	}
	if len(events) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing gap events: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	w := writer{tx: tx, stmts: s.stmts}
	for _, e := range events {
		if err := w.exec(ctx, insertGapEvent, e.Fingerprint, e.EvaluationID, e.State, e.At.UnixNano(),
			string(e.Image.Digest), e.Image.Repository, e.Environment, e.Org, e.Team, e.Gap.Code, e.Gap.Severity,
			e.Gap.Message, e.Gap.Rule); err != nil {
			return fmt.Errorf("writing gap event %s of %s: %w", e.State, e.Fingerprint, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing gap events: committing: %w", err)
	}
	return nil
}

// Gaps returns one page of the gap feed q asks for, ordered by opening time, then digest,
// environment and code, and the cursor of the next page ("" on the last). The error wraps
// evidence.ErrInvalid when q is invalid, and otherwise reports a failing database.
func (s *Store) Gaps(ctx context.Context, q store.GapQuery) ([]store.GapItem, string, error) {
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("reading gaps: %w", err)
	}
	after, _ := q.AfterKey() // valid: checked above
	limit := q.PageSize()
	items, err := s.gaps(ctx, q, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	items, next := listing.PageOf(items, limit, func(g store.GapItem) string { return g.Key().Cursor() })
	return items, next, nil
}

// GapsVersion returns a tag of everything Gaps returns for q, whatever its limit and cursor:
// the number of gaps and a hash of them. The error wraps evidence.ErrInvalid when q's state is
// unknown, and otherwise reports a failing database.
func (s *Store) GapsVersion(ctx context.Context, q store.GapQuery) (string, error) {
	q.Limit, q.After = 0, ""
	if err := q.Validate(); err != nil {
		return "", fmt.Errorf("reading gaps version: %w", err)
	}
	items, err := s.gaps(ctx, q, store.GapKey{}, -1)
	if err != nil {
		return "", err
	}
	return listing.GapsTag(items), nil
}

// gaps reads at most limit (-1 for all) items of the feed q asks for, after the key after.
func (s *Store) gaps(ctx context.Context, q store.GapQuery, after store.GapKey, limit int) ([]store.GapItem, error) {
	open, closed := q.States()
	rows, err := s.stmts[selectGaps].QueryContext(ctx, open, closed, q.Org, q.Team, q.Environment, q.Code, q.Severity,
		after.OpenedAt, string(after.Digest), after.Environment, after.Code, limit)
	if err != nil {
		return nil, fmt.Errorf("reading gaps: %w", err)
	}
	defer rows.Close()
	items := []store.GapItem{}
	for rows.Next() {
		var g store.GapItem
		var openedAt int64
		var closedAt sql.NullInt64
		if err := rows.Scan(&g.State, &g.Image.Digest, &g.Image.Repository, &g.Environment, &g.Org, &g.Team,
			&g.Code, &g.Severity, &g.Message, &g.Rule, &g.SLSALevel, &openedAt, &closedAt); err != nil {
			return nil, fmt.Errorf("reading gaps: %w", err)
		}
		g.Fingerprint = event.GapFingerprint(g.Image.Digest, g.Environment, g.Code)
		g.OpenedAt = time.Unix(0, openedAt).UTC()
		if closedAt.Valid {
			at := time.Unix(0, closedAt.Int64).UTC()
			g.ClosedAt = &at
		}
		items = append(items, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading gaps: %w", err)
	}
	return items, nil
}
