package clickhouse

import (
	"context"
	"fmt"
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

	// gapsPage reads one page of the gap feed in two steps. The first finds the keys of the page:
	// the rows of current_gaps (one per gap ever found) reduced with FINAL, in the states asked
	// for ({states}) and matching the filters ({filters}), after the cursor, in feed order. Only
	// the columns it needs are read: the key, the state, the opening time and those filtered.
	gapsPage = `
		SELECT digest, environment, code, opened_ns
		FROM current_gaps FINAL
		WHERE state IN ({states}){filters}
			AND (opened_ns, digest, environment, code) > (@a_ns, @a_digest, @a_env, @a_code)
		ORDER BY opened_ns, digest, environment, code
		LIMIT @limit`

	// gapItems is the second step: the items of the page's keys, through the primary key.
	gapItems = `
		SELECT state, digest, repository, environment, org, team, code, severity, message, rule, level,
			opened_ns, closed_ns
		FROM current_gaps FINAL
		WHERE (digest, environment, code) IN (?)`

	// gapsVersion is the number of items of the feed and the XOR of their hashes (each row's
	// item_hash): it changes when an item comes, goes or changes. It reads what gapsPage does.
	gapsVersion = `
		SELECT count(), groupBitXor(item_hash)
		FROM current_gaps FINAL
		WHERE state IN ({states}){filters}`
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
	query, args := gapQuery(gapsPage, q)
	args = append(args, chgo.Named("a_ns", uint64(after.OpenedAt)), chgo.Named("a_digest", string(after.Digest)),
		chgo.Named("a_env", after.Environment), chgo.Named("a_code", after.Code), chgo.Named("limit", limit+1))
	var keys []store.GapKey
	err := s.scanRows(ctx, query, args, func(scan func(...any) error) error {
		var k store.GapKey
		var digest string
		var openedNs uint64
		if err := scan(&digest, &k.Environment, &k.Code, &openedNs); err != nil {
			return err
		}
		k.Digest, k.OpenedAt = evidence.Digest(digest), int64(openedNs)
		keys = append(keys, k)
		return nil
	})
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
	query, args := gapQuery(gapsVersion, q)
	var n, hash uint64
	if err := s.conn.QueryRow(ctx, query, args...).Scan(&n, &hash); err != nil {
		return "", fmt.Errorf("reading gaps version: %w", err)
	}
	return fmt.Sprintf("%d-%016x", n, hash), nil
}
