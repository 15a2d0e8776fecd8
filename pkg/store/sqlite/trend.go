package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	deleteRollup = `DELETE FROM coverage_rollups WHERE day = ?`

	// insertRollup records, for day ?1, the coverage of each (org, team, environment) group as
	// Coverage counts it: the artifacts with a running deployment in the group, by their current
	// level in its environment (0 when unscored), verified or with gaps when that score is.
	insertRollup = `
		INSERT INTO coverage_rollups
			(day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, computed_at)
		WITH deployed AS (
			SELECT DISTINCT org, team, environment, digest FROM deployments WHERE ended_at IS NULL
		), per_artifact AS (
			SELECT d.org, d.team, d.environment,
				coalesce(c.level, 0) AS level,
				coalesce(c.verified_provenance, 0) AS verified,
				coalesce(c.gap_count > 0, 0) AS with_gaps
			FROM deployed AS d
			LEFT JOIN scores_current AS c ON c.digest = d.digest AND c.environment = d.environment
		)
		SELECT ?1, org, team, environment, count(*), sum(level = 0), sum(level = 1), sum(level = 2),
			sum(level = 3), sum(verified), sum(with_gaps), ?2
		FROM per_artifact
		GROUP BY org, team, environment`

	// selectTrend sums the roll-ups from day ?2 to day ?3 by day and by the org, team or
	// environment (?1), of the groups matching org ?4, team ?5 and environment ?6.
	selectTrend = `
		SELECT day, CASE ?1 WHEN 'org' THEN org WHEN 'team' THEN team ELSE environment END AS grp,
			sum(total), sum(l0), sum(l1), sum(l2), sum(l3), sum(verified), sum(with_gaps)
		FROM coverage_rollups
		WHERE day BETWEEN ?2 AND ?3
			AND (?4 = '' OR org = ?4) AND (?5 = '' OR team = ?5) AND (?6 = '' OR environment = ?6)
		GROUP BY day, grp
		ORDER BY day, grp`
)

// RollupCoverage records the coverage of every (org, team, environment) group as of now for the
// UTC day of day, replacing that day's earlier roll-up in one transaction. It returns an error
// wrapping evidence.ErrInvalid when day is before 1970 or after 2105, and otherwise reports a
// failing database.
func (s *Store) RollupCoverage(ctx context.Context, day time.Time) (err error) {
	if err := store.CheckDay(day); err != nil {
		return fmt.Errorf("rolling up coverage: %w", err)
	}
	d := store.Day(day)
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
	if err := w.exec(ctx, insertRollup, d.Unix(), time.Now().UnixNano()); err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rolling up coverage of %s: committing: %w", d.Format(time.DateOnly), err)
	}
	return nil
}

// Trend returns the recorded coverage per day and group value from q.From to q.To, ordered by
// day, then group. The error wraps evidence.ErrInvalid when q is invalid, and otherwise reports
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
