package clickhouse

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// The derived current state of artifacts: placements and current_gaps (migration 0004), and
// what readers read instead of them (migration 0009): the gap feed in reading order, gap_feed,
// and the artifacts' counts in the coverage cube, coverage_live. Every write that can change an
// artifact's state — an evaluation, gap events — ends by refreshing the artifact: its state is
// recomputed from the tables it derives from (the current scores, the deployments, the gap
// events), compared with the stored state, and the rows that differ are written with a new
// version (to coverage_live, the difference of the counts). Because each refresh starts from
// the sources, the order of writes does not matter; two refreshes of one artifact racing may
// leave a stale row, or count it twice in coverage_live, which the artifact's next write
// repairs.

const (
	insertPlacement = `INSERT INTO placements (digest, org, team, environment, running, repository, cluster,
		namespace, workload, level, verified, with_gaps, gap_codes, version)`

	insertCurrentGap = `INSERT INTO current_gaps (digest, environment, code, state, repository, org, team, severity,
		message, rule, level, opened_ns, closed_ns, item_hash, version)`

	insertFeed = `INSERT INTO gap_feed (opened_ns, digest, environment, code, state, org, team, severity, version)`

	insertCoverage = `INSERT INTO coverage_live (digest, dims, org, team, environment, total, l0, l1, l2, l3, verified,
		with_gaps)`

	// The reads of a refresh take a set of digests and go through each table's primary key.
	selectRefreshDeployments = `SELECT digest, org, team, environment, ended_ns, repository, cluster, namespace,
		workload FROM deployments FINAL WHERE digest IN ?`

	selectRefreshHeads = `SELECT digest, environment, evaluated_ns, repository, org, team, level,
		verified_provenance, gap_codes, gap_severities, gap_messages, gap_rules
		FROM scores_latest FINAL WHERE digest IN ?`

	selectRefreshEvents = `SELECT DISTINCT digest, environment, code, evaluation_id, state, at_ns, repository, org,
		team, severity, message, rule
		FROM gap_events WHERE digest IN ?`

	selectStoredPlacements = `SELECT digest, org, team, environment, running, repository, cluster, namespace,
		workload, level, verified, with_gaps, gap_codes
		FROM placements FINAL WHERE digest IN ?`

	selectStoredGaps = `SELECT digest, environment, code, state, repository, org, team, severity, message, rule,
		level, opened_ns, closed_ns
		FROM current_gaps FINAL WHERE digest IN ?`

	selectStoredCoverage = `SELECT digest, dims, org, team, environment, sum(total), sum(l0), sum(l1), sum(l2),
		sum(l3), sum(verified), sum(with_gaps)
		FROM coverage_live WHERE digest IN ?
		GROUP BY digest, dims, org, team, environment`
)

// refreshBatch is how many artifacts a refresh reads at once.
const refreshBatch = 500

// placement is a row of placements, versions aside, or, read from deployments, the newest
// observation of a deployment key (running 1 unless it ended).
type placement struct {
	digest, org, team, environment           string
	running                                  uint8
	repository, cluster, namespace, workload string
	level, verified, withGaps                uint8
	codes                                    []string
}

// before reports whether p's deployment sorts before o's: by cluster, namespace, workload and
// repository.
func (p placement) before(o placement) bool {
	return cmp.Or(cmp.Compare(p.cluster, o.cluster), cmp.Compare(p.namespace, o.namespace),
		cmp.Compare(p.workload, o.workload), cmp.Compare(p.repository, o.repository)) < 0
}

// equal reports whether p and o are the same row.
func (p placement) equal(o placement) bool {
	return slices.Equal(p.codes, o.codes) && p.digest == o.digest && p.org == o.org && p.team == o.team &&
		p.environment == o.environment && p.running == o.running && p.repository == o.repository &&
		p.cluster == o.cluster && p.namespace == o.namespace && p.workload == o.workload && p.level == o.level &&
		p.verified == o.verified && p.withGaps == o.withGaps
}

// gapRow is a row of current_gaps, versions aside.
type gapRow struct {
	digest, environment, code, state               string
	repository, org, team, severity, message, rule string
	level                                          uint8
	openedNs, closedNs                             uint64
}

// hash is the FNV-1a hash of g's fields: the feed's version XORs those of its items.
func (g gapRow) hash() uint64 {
	h := fnv.New64a()
	for _, f := range []string{g.digest, g.environment, g.code, g.state, g.repository, g.org, g.team, g.severity,
		g.message, g.rule} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	binary.Write(h, binary.LittleEndian, []uint64{uint64(g.level), g.openedNs, g.closedNs}) // writes to a hash never fail
	return h.Sum64()
}

// gapEventRow is a stored gap event.
type gapEventRow struct {
	environment, code, evaluationID, state         string
	atNs                                           uint64
	repository, org, team, severity, message, rule string
}

// later reports whether e is a later event than o: by time, then evaluation ID, a close after an
// open.
func (e gapEventRow) later(o gapEventRow) bool {
	if e.atNs != o.atNs {
		return e.atNs > o.atNs
	}
	if e.evaluationID != o.evaluationID {
		return e.evaluationID > o.evaluationID
	}
	return e.state == store.GapClosed && o.state != store.GapClosed
}

// sources is what the state of a set of artifacts derives from, and what is stored of it.
type sources struct {
	deployments map[string][]placement // digest → one per deployment key: running is 1 unless ended
	heads       map[string][]head      // digest → current score per environment
	events      map[string][]gapEventRow
	placements  map[string][]placement
	gaps        map[string][]gapRow
	coverage    map[string]map[coverageCell]coverageCount // digest → its net counts in coverage_live
}

// coverageCell is a cell of the coverage cube: org, team and environment labels, or '*' where
// dims (1 org, 2 team, 4 environment) says they are not.
type coverageCell struct {
	dims                   uint8
	org, team, environment string
}

// coverageCount is what a cell of coverage_live counts: total, l0 to l3, verified, with_gaps.
type coverageCount [7]int64

// coverageCells returns the cells of the cube that the running placements ps (one artifact's)
// count the artifact in, each with its counts there: 1 in total, in the column of its highest
// level, and in verified and with_gaps when any placement there is.
func coverageCells(ps []placement) map[coverageCell]coverageCount {
	type best struct{ level, verified, gaps uint8 }
	agg := map[coverageCell]best{}
	for _, p := range ps {
		if p.running != 1 {
			continue
		}
		for dims := range uint8(8) {
			c := coverageCell{dims, store.RollupAll, store.RollupAll, store.RollupAll}
			if dims&1 != 0 {
				c.org = p.org
			}
			if dims&2 != 0 {
				c.team = p.team
			}
			if dims&4 != 0 {
				c.environment = p.environment
			}
			b := agg[c]
			agg[c] = best{max(b.level, p.level), max(b.verified, p.verified), max(b.gaps, p.withGaps)}
		}
	}
	out := make(map[coverageCell]coverageCount, len(agg))
	for c, b := range agg {
		var n coverageCount
		n[0], n[5], n[6] = 1, int64(b.verified), int64(b.gaps)
		if b.level <= 3 {
			n[1+b.level] = 1
		}
		out[c] = n
	}
	return out
}

// refresh recomputes the current state of the artifacts ds and writes what changed.
func (s *Store) refresh(ctx context.Context, ds []evidence.Digest) error {
	return s.refreshState(ctx, ds, true)
}

// refreshState is refresh, leaving coverage_live and gap_feed alone unless readState is true
// (before migration 0009 created them).
func (s *Store) refreshState(ctx context.Context, ds []evidence.Digest, readState bool) error {
	for chunk := range slices.Chunk(ds, refreshBatch) {
		src, err := s.readSources(ctx, chunk, readState)
		if err != nil {
			return fmt.Errorf("refreshing current state: %w", err)
		}
		var placeRows, gapRows, feedRows, covRows [][]any
		cube := map[coverageCell]coverageCount{}
		for _, d := range chunk {
			ch := src.changes(string(d))
			placeRows = append(placeRows, ch.placements...)
			gapRows = append(gapRows, ch.gaps...)
			feedRows = append(feedRows, ch.feed...)
			for c, n := range ch.coverage {
				covRows = append(covRows, coverageRow(string(d), c, n))
				sum := cube[c]
				for i := range n {
					sum[i] += n[i]
				}
				cube[c] = sum
			}
		}
		for c, n := range cube {
			if n != (coverageCount{}) {
				covRows = append(covRows, coverageRow("", c, n))
			}
		}
		version := s.nextVersion()
		for _, r := range placeRows {
			r[len(r)-1] = version
		}
		for _, rows := range [][][]any{gapRows, feedRows} {
			for _, r := range rows {
				r[len(r)-1] = version
			}
		}
		if err := s.insert(ctx, insertPlacement, placeRows); err != nil {
			return fmt.Errorf("refreshing placements: %w", err)
		}
		// gap_feed before current_gaps: a gap_feed row counts only once current_gaps has its
		// version, and a refresh that fails between the two is done again, whole, by the
		// re-delivery of its write.
		if readState {
			if err := s.insert(ctx, insertFeed, feedRows); err != nil {
				return fmt.Errorf("refreshing the gap feed order: %w", err)
			}
		}
		if err := s.insert(ctx, insertCurrentGap, gapRows); err != nil {
			return fmt.Errorf("refreshing the gap feed: %w", err)
		}
		// The artifacts' rows and the cube's in one insert: they change together or not at all.
		if !readState {
			continue
		}
		if err := s.insert(ctx, insertCoverage, covRows); err != nil {
			return fmt.Errorf("refreshing coverage: %w", err)
		}
	}
	return nil
}

// coverageRow is a row of coverage_live.
func coverageRow(digest string, c coverageCell, n coverageCount) []any {
	return []any{digest, c.dims, c.org, c.team, c.environment, n[0], n[1], n[2], n[3], n[4], n[5], n[6]}
}

// readSources reads the sources and the stored state of the artifacts ds, their counts in
// coverage_live only when coverage is true.
func (s *Store) readSources(ctx context.Context, ds []evidence.Digest, coverage bool) (sources, error) {
	src := sources{
		deployments: map[string][]placement{}, heads: map[string][]head{}, events: map[string][]gapEventRow{},
		placements: map[string][]placement{}, gaps: map[string][]gapRow{},
		coverage: map[string]map[coverageCell]coverageCount{},
	}
	set := digestSet(ds)
	reads := []struct {
		what  string
		query string
		scan  func(scan func(...any) error) error
	}{
		{"deployments", selectRefreshDeployments, func(scan func(...any) error) error {
			var p placement
			var ended uint64
			if err := scan(&p.digest, &p.org, &p.team, &p.environment, &ended, &p.repository, &p.cluster, &p.namespace,
				&p.workload); err != nil {
				return err
			}
			p.running = flag(ended == 0)
			src.deployments[p.digest] = append(src.deployments[p.digest], p)
			return nil
		}},
		{"current scores", selectRefreshHeads, func(scan func(...any) error) error {
			var d string
			var h head
			if err := scan(&d, &h.environment, &h.evaluatedNs, &h.repository, &h.org, &h.team, &h.level, &h.verified,
				&h.codes, &h.severities, &h.messages, &h.rules); err != nil {
				return err
			}
			src.heads[d] = append(src.heads[d], h)
			return nil
		}},
		{"gap events", selectRefreshEvents, func(scan func(...any) error) error {
			var d string
			var e gapEventRow
			if err := scan(&d, &e.environment, &e.code, &e.evaluationID, &e.state, &e.atNs, &e.repository, &e.org,
				&e.team, &e.severity, &e.message, &e.rule); err != nil {
				return err
			}
			src.events[d] = append(src.events[d], e)
			return nil
		}},
		{"placements", selectStoredPlacements, func(scan func(...any) error) error {
			var p placement
			if err := scan(&p.digest, &p.org, &p.team, &p.environment, &p.running, &p.repository, &p.cluster,
				&p.namespace, &p.workload, &p.level, &p.verified, &p.withGaps, &p.codes); err != nil {
				return err
			}
			src.placements[p.digest] = append(src.placements[p.digest], p)
			return nil
		}},
		{"gap feed", selectStoredGaps, func(scan func(...any) error) error {
			var g gapRow
			if err := scan(&g.digest, &g.environment, &g.code, &g.state, &g.repository, &g.org, &g.team, &g.severity,
				&g.message, &g.rule, &g.level, &g.openedNs, &g.closedNs); err != nil {
				return err
			}
			src.gaps[g.digest] = append(src.gaps[g.digest], g)
			return nil
		}},
		{"coverage", selectStoredCoverage, func(scan func(...any) error) error {
			var d string
			var c coverageCell
			var n coverageCount
			if err := scan(&d, &c.dims, &c.org, &c.team, &c.environment, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5],
				&n[6]); err != nil {
				return err
			}
			if src.coverage[d] == nil {
				src.coverage[d] = map[coverageCell]coverageCount{}
			}
			src.coverage[d][c] = n
			return nil
		}},
	}
	if !coverage {
		reads = reads[:len(reads)-1]
	}
	for _, r := range reads {
		if err := s.scanRows(ctx, r.query, []any{set}, r.scan); err != nil {
			return sources{}, fmt.Errorf("reading %s: %w", r.what, err)
		}
	}
	return src, nil
}

// scanRows runs query with args and calls fn with the scanner of each row.
func (s *Store) scanRows(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// stateChanges are the rows a refresh writes for an artifact, each row with a version to fill
// in as its last value, and the changes to its counts in the coverage cube (non-zero ones only).
type stateChanges struct {
	placements, gaps, feed [][]any
	coverage               map[coverageCell]coverageCount
}

// changes returns the placements and current_gaps rows of artifact d that differ from the
// stored ones, the gap_feed rows of those gaps (see migration 0009), and the changes to its
// counts in the coverage cube.
func (src sources) changes(d string) stateChanges {
	var placeRows, gapRows, feedRows [][]any
	heads := map[string]head{}
	for _, h := range src.heads[d] {
		heads[h.environment] = h
	}
	running := map[string]bool{}

	// Placements: per (org, team, environment) group of the deployments, whether one runs, its
	// first running deployment (by cluster, namespace, workload and repository; of all when none
	// runs), with the environment's current score; groups stored but gone no longer run.
	type group struct{ org, team, environment string }
	var order []group
	groups := map[group]placement{}
	for _, dep := range src.deployments[d] {
		k := group{dep.org, dep.team, dep.environment}
		g, seen := groups[k]
		switch {
		case !seen:
			order = append(order, k)
			g = dep
		case dep.running > g.running || dep.running == g.running && dep.before(g):
			g = dep
		}
		if dep.running == 1 {
			running[dep.environment] = true
		}
		groups[k] = g
	}
	stored := map[group]placement{}
	for _, p := range src.placements[d] {
		k := group{p.org, p.team, p.environment}
		stored[k] = p
		if _, ok := groups[k]; !ok {
			groups[k] = placement{digest: d, org: p.org, team: p.team, environment: p.environment, codes: []string{}}
			order = append(order, k)
		}
	}
	final := make([]placement, 0, len(order))
	for _, k := range order {
		p := groups[k]
		p.level, p.verified, p.withGaps, p.codes = 0, 0, 0, []string{}
		if h, ok := heads[k.environment]; ok {
			p.level, p.verified, p.withGaps, p.codes = h.level, h.verified, flag(len(h.codes) > 0), h.codes
		}
		final = append(final, p)
		if st, ok := stored[k]; ok && st.equal(p) {
			continue
		}
		placeRows = append(placeRows, []any{d, p.org, p.team, p.environment, p.running, p.repository, p.cluster,
			p.namespace, p.workload, p.level, p.verified, p.withGaps, p.codes, uint64(0)})
	}

	// Coverage: what the placements count, less what the artifact's rows already do.
	cov := coverageCells(final)
	for c, n := range src.coverage[d] {
		want := cov[c]
		for i := range want {
			want[i] -= n[i]
		}
		cov[c] = want
	}
	for c, n := range cov {
		if n == (coverageCount{}) {
			delete(cov, c)
		}
	}

	// The gap feed: every gap of a current score, evented or stored.
	type key struct{ environment, code string }
	rows := map[key]gapRow{}
	var keys []key
	add := func(k key) {
		if _, ok := rows[k]; !ok {
			rows[k] = gapRow{digest: d, environment: k.environment, code: k.code}
			keys = append(keys, k)
		}
	}
	for _, h := range src.heads[d] {
		for _, c := range h.codes {
			add(key{h.environment, c})
		}
	}
	events := map[key][]gapEventRow{}
	for _, e := range src.events[d] {
		k := key{e.environment, e.code}
		add(k)
		events[k] = append(events[k], e)
	}
	storedGaps := map[key]gapRow{}
	for _, g := range src.gaps[d] {
		k := key{g.environment, g.code}
		add(k)
		storedGaps[k] = g
	}
	for _, k := range keys {
		g := feedItem(rows[k], heads[k.environment], running[k.environment], events[k])
		st, stored := storedGaps[k]
		if stored && st == g {
			continue
		}
		if !stored && g.state == "" {
			continue // never listed: nothing to say
		}
		gapRows = append(gapRows, []any{d, g.environment, g.code, g.state, g.repository, g.org, g.team, g.severity,
			g.message, g.rule, g.level, g.openedNs, g.closedNs, g.hash(), uint64(0)})
		// The item where it sorts in the feed now, and no longer where it sorted before.
		if g.state != "" {
			feedRows = append(feedRows, []any{g.openedNs, d, g.environment, g.code, g.state, g.org, g.team,
				g.severity, uint64(0)})
		}
		if stored && st.state != "" && (st.openedNs != g.openedNs || g.state == "") {
			feedRows = append(feedRows, []any{st.openedNs, d, st.environment, st.code, "", st.org, st.team,
				st.severity, uint64(0)})
		}
	}
	return stateChanges{placements: placeRows, gaps: gapRows, feed: feedRows, coverage: cov}
}

// feedItem fills in g, a gap of an environment with current score h (zero when unscored), where
// a deployment runs or not, with events: as the feed lists it (see GapItem).
func feedItem(g gapRow, h head, running bool, events []gapEventRow) gapRow {
	g.level = h.level
	var latest *gapEventRow
	var lastOpened uint64
	for i, e := range events {
		if latest == nil || e.later(*latest) {
			latest = &events[i]
		}
		if e.state == store.GapOpened {
			lastOpened = max(lastOpened, e.atNs)
		}
	}
	if i := slices.Index(h.codes, g.code); running && i >= 0 {
		g.state = store.GapStateOpen
		g.repository, g.org, g.team = h.repository, h.org, h.team
		g.severity, g.message, g.rule = h.severities[i], h.messages[i], h.rules[i]
		g.openedNs = cmp.Or(lastOpened, h.evaluatedNs)
		g.closedNs = 0
		return g
	}
	if latest == nil || latest.state != store.GapClosed {
		return gapRow{digest: g.digest, environment: g.environment, code: g.code, level: g.level}
	}
	g.state = store.GapStateClosed
	g.repository, g.org, g.team = latest.repository, latest.org, latest.team
	g.severity, g.message, g.rule = latest.severity, latest.message, latest.rule
	g.closedNs = latest.atNs
	var opened uint64
	for _, e := range events {
		if e.state == store.GapOpened && e.atNs <= latest.atNs {
			opened = max(opened, e.atNs)
		}
	}
	g.openedNs = cmp.Or(opened, latest.atNs)
	return g
}

// refreshAll refreshes every artifact with deployments, scores or gap events: the state of data
// written before the state tables existed (migrations 0004 and, with readState, 0009).
func (s *Store) refreshAll(ctx context.Context, readState bool) error {
	var ds []evidence.Digest
	err := s.scanRows(ctx, `SELECT DISTINCT digest FROM (
			SELECT digest FROM deployments UNION ALL SELECT digest FROM scores_latest
			UNION ALL SELECT digest FROM gap_events)`, nil,
		func(scan func(...any) error) error {
			var d string
			if err := scan(&d); err != nil {
				return err
			}
			ds = append(ds, evidence.Digest(d))
			return nil
		})
	if err != nil {
		return fmt.Errorf("listing artifacts to refresh: %w", err)
	}
	return s.refreshState(ctx, ds, readState)
}
