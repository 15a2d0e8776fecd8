package clickhouse

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
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

	// A page of the gap feed is read from gap_feed (migration 0009), which holds the feed in
	// its order, through its primary key; the rows in the states asked for ({states}) and
	// matching the filters ({filters}), after the cursor, are candidates. gapsThreshold finds an
	// opening time @z_ns up to which there are @n candidates at least: the greatest of the first
	// @n candidates read, by one thread, which reads the parts of the table in order and stops
	// there — the first candidates of the biggest part, when it holds enough; count() says
	// whether there are @n at all. gapsCandidates reads the candidates up to it, in feed order.
	// gapItems then reads their items from current_gaps, through its primary key: a candidate is
	// the item only when its version is the item's (it was written by the same refresh), others
	// were superseded or left behind; when too few are left, Gaps reads further.
	gapsThreshold = `
		SELECT count(), max(opened_ns)
		FROM (
			SELECT opened_ns
			FROM gap_feed
			WHERE opened_ns >= @a_ns AND (opened_ns, digest, environment, code) > (@a_ns, @a_digest, @a_env, @a_code)
				AND state IN ({states}){filters}
			LIMIT @n
		)
		SETTINGS max_threads = 1`

	gapsCandidates = `
		SELECT digest, environment, code, opened_ns, version
		FROM gap_feed
		WHERE opened_ns >= @a_ns AND opened_ns <= @z_ns
			AND (opened_ns, digest, environment, code) > (@a_ns, @a_digest, @a_env, @a_code)
			AND state IN ({states}){filters}
		ORDER BY opened_ns, digest, environment, code`

	// gapItems reads the rows of a set of keys, with their versions, through the primary key;
	// the newest of each key is its item (what FINAL keeps, which is slower here).
	gapItems = `
		SELECT state, digest, repository, environment, org, team, code, severity, message, rule, level,
			opened_ns, closed_ns, version
		FROM current_gaps
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
	// last merges) can have stale rows. It sums three parts: 1 (gapsVersionBig), the matching
	// rows of the biggest part (@big, a merged one); 2 (k 2 of gapsVersionRest), those of them
	// whose keys have rows in other parts, to take away; 3 (k 3), those keys' newest rows that
	// match, reduced with FINAL through the primary key. Parts never change: the first sum,
	// which reads the most, is kept for as long as the part is the biggest (see partSums), and
	// the others are nothing when the table is one part.
	gapsVersionBig = `
		SELECT count(), groupBitXor(item_hash)
		FROM current_gaps
		WHERE _part = @big AND state IN ({states}){filters}`

	gapsVersionRest = `
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

	// selectGapParts lists the active parts of current_gaps, the biggest first: each one's name,
	// whether it was merged (level > 0), its rows and when it was written.
	selectGapParts = `
		SELECT name, level > 0, toString(rows), toString(modification_time)
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
	items, err := s.gapPage(ctx, q, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("reading gaps: %w", err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = items[limit-1].Key().Cursor()
	}
	return items, next, nil
}

// gapPlace is the identity of a gap: its key in current_gaps.
type gapPlace struct{ digest, environment, code string }

// gapPage returns the first n items of q's feed after the cursor after, in feed order (see
// gapsThreshold): it reads the candidates up to the opening time of the n-th, then, when stale
// ones leave fewer than n items, up to that of the 4n-th, and so on.
func (s *Store) gapPage(ctx context.Context, q store.GapQuery, after store.GapKey, n int) ([]store.GapItem, error) {
	_, filters := gapFilters(q)
	cursor := []any{chgo.Named("a_ns", uint64(after.OpenedAt)), chgo.Named("a_digest", string(after.Digest)),
		chgo.Named("a_env", after.Environment), chgo.Named("a_code", after.Code)}
	threshold, _ := gapQuery(gapsThreshold, q)
	candidates, _ := gapQuery(gapsCandidates, q)
	for want := n; ; want *= 4 {
		var found, upTo uint64
		err := s.conn.QueryRow(ctx, threshold, append(slices.Clip(filters), append(slices.Clip(cursor),
			chgo.Named("n", uint64(want)))...)...).Scan(&found, &upTo)
		if err != nil {
			return nil, err
		}
		bounded := found >= uint64(want)
		if !bounded {
			upTo = math.MaxUint64
		}
		type row struct {
			place   gapPlace
			version uint64
		}
		var rows []row
		var set []chgo.GroupSet
		err = s.scanRows(ctx, candidates, append(slices.Clip(filters), append(slices.Clip(cursor), chgo.Named("z_ns", upTo))...),
			func(scan func(...any) error) error {
				var r row
				var openedNs uint64
				if err := scan(&r.place.digest, &r.place.environment, &r.place.code, &openedNs, &r.version); err != nil {
					return err
				}
				rows = append(rows, r)
				set = append(set, chgo.GroupSet{Value: []any{r.place.digest, r.place.environment, r.place.code}})
				return nil
			})
		if err != nil {
			return nil, err
		}
		current, err := s.gapItems(ctx, set)
		if err != nil {
			return nil, err
		}
		items := []store.GapItem{}
		for _, r := range rows {
			if it, ok := current[r.place]; ok && it.version == r.version {
				items = append(items, it.item)
				delete(current, r.place) // once, should a key be there twice
			}
		}
		if len(items) >= n || !bounded {
			return items[:min(len(items), n)], nil
		}
	}
}

// versionedItem is an item of the feed and the version of its row.
type versionedItem struct {
	item    store.GapItem
	version uint64
}

// gapItems reads the items of the keys in set, with their versions: each key's newest row.
func (s *Store) gapItems(ctx context.Context, set []chgo.GroupSet) (map[gapPlace]versionedItem, error) {
	out := map[gapPlace]versionedItem{}
	if len(set) == 0 {
		return out, nil
	}
	err := s.scanRows(ctx, gapItems, []any{set}, func(scan func(...any) error) error {
		var g store.GapItem
		var digest string
		var level uint8
		var openedNs, closedNs, version uint64
		if err := scan(&g.State, &digest, &g.Image.Repository, &g.Environment, &g.Org, &g.Team, &g.Code, &g.Severity,
			&g.Message, &g.Rule, &level, &openedNs, &closedNs, &version); err != nil {
			return err
		}
		g.Image.Digest, g.SLSALevel = evidence.Digest(digest), evidence.Level(level)
		g.Fingerprint = event.GapFingerprint(g.Image.Digest, g.Environment, g.Code)
		g.OpenedAt = time.Unix(0, int64(openedNs)).UTC()
		if g.State == store.GapStateClosed {
			at := time.Unix(0, int64(closedNs)).UTC()
			g.ClosedAt = &at
		}
		p := gapPlace{digest, g.Environment, g.Code}
		if old, ok := out[p]; !ok || version > old.version {
			out[p] = versionedItem{g, version}
		}
		return nil
	})
	return out, err
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

// gapsVersionByParts computes the feed's count and hash with gapsVersionBig and
// gapsVersionRest. ok is false when it cannot: the biggest part was not merged (it may hold a
// key twice), or the parts changed while it read them, three times running.
func (s *Store) gapsVersionByParts(ctx context.Context, q store.GapQuery) (n, hash uint64, ok bool, err error) {
	bigQuery, args := gapQuery(gapsVersionBig, q)
	restQuery, _ := gapQuery(gapsVersionRest, q)
	key := fmt.Sprint(bigQuery, args)
	parts, merged, err := s.gapParts(ctx)
	if err != nil || !merged {
		return 0, 0, false, err
	}
	for range 3 {
		bigArgs := append(slices.Clip(args), chgo.Named("big", parts[0].name))
		big, cached := s.gapSums.get(parts[0], key)
		if !cached {
			if err := s.conn.QueryRow(ctx, bigQuery, bigArgs...).Scan(&big[0], &big[1]); err != nil {
				return 0, 0, false, err
			}
		}
		var rest [4][2]uint64
		if len(parts) > 1 {
			err := s.scanRows(ctx, restQuery, bigArgs, func(scan func(...any) error) error {
				var k uint8
				var n, hash uint64
				if err := scan(&k, &n, &hash); err != nil {
					return err
				}
				rest[k%4] = [2]uint64{n, hash}
				return nil
			})
			if err != nil {
				return 0, 0, false, err
			}
		} else if cached {
			// Nothing else was read: the part was there when it was cached.
			return big[0], big[1], true, nil
		}
		// The same parts before and after are the parts read.
		now, merged, err := s.gapParts(ctx)
		if err != nil {
			return 0, 0, false, err
		}
		if slices.Equal(now, parts) {
			s.gapSums.put(parts[0], key, big)
			return big[0] - rest[2][0] + rest[3][0], big[1] ^ rest[2][1] ^ rest[3][1], true, nil
		}
		if parts = now; !merged {
			return 0, 0, false, nil
		}
	}
	return 0, 0, false, nil
}

// gapPart identifies an active part of current_gaps: its name, and, should the table be made
// anew (part names start over), its size and time.
type gapPart struct{ name, rows, modified string }

// gapParts returns the active parts of current_gaps, the biggest first, and whether the biggest
// was merged; none and false when the table is empty.
func (s *Store) gapParts(ctx context.Context) ([]gapPart, bool, error) {
	var parts []gapPart
	merged := false
	err := s.scanRows(ctx, selectGapParts, nil, func(scan func(...any) error) error {
		var p gapPart
		var m uint8
		if err := scan(&p.name, &m, &p.rows, &p.modified); err != nil {
			return err
		}
		if len(parts) == 0 {
			merged = m == 1
		}
		parts = append(parts, p)
		return nil
	})
	return parts, merged, err
}

// maxPartSums bounds how many queries partSums keeps the sums of.
const maxPartSums = 1024

// partSums keeps, per query of the feed's version, the count and hash of the rows of the
// biggest part of current_gaps that it matches: a part never changes, so they hold for as long
// as the part is the biggest. It is safe for concurrent use.
type partSums struct {
	mu   sync.Mutex
	part gapPart
	sums map[string][2]uint64 // by query and arguments
}

// get returns the sums of query key in part p, if kept.
func (c *partSums) get(p gapPart, key string) ([2]uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.sums[key]
	return v, ok && c.part == p
}

// put keeps the sums v of query key in part p, forgetting those of any other part.
func (c *partSums) put(p gapPart, key string, v [2]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.part != p || len(c.sums) >= maxPartSums {
		c.part, c.sums = p, map[string][2]uint64{}
	}
	c.sums[key] = v
}
