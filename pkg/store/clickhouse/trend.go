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
	// insertRollup records, for day @day and run @run, the coverage of each (org, team,
	// environment) group as Coverage counts it: the artifacts with a running deployment in the
	// group, by their current level in its environment (0 when unscored), verified or with gaps
	// when that score is. It reads every placement once, on the server.
	insertRollup = `
		INSERT INTO coverage_rollups (day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run)
		SELECT toDate(@day), org, team, environment, toUInt32(count()),
			toUInt32(countIf(level = 0)), toUInt32(countIf(level = 1)), toUInt32(countIf(level = 2)),
			toUInt32(countIf(level = 3)), toUInt32(sum(verified)), toUInt32(sum(with_gaps)), toUInt64(@run)
		FROM placements FINAL
		WHERE running = 1
		GROUP BY org, team, environment`

	insertRollupRun = `INSERT INTO coverage_rollup_runs (day, run)`

	// selectTrend sums, per day from @from to @to and per value of a column ({group}), the
	// roll-up rows of the groups matching @org, @team and @env: per group, its newest row
	// (FINAL), kept when it is from the day's newest recorded run or a later one. It reads the
	// roll-ups of the days asked for through the primary key (day, org, team, environment), and
	// their runs.
	selectTrend = `
		SELECT day, {group} AS grp, sum(total), sum(l0), sum(l1), sum(l2), sum(l3), sum(verified), sum(with_gaps)
		FROM (
			SELECT day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run
			FROM coverage_rollups FINAL
			WHERE day >= toDate(@from) AND day <= toDate(@to)
				AND (@org = '' OR org = @org) AND (@team = '' OR team = @team) AND (@env = '' OR environment = @env)
		)
		ANY INNER JOIN (
			SELECT day, max(run) AS m_run
			FROM coverage_rollup_runs
			WHERE day >= toDate(@from) AND day <= toDate(@to)
			GROUP BY day
		) USING (day)
		WHERE run >= m_run
		GROUP BY day, grp
		ORDER BY day, grp`
)

// trendQueries are selectTrend by grouping.
var trendQueries = map[string]string{
	store.TrendByOrg:  replaceGroup(selectTrend, "org"),
	store.TrendByTeam: replaceGroup(selectTrend, "team"),
	store.TrendByEnv:  replaceGroup(selectTrend, "environment"),
}

func replaceGroup(query, column string) string {
	return strings.Replace(query, "{group}", column, 1)
}

// RollupCoverage records the coverage of every (org, team, environment) group as of now for the
// UTC day of day, as one run: the rows, then the run, which replaces that day's earlier runs for
// readers. It returns an error wrapping evidence.ErrInvalid when day is before 1970 or after
// 2105, and otherwise reports a failing server.
func (s *Store) RollupCoverage(ctx context.Context, day time.Time) error {
	if err := store.CheckDay(day); err != nil {
		return fmt.Errorf("rolling up coverage: %w", err)
	}
	d := store.Day(day)
	run := s.nextVersion()
	if err := s.conn.Exec(ctx, insertRollup, chgo.Named("day", d.Format(time.DateOnly)), chgo.Named("run", run)); err != nil {
		return fmt.Errorf("rolling up coverage of %s: %w", d.Format(time.DateOnly), err)
	}
	if err := s.insert(ctx, insertRollupRun, [][]any{{d, run}}); err != nil {
		return fmt.Errorf("rolling up coverage of %s: recording the run: %w", d.Format(time.DateOnly), err)
	}
	return nil
}

// Trend returns the recorded coverage per day and group value from q.From to q.To, ordered by
// day, then group. The error wraps evidence.ErrInvalid when q is invalid, and otherwise reports
// a failing server.
func (s *Store) Trend(ctx context.Context, q store.TrendQuery) ([]store.TrendPoint, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	rows, err := s.conn.Query(ctx, trendQueries[q.By],
		chgo.Named("from", store.Day(q.From).Format(time.DateOnly)), chgo.Named("to", store.Day(q.To).Format(time.DateOnly)),
		chgo.Named("org", q.Org), chgo.Named("team", q.Team), chgo.Named("env", q.Environment))
	if err != nil {
		return nil, fmt.Errorf("reading trend: %w", err)
	}
	defer rows.Close()
	points := []store.TrendPoint{}
	for rows.Next() {
		var p store.TrendPoint
		var day time.Time
		var total, verified, withGaps uint64
		var l [4]uint64
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
