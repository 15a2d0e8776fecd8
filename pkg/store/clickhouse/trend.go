package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	// insertCells records, for day @day and run @run, the coverage cube (see store.RollupAll),
	// counted as Coverage counts. From the inside out:
	//   - each artifact's running placements (one per (org, team, environment) group, with the
	//     current score of the environment) gathered into an array, highest level first: one
	//     GROUP BY digest, the least the count needs;
	//   - the array repeated for the eight cells each placement falls in, its labels or '*' by
	//     mask bit (1 org, 2 team, 4 environment), and spread into one row per placement and
	//     cell, marked when it is the artifact's first in the cell (arrayEnumerateUniq), which
	//     has the artifact's level there, or its first verified or with gaps there; rows with
	//     no mark count for nothing and are dropped;
	//   - per cell, the marked rows counted.
	//
	// A placement has gaps ({open}) when it has one that no exception active at the roll-up
	// accepts, as Coverage counts them.
	//
	// ClickHouse 18.16 drops a subquery's columns that only a lambda reads: no lambda here
	// reads a column it is not given.
	insertCells = `
		INSERT INTO coverage_cells (day, dims, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run)
		SELECT toDate(@day), toUInt8((c_org != '*') + 2 * (c_team != '*') + 4 * (c_env != '*')), c_org, c_team, c_env,
			toUInt32(countIf(u_any = 1)),
			toUInt32(countIf(u_any = 1 AND c_level = 0)),
			toUInt32(countIf(u_any = 1 AND c_level = 1)),
			toUInt32(countIf(u_any = 1 AND c_level = 2)),
			toUInt32(countIf(u_any = 1 AND c_level = 3)),
			toUInt32(countIf(u_verified = 1 AND c_verified = 1)),
			toUInt32(countIf(u_gaps = 1 AND c_gaps = 1)),
			toUInt64(@run)
		FROM (
			SELECT c_org, c_team, c_env, c_level, c_verified, c_gaps, u_any, u_verified, u_gaps
			FROM (
				SELECT arrayMap(p -> tupleElement(p, 4), g_places) AS g_org,
					arrayMap(p -> tupleElement(p, 5), g_places) AS g_team,
					arrayMap(p -> tupleElement(p, 6), g_places) AS g_env,
					arrayMap(p -> '*', g_places) AS g_all,
					arrayConcat(g_org, g_all, g_org, g_all, g_org, g_all, g_org, g_all) AS a_org,
					arrayConcat(g_team, g_team, g_all, g_all, g_team, g_team, g_all, g_all) AS a_team,
					arrayConcat(g_env, g_env, g_env, g_env, g_all, g_all, g_all, g_all) AS a_env,
					arrayConcat(g_places, g_places, g_places, g_places, g_places, g_places, g_places, g_places) AS a_places,
					arrayMap(p -> tupleElement(p, 1), a_places) AS a_level,
					arrayMap(p -> tupleElement(p, 2), a_places) AS a_verified,
					arrayMap(p -> tupleElement(p, 3), a_places) AS a_gaps
				FROM (
					SELECT arrayReverseSort(groupArray((level, verified, {open}, org, team, environment))) AS g_places
					FROM placements FINAL
					WHERE running = 1
					GROUP BY digest
				)
			)
			ARRAY JOIN a_org AS c_org, a_team AS c_team, a_env AS c_env, a_level AS c_level,
				a_verified AS c_verified, a_gaps AS c_gaps,
				arrayEnumerateUniq(a_org, a_team, a_env) AS u_any,
				arrayEnumerateUniq(a_org, a_team, a_env, a_verified) AS u_verified,
				arrayEnumerateUniq(a_org, a_team, a_env, a_gaps) AS u_gaps
			WHERE u_any = 1 OR (u_verified = 1 AND c_verified = 1) OR (u_gaps = 1 AND c_gaps = 1)
		)
		GROUP BY c_org, c_team, c_env`

	// rollupSpill is how much memory the GROUP BY digest of a roll-up may take before it spills
	// to disk (max_bytes_before_external_group_by): it holds the placements of every deployed
	// artifact, about a kilobyte per artifact, and spilling it also keeps the blocks after it
	// small.
	rollupSpill = 128 << 20

	// insertGroups copies run @run's cells of three labels on day @day to coverage_rollups, the
	// per-group roll-ups of migration 0005, kept for queries written against them (the bundled
	// dashboards read coverage_cells).
	insertGroups = `
		INSERT INTO coverage_rollups (day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run)
		SELECT day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run
		FROM coverage_cells
		WHERE day = toDate(@day) AND dims = 7 AND run = @run`

	insertRollupRun = `INSERT INTO coverage_rollup_runs (day, run)`

	// selectTrend reads, per day from @from to @to, the cells of one shape (@dims) matching the
	// query's filters ({filters}): each cell's newest row (by run; argMax is quicker than
	// FINAL here), kept when it is from the day's newest recorded run or a later one, with the
	// grouping's column ({group}). It reads the cells through the primary key (day, dims, org,
	// team, environment), and the runs of the days.
	selectTrend = `
		SELECT day, {group} AS grp, c_total, c_l0, c_l1, c_l2, c_l3, c_verified, c_gaps
		FROM (
			SELECT day, org, team, environment, argMax(total, run) AS c_total, argMax(l0, run) AS c_l0,
				argMax(l1, run) AS c_l1, argMax(l2, run) AS c_l2, argMax(l3, run) AS c_l3,
				argMax(verified, run) AS c_verified, argMax(with_gaps, run) AS c_gaps, max(run) AS c_run
			FROM coverage_cells
			WHERE day >= toDate(@from) AND day <= toDate(@to) AND dims = @dims{filters}
			GROUP BY day, org, team, environment
		)
		ANY INNER JOIN (
			SELECT day, max(run) AS m_run
			FROM coverage_rollup_runs
			WHERE day >= toDate(@from) AND day <= toDate(@to)
			GROUP BY day
		) USING (day)
		WHERE c_run >= m_run
		ORDER BY day, grp`
)

// trendQuery returns the query of the cells that q reads, and its arguments: the cells whose
// dimensions are labels exactly where q groups or filters, and equal to the filters.
func trendQuery(q store.TrendQuery) (string, []any) {
	args := []any{chgo.Named("from", store.Day(q.From).Format(time.DateOnly)),
		chgo.Named("to", store.Day(q.To).Format(time.DateOnly))}
	var dims uint8
	var group, filters string
	for _, d := range []struct {
		by, column, filter string
		bit                uint8 // as in the column dims
	}{
		{store.TrendByOrg, "org", q.Org, 1},
		{store.TrendByTeam, "team", q.Team, 2},
		{store.TrendByEnv, "environment", q.Environment, 4},
	} {
		if d.by == q.By {
			dims |= d.bit
			group = d.column
		}
		if d.filter != "" {
			dims |= d.bit
			filters += " AND " + d.column + " = @" + d.column
			args = append(args, chgo.Named(d.column, d.filter))
		}
	}
	args = append(args, chgo.Named("dims", dims))
	return strings.NewReplacer("{group}", group, "{filters}", filters).Replace(selectTrend), args
}

// RollupCoverage records the coverage cube as of now (see store.RollupAll) for the UTC day of
// day, as one run: its cells, their per-group copy (coverage_rollups), then the run, which
// replaces that day's earlier runs for readers. It returns an error wrapping evidence.ErrInvalid
// when day is before 1970 or after 2105, and otherwise reports a failing server.
func (s *Store) RollupCoverage(ctx context.Context, day time.Time) error {
	if err := store.CheckDay(day); err != nil {
		return fmt.Errorf("rolling up coverage: %w", err)
	}
	d := store.Day(day)
	acc, err := s.activeExceptions(ctx, "", time.Now())
	if err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	run := s.nextVersion()
	args := []any{chgo.Named("day", d.Format(time.DateOnly)), chgo.Named("run", run)}
	spill := chgo.Context(ctx, chgo.WithSettings(chgo.Settings{"max_bytes_before_external_group_by": rollupSpill}))
	cells := strings.Replace(insertCells, "{open}", acc.open(), 1)
	if err := s.conn.Exec(spill, cells, append(acc.args, args...)...); err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	if err := s.conn.Exec(ctx, insertGroups, args...); err != nil {
		return fmt.Errorf("rolling up coverage of %s: copying groups: %w", d.Format(time.DateOnly), err)
	}
	if err := s.insert(ctx, insertRollupRun, [][]any{{d, run}}); err != nil {
		return fmt.Errorf("rolling up coverage of %s: recording the run: %w", d.Format(time.DateOnly), err)
	}
	return nil
}

// Trend returns the recorded coverage per day and group value from q.From to q.To, ordered by
// day, then group: the cells of the roll-ups whose grouping dimension is a label and whose
// other dimensions are q's filters, or '*' where q has none. The error wraps
// evidence.ErrInvalid when q is invalid, and otherwise reports a failing server.
func (s *Store) Trend(ctx context.Context, q store.TrendQuery) ([]store.TrendPoint, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	query, args := trendQuery(q)
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	defer rows.Close()
	points := []store.TrendPoint{}
	for rows.Next() {
		var p store.TrendPoint
		var day time.Time
		var total, verified, withGaps uint32
		var l [4]uint32
		if err := rows.Scan(&day, &p.Group, &total, &l[0], &l[1], &l[2], &l[3], &verified, &withGaps); err != nil {
			return nil, fmt.Errorf("reading trend: %w", err)
		}
		y, m, dd := day.Date()
		p.Day = time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
		p.Total, p.VerifiedProvenance, p.WithGaps = int(total), int(verified), int(withGaps)
		p.ByLevel = map[string]int{}
		for i, n := range l {
			p.ByLevel[evidence.Level(i).String()] = int(n)
		}
		points = append(points, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	return points, nil
}
