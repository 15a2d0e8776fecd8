package clickhouse

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	insertGapEvent = `INSERT INTO gap_events (digest, environment, code, evaluation_id, state, fingerprint, at, at_ns,
		repository, org, team, severity, message, rule)`

	// selectStoredGapEvents finds which of a set of events (their natural key, through the
	// primary key) are stored.
	selectStoredGapEvents = `SELECT DISTINCT digest, environment, code, evaluation_id, state FROM gap_events
		WHERE (digest, environment, code, evaluation_id, state) IN (?)`

	// A page of the gap feed is read in two steps. The first finds the keys of the page: the rows
	// of current_gaps (one per gap ever found) in the states asked for ({states}) and matching
	// the filters ({filters}), after the cursor, in feed order, that are the newest row of their
	// key (what FINAL keeps). Reducing the whole table with FINAL, then sorting it, takes a
	// second at a million gaps; instead, gapsThreshold finds the opening time @z_ns of the
	// @n-th row after the cursor's time, reading only the opening times and the columns
	// filtered; gapsCandidates reads the rows up to it (PREWHERE reads the other columns only
	// of the granules holding such rows), and gapsNewest the newest version of their keys,
	// through the primary key. Stale rows (superseded, not yet merged away) are dropped; when
	// too few rows are left, Gaps reads further.
	gapsThreshold = `
		SELECT opened_ns
		FROM current_gaps
		WHERE state IN ({states}){filters} AND opened_ns > @a_ns
		ORDER BY opened_ns
		LIMIT @n, 1`

	gapsCandidates = `
		SELECT digest, environment, code, opened_ns, version
		FROM current_gaps
		PREWHERE opened_ns >= @a_ns AND opened_ns <= @z_ns
		WHERE state IN ({states}){filters}
			AND (opened_ns, digest, environment, code) > (@a_ns, @a_digest, @a_env, @a_code)
		ORDER BY opened_ns, digest, environment, code`

	gapsNewest = `
		SELECT digest, environment, code, max(version)
		FROM current_gaps
		WHERE (digest, environment, code) IN (?)
		GROUP BY digest, environment, code`

	// gapItems is the second step: the items of the page's keys, through the primary key.
	gapItems = `
		SELECT state, digest, repository, environment, org, team, code, severity, message, rule, level,
			opened_ns, closed_ns
		FROM current_gaps FINAL
		WHERE (digest, environment, code) IN (?)`

	// gapsVersion is the number of items of the feed and the XOR of their hashes (each row's
	// item_hash): it changes when an item comes, goes or changes.
	gapsVersion = `
		SELECT count(), groupBitXor(item_hash)
		FROM current_gaps FINAL
		WHERE state IN ({states}){filters}`

	// gapsVersionByParts computes what gapsVersion does without reducing the whole table with
	// FINAL, which takes most of a second at a million gaps. A merged part holds one row per
	// key, so only the keys that also have rows in other parts (few: those written since the
	// last merges) can have stale rows. It sums three parts, by k: 1, the matching rows of the
	// biggest part (@big, a merged one); 2, those of them whose keys have rows in other parts,
	// to take away; 3, those keys' newest rows that match, reduced with FINAL through the
	// primary key.
	gapsVersionByParts = `
		SELECT 1 AS k, count(), groupBitXor(item_hash)
		FROM current_gaps
		WHERE _part = @big AND state IN ({states}){filters}
		UNION ALL
		SELECT 2 AS k, count(), groupBitXor(item_hash)
		FROM current_gaps
		WHERE _part = @big AND (digest, environment, code) IN
				(SELECT digest, environment, code FROM current_gaps WHERE _part != @big)
			AND state IN ({states}){filters}
		UNION ALL
		SELECT 3 AS k, count(), groupBitXor(item_hash)
		FROM current_gaps FINAL
		WHERE (digest, environment, code) IN
				(SELECT digest, environment, code FROM current_gaps WHERE _part != @big)
			AND state IN ({states}){filters}`

	// selectGapParts lists the active parts of current_gaps, the biggest first, and whether each
	// was merged (level > 0).
	selectGapParts = `
		SELECT name, level > 0
		FROM system.parts
		WHERE database = currentDatabase() AND table = 'current_gaps' AND active
		ORDER BY rows DESC, name`
)

// gapStates is the state condition of the states asked for.
func gapStates(q store.GapQuery) string {
	switch open, closed := q.States(); {
	case open && closed:
		return "'open', 'closed'"
	case closed:
		return "'closed'"
	}
	return "'open'"
}

// gapFilters returns the conditions and named parameters of q's filters: only those set, so
// that a query reads no column it does not filter on.
func gapFilters(q store.GapQuery) (string, []any) {
	var cond strings.Builder
	var args []any
	for _, f := range []struct{ column, value string }{
		{"org", q.Org}, {"team", q.Team}, {"environment", q.Environment}, {"code", q.Code}, {"severity", q.Severity},
	} {
		if f.value != "" {
			fmt.Fprintf(&cond, " AND %s = @f_%s", f.column, f.column)
			args = append(args, chgo.Named("f_"+f.column, f.value))
		}
	}
	return cond.String(), args
}

// gapQuery returns query for q's states and filters, with the filters' parameters.
func gapQuery(query string, q store.GapQuery) (string, []any) {
	filters, args := gapFilters(q)
	return strings.NewReplacer("{states}", gapStates(q), "{filters}", filters).Replace(query), args
}

// WriteGapEvents stores events, leaving out those already stored (the same fingerprint,
// evaluation ID and state; two writers storing one event at once store rows that collapse), then
// refreshes the gap feed of their artifacts (see refresh). It returns an error wrapping evidence.ErrInvalid, and writes nothing, when an event is invalid.
func (s *Store) WriteGapEvents(ctx context.Context, events []store.GapEvent) error {
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("writing gap events: %w", err)
		}
	}
	if len(events) == 0 {
		return nil
	}
	keys := make([]chgo.GroupSet, len(events))
	for i, e := range events {
		keys[i] = chgo.GroupSet{Value: []any{string(e.Image.Digest), e.Environment, e.Gap.Code, e.EvaluationID, e.State}}
	}
	stored, err := s.storedGapEvents(ctx, keys)
	if err != nil {
		return fmt.Errorf("writing gap events: %w", err)
	}
	var rows [][]any
	for _, e := range events {
		k := gapEventKey{string(e.Image.Digest), e.Environment, e.Gap.Code, e.EvaluationID, e.State}
		if stored[k] {
			continue
		}
		stored[k] = true
		rows = append(rows, []any{string(e.Image.Digest), e.Environment, e.Gap.Code, e.EvaluationID, e.State,
			e.Fingerprint, seconds(e.At), uint64(e.At.UnixNano()), e.Image.Repository, e.Org, e.Team, e.Gap.Severity,
			e.Gap.Message, e.Gap.Rule})
	}
	if err := s.insert(ctx, insertGapEvent, rows); err != nil {
		return fmt.Errorf("writing gap events: %w", err)
	}
	// Always, even when every event was stored: a write interrupted before its refresh is
	// repaired by its re-delivery.
	var ds []evidence.Digest
	for _, e := range events {
		if !slices.Contains(ds, e.Image.Digest) {
			ds = append(ds, e.Image.Digest)
		}
	}
	if err := s.refresh(ctx, ds); err != nil {
		return fmt.Errorf("writing gap events: %w", err)
	}
	return nil
}

// gapEventKey is the natural key of a gap event, with the fingerprint as its parts.
type gapEventKey struct{ digest, environment, code, evaluationID, state string }

// storedGapEvents returns which of the events with keys (GroupSets of gapEventKey's fields) are
// stored.
func (s *Store) storedGapEvents(ctx context.Context, keys []chgo.GroupSet) (map[gapEventKey]bool, error) {
	rows, err := s.conn.Query(ctx, selectStoredGapEvents, keys)
	if err != nil {
		return nil, fmt.Errorf("reading stored gap events: %w", err)
	}
	defer rows.Close()
	stored := map[gapEventKey]bool{}
	for rows.Next() {
		var k gapEventKey
		if err := rows.Scan(&k.digest, &k.environment, &k.code, &k.evaluationID, &k.state); err != nil {
			return nil, fmt.Errorf("reading stored gap events: %w", err)
		}
		stored[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading stored gap events: %w", err)
	}
	return stored, nil
}

// Gaps returns one page of the gap feed q asks for, ordered by opening time, then digest,
// environment and code, and the cursor of the next page ("" on the last). The error wraps
// evidence.ErrInvalid when q is invalid, and otherwise reports a failing server.
func (s *Store) Gaps(ctx context.Context, q store.GapQuery) ([]store.GapItem, string, error) {
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("reading gaps: %w", err)
	}
	after, _ := q.AfterKey() // valid: checked above
	limit := q.PageSize()
	keys, err := s.gapKeys(ctx, q, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("reading gaps: %w", err)
	}
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = keys[limit-1].Cursor()
	}
	items, err := s.gapItems(ctx, keys)
	if err != nil {
		return nil, "", fmt.Errorf("reading gaps: %w", err)
	}
	return items, next, nil
}

// gapKeys returns the keys of the first n items of q's feed after the cursor after, in feed
// order (see gapsThreshold): it reads the rows up to the opening time of the n-th row after the
// cursor's time, then, when stale rows leave fewer than n, up to that of the 4n-th, and so on.
func (s *Store) gapKeys(ctx context.Context, q store.GapQuery, after store.GapKey, n int) ([]store.GapKey, error) {
	_, filters := gapFilters(q)
	cursor := []any{chgo.Named("a_ns", uint64(after.OpenedAt)), chgo.Named("a_digest", string(after.Digest)),
		chgo.Named("a_env", after.Environment), chgo.Named("a_code", after.Code)}
	threshold, _ := gapQuery(gapsThreshold, q)
	candidates, _ := gapQuery(gapsCandidates, q)
	for want := n; ; want *= 4 {
		// The opening time of the want-th row after the cursor's time: the rows at the cursor's
		// time come on top, so that up to it there are at least want rows after the cursor.
		upTo, bounded := uint64(math.MaxUint64), false
		err := s.scanRows(ctx, threshold, append(slices.Clip(filters), chgo.Named("a_ns", uint64(after.OpenedAt)),
			chgo.Named("n", uint64(want-1))), func(scan func(...any) error) error {
			bounded = true
			return scan(&upTo)
		})
		if err != nil {
			return nil, err
		}
		type row struct {
			key     store.GapKey
			version uint64
		}
		var rows []row
		err = s.scanRows(ctx, candidates, append(slices.Clip(filters), append(cursor, chgo.Named("z_ns", upTo))...),
			func(scan func(...any) error) error {
				var r row
				var digest string
				var openedNs uint64
				if err := scan(&digest, &r.key.Environment, &r.key.Code, &openedNs, &r.version); err != nil {
					return err
				}
				r.key.Digest, r.key.OpenedAt = evidence.Digest(digest), int64(openedNs)
				rows = append(rows, r)
				return nil
			})
		if err != nil {
			return nil, err
		}
		type place struct{ digest, environment, code string }
		newest := map[place]uint64{}
		if len(rows) > 0 {
			set := make([]chgo.GroupSet, len(rows))
			for i, r := range rows {
				set[i] = chgo.GroupSet{Value: []any{string(r.key.Digest), r.key.Environment, r.key.Code}}
			}
			err = s.scanRows(ctx, gapsNewest, []any{set}, func(scan func(...any) error) error {
				var p place
				var v uint64
				if err := scan(&p.digest, &p.environment, &p.code, &v); err != nil {
					return err
				}
				newest[p] = v
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		var keys []store.GapKey
		for _, r := range rows {
			p := place{string(r.key.Digest), r.key.Environment, r.key.Code}
			if v, ok := newest[p]; ok && v == r.version {
				keys = append(keys, r.key)
				delete(newest, p) // one row per key, as FINAL keeps
			}
		}
		if len(keys) >= n || !bounded {
			return keys[:min(len(keys), n)], nil
		}
	}
}

// gapItems reads the items of keys, in their order. An item changed since its key was read is
// returned as it is now.
func (s *Store) gapItems(ctx context.Context, keys []store.GapKey) ([]store.GapItem, error) {
	items := make([]store.GapItem, 0, len(keys))
	if len(keys) == 0 {
		return items, nil
	}
	type place struct{ digest, environment, code string }
	set := make([]chgo.GroupSet, len(keys))
	for i, k := range keys {
		set[i] = chgo.GroupSet{Value: []any{string(k.Digest), k.Environment, k.Code}}
	}
	byKey := map[place]store.GapItem{}
	err := s.scanRows(ctx, gapItems, []any{set}, func(scan func(...any) error) error {
		var g store.GapItem
		var digest string
		var level uint8
		var openedNs, closedNs uint64
		if err := scan(&g.State, &digest, &g.Image.Repository, &g.Environment, &g.Org, &g.Team, &g.Code, &g.Severity,
			&g.Message, &g.Rule, &level, &openedNs, &closedNs); err != nil {
			return err
		}
		g.Image.Digest, g.SLSALevel = evidence.Digest(digest), evidence.Level(level)
		g.Fingerprint = event.GapFingerprint(g.Image.Digest, g.Environment, g.Code)
		g.OpenedAt = time.Unix(0, int64(openedNs)).UTC()
		if g.State == store.GapStateClosed {
			at := time.Unix(0, int64(closedNs)).UTC()
			g.ClosedAt = &at
		}
		byKey[place{digest, g.Environment, g.Code}] = g
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if g, ok := byKey[place{string(k.Digest), k.Environment, k.Code}]; ok {
			items = append(items, g)
		}
	}
	return items, nil
}

// GapsVersion returns a tag of everything Gaps returns for q, whatever its limit and cursor: the
// number of gaps and the XOR of a hash of each. The error wraps evidence.ErrInvalid when q's
// state is unknown, and otherwise reports a failing server.
func (s *Store) GapsVersion(ctx context.Context, q store.GapQuery) (string, error) {
	q.Limit, q.After = 0, ""
	if err := q.Validate(); err != nil {
		return "", fmt.Errorf("reading gaps version: %w", err)
	}
	n, hash, ok, err := s.gapsVersionByParts(ctx, q)
	if err != nil {
		return "", fmt.Errorf("reading gaps version: %w", err)
	}
	if !ok {
		query, args := gapQuery(gapsVersion, q)
		if err := s.conn.QueryRow(ctx, query, args...).Scan(&n, &hash); err != nil {
			return "", fmt.Errorf("reading gaps version: %w", err)
		}
	}
	return fmt.Sprintf("%d-%016x", n, hash), nil
}

// gapsVersionByParts computes the feed's count and hash with gapsVersionByParts. ok is false
// when it cannot: the biggest part was not merged (it may hold a key twice), or the parts
// changed while it read them, three times running.
func (s *Store) gapsVersionByParts(ctx context.Context, q store.GapQuery) (n, hash uint64, ok bool, err error) {
	query, args := gapQuery(gapsVersionByParts, q)
	parts, merged, err := s.gapParts(ctx)
	if err != nil || !merged {
		return 0, 0, false, err
	}
	for range 3 {
		var sums [4]struct{ n, hash uint64 }
		err := s.scanRows(ctx, query, append(slices.Clip(args), chgo.Named("big", parts[0])),
			func(scan func(...any) error) error {
				var k uint8
				var n, hash uint64
				if err := scan(&k, &n, &hash); err != nil {
					return err
				}
				sums[k%4].n, sums[k%4].hash = n, hash
				return nil
			})
		if err != nil {
			return 0, 0, false, err
		}
		// Parts never change: the same parts before and after are the parts read.
		now, merged, err := s.gapParts(ctx)
		if err != nil {
			return 0, 0, false, err
		}
		if slices.Equal(now, parts) {
			return sums[1].n - sums[2].n + sums[3].n, sums[1].hash ^ sums[2].hash ^ sums[3].hash, true, nil
		}
		if parts = now; !merged {
			return 0, 0, false, nil
		}
	}
	return 0, 0, false, nil
}

// gapParts returns the names of the active parts of current_gaps, the biggest first, and
// whether the biggest was merged; none and false when the table is empty.
func (s *Store) gapParts(ctx context.Context) ([]string, bool, error) {
	var names []string
	merged := false
	err := s.scanRows(ctx, selectGapParts, nil, func(scan func(...any) error) error {
		var name string
		var m uint8
		if err := scan(&name, &m); err != nil {
			return err
		}
		if len(names) == 0 {
			merged = m == 1
		}
		names = append(names, name)
		return nil
	})
	return names, merged, err
}
