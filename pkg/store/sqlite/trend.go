package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	deleteRollup = `DELETE FROM coverage_cells WHERE day = ?`

	// insertRollup records, for day ?1, the coverage cube (see store.RollupAll): from the inside
	// out, each artifact's running placements — (org, team, environment) groups — with the
	// current score of the environment, with gaps when it has one that no exception active at
	// the roll-up accepts ({open}); each placement in the eight cells it falls in, its
	// labels or '*' by mask bit; per cell and artifact, the highest level (0 when unscored),
	// verified or with gaps when any of its placements there is; per cell, the artifacts, as
	// Coverage counts them.
	insertRollup = `
		INSERT INTO coverage_cells
			(day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, computed_at)
		WITH placed AS (
			SELECT DISTINCT d.digest, d.org, d.team, d.environment,
				coalesce(c.level, 0) AS level,
				coalesce(c.verified_provenance, 0) AS verified,
				coalesce({open}, 0) AS with_gaps
			FROM deployments AS d
			LEFT JOIN scores_current AS c ON c.digest = d.digest AND c.environment = d.environment
			WHERE d.ended_at IS NULL
		), masks (m) AS (
			VALUES (0), (1), (2), (3), (4), (5), (6), (7)
		), per_artifact AS (
			SELECT
				CASE WHEN m & 1 THEN '*' ELSE p.org END AS c_org,
				CASE WHEN m & 2 THEN '*' ELSE p.team END AS c_team,
				CASE WHEN m & 4 THEN '*' ELSE p.environment END AS c_env,
				max(p.level) AS a_level, max(p.verified) AS a_verified, max(p.with_gaps) AS a_gaps
			FROM placed AS p CROSS JOIN masks
			GROUP BY c_org, c_team, c_env, p.digest
		)
		SELECT ?1, c_org, c_team, c_env, count(*), sum(a_level = 0), sum(a_level = 1), sum(a_level = 2),
			sum(a_level = 3), sum(a_verified), sum(a_gaps), ?2
		FROM per_artifact
		GROUP BY c_org, c_team, c_env`

	// selectTrend reads the cells from day ?2 to day ?3 of the grouping ?1 ('org', 'team' or
	// 'env'), filtered by org ?4, team ?5 and environment ?6 (empty for all): a dimension is the
	// filter when one is given, a label when it is the grouping, '*' otherwise.
	selectTrend = `
		SELECT day, CASE ?1 WHEN 'org' THEN org WHEN 'team' THEN team ELSE environment END AS grp,
			total, l0, l1, l2, l3, verified, with_gaps
		FROM coverage_cells
		WHERE day BETWEEN ?2 AND ?3
			AND CASE WHEN ?4 != '' THEN org = ?4 WHEN ?1 = 'org' THEN org != '*' ELSE org = '*' END
			AND CASE WHEN ?5 != '' THEN team = ?5 WHEN ?1 = 'team' THEN team != '*' ELSE team = '*' END
			AND CASE WHEN ?6 != '' THEN environment = ?6 WHEN ?1 = 'env' THEN environment != '*' ELSE environment = '*' END
		ORDER BY day, grp`
)

// RollupCoverage records the coverage cube as of now (see store.RollupAll) for the UTC day of
// day, replacing that day's earlier roll-up in one transaction. It returns an error
// wrapping evidence.ErrInvalid when day is before 1970 or after 2105, and otherwise reports a
// failing database.
func (s *Store) RollupCoverage(ctx context.Context, day time.Time) (err error) {
	if err := store.CheckDay(day); err != nil {
		return fmt.Errorf("rolling up coverage: %w", err)
	}
	d := store.Day(day)
	// The exceptions are read before the transaction: an in-memory store has one connection.
	now := time.Now()
	acc, err := s.activeExceptions(ctx, "", now, 3)
	if err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	w := writer{tx: tx, stmts: s.stmts}
	if err := w.exec(ctx, deleteRollup, d.Unix()); err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	if _, err := tx.ExecContext(ctx, strings.Replace(insertRollup, "{open}", acc.open(), 1),
		append([]any{d.Unix(), now.UnixNano()}, acc.args...)...); err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rolling up coverage of %s: committing: %w", d.Format(time.DateOnly), err)
	}
	return nil
}

// Trend returns the recorded coverage per day and group value from q.From to q.To, ordered by
// day, then group: the cells of the roll-ups whose grouping dimension is a label and whose
// other dimensions are q's filters, or '*' where q has none. The error wraps evidence.ErrInvalid when q is invalid, and otherwise reports
// a failing database.
func (s *Store) Trend(ctx context.Context, q store.TrendQuery) ([]store.TrendPoint, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	rows, err := s.stmts[selectTrend].QueryContext(ctx, q.By, store.Day(q.From).Unix(), store.Day(q.To).Unix(),
		q.Org, q.Team, q.Environment)
	if err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	defer rows.Close()
	points := []store.TrendPoint{}
	for rows.Next() {
		var day int64
		var p store.TrendPoint
		var l [4]int
		if err := rows.Scan(&day, &p.Group, &p.Total, &l[0], &l[1], &l[2], &l[3], &p.VerifiedProvenance,
			&p.WithGaps); err != nil {
			return nil, fmt.Errorf("reading trend: %w", err)
		}
		p.Day = time.Unix(day, 0).UTC()
		p.ByLevel = byLevel(l)
		points = append(points, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	return points, nil
}

// byLevel returns the counts of L0 to L3 as a ByLevel map.
func byLevel(l [4]int) map[string]int {
	m := make(map[string]int, len(l))
	for i, n := range l {
		m[evidence.Level(i).String()] = n
	}
	return m
}
