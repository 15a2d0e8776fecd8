package clickhousetest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
)

// Synth is a deterministic synthetic data set for benchmarks: Artifacts artifacts, each with one
// SBOM document of Components components, deployed in two of three environments (the second
// deployment of every tenth artifact ended), scored once per environment (levels 0 to 3 in turn,
// with 3 to 0 gaps), with the gap events the scorer would emit, and coverage rolled up for Days
// days ending at End. Artifact i is collected, deployed and scored at Start + i*Step.
//
// Evaluation, GapEvents and Component describe the data; WriteThrough stores it through the
// store's write path, Load bulk-loads the same rows directly, which is what makes a benchmark of
// millions of rows possible. A test (synth_test.go) checks that both give the same tables and
// the same answers.
type Synth struct {
	Artifacts  int
	Components int
	Days       int
	Start      time.Time
	Step       time.Duration
	// Batch is how many artifacts Load writes per insert (0 for 25,000).
	Batch int
}

// BenchSynth is the benchmark's data set: 500,000 artifacts (1,000,000 score rows, placements
// and current scores), 10,000,000 SBOM components and a year of daily roll-ups.
var BenchSynth = Synth{
	Artifacts: 500_000, Components: 20, Days: 365,
	Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: 15 * time.Second,
}

// The shape of the data.
var synthEnvs = []string{"prod", "staging", "dev"}

// namePool is how many distinct component names (besides openssl) the SBOMs list.
const namePool = 5000

type synthGap struct{ code, severity, message, rule string }

// synthGaps are the gaps of a score by level: level l has the gaps from l on.
var synthGaps = []synthGap{
	{"provenance.missing", "high", "no SLSA provenance attached", "aspm.gaps.provenance_missing"},
	{"signature.missing", "medium", "the image is not signed", "aspm.gaps.signature_missing"},
	{"builder.untrusted", "low", "the builder is not on the trusted list", "aspm.gaps.builder_untrusted"},
}

func synthDigest(s string) evidence.Digest {
	h := sha256.Sum256([]byte(s))
	return evidence.Digest("sha256:" + hex.EncodeToString(h[:]))
}

// Digest is the digest of artifact i.
func (s Synth) Digest(i int) evidence.Digest { return synthDigest("aspm-bench-" + strconv.Itoa(i)) }

// SBOM is the evidence ID of artifact i's SBOM document.
func (s Synth) SBOM(i int) evidence.Digest { return synthDigest("aspm-bench-sbom-" + strconv.Itoa(i)) }

// At is when artifact i is collected, deployed and scored.
func (s Synth) At(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Step) }

// End is the last roll-up day: the day of the last artifact.
func (s Synth) End() time.Time { return store.Day(s.At(s.Artifacts - 1)) }

// Component is component j of artifact i's SBOM. Every tenth SBOM lists openssl first (12
// versions); the others are drawn from a pool of lib-NNNN names in 8 versions. The SQL of Load
// (insertSynthComponents) computes the same.
func (s Synth) Component(i, j int) store.Component {
	c := store.Component{SBOM: s.SBOM(i), Type: "library", Licenses: []string{"MIT"}}
	if j%2 == 1 {
		c.Licenses = []string{"Apache-2.0"}
	}
	if j == 0 && i%10 == 0 {
		c.Name, c.Version = "openssl", "3.0."+strconv.Itoa((i/10)%12)
		c.PURL = "pkg:deb/debian/openssl@" + c.Version
		return c
	}
	k := (i*s.Components + j) % namePool
	c.Name = fmt.Sprintf("lib-%04d", k)
	c.Version = "1." + strconv.Itoa((i*s.Components/namePool)%8) + ".0"
	c.PURL = "pkg:generic/" + c.Name + "@" + c.Version
	return c
}

// envs returns the environments of artifact i.
func (s Synth) envs(i int) []string { return []string{synthEnvs[i%3], synthEnvs[(i+1)%3]} }

// ended reports whether artifact i's second deployment ended.
func (s Synth) ended(i int) bool { return i%10 == 9 }

// Evaluation is what the scorer writes for artifact i.
func (s Synth) Evaluation(i int) store.Evaluation {
	t := s.At(i)
	org, team := "org-"+strconv.Itoa(i%5), fmt.Sprintf("team-%02d", i%20)
	img := evidence.ImageRef{Repository: fmt.Sprintf("registry.example/%s/app-%03d", org, i%1000), Digest: s.Digest(i)}
	ev := store.Evaluation{Evidence: evidence.ArtifactEvidence{Image: img, CollectedAt: t, Evidence: []evidence.Evidence{{
		ID: s.SBOM(i), Kind: evidence.KindSBOM, MediaType: "application/vnd.cyclonedx+json", Source: "registry",
		PredicateType: "https://cyclonedx.org/bom", SubjectMatch: true, Signed: true,
		Verification: evidence.Verification{Verified: true, TlogEntries: 1, Timestamps: 1, SignedAt: t,
			Signer: &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "https://token.actions.githubusercontent.com",
				Identity: "https://github.com/" + org + "/app/.github/workflows/build.yml@refs/heads/main"}},
		SBOM: &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.5", Components: s.Components},
	}}}}
	level := evidence.Level(i % 4)
	for k, env := range s.envs(i) {
		dep := evidence.Deployment{Image: img, Environment: env, Cluster: env + "-" + strconv.Itoa(i%4),
			Namespace: team, Workload: fmt.Sprintf("app-%03d", i%1000), Org: org, Team: team, ObservedAt: t}
		if k == 1 && s.ended(i) {
			end := t.Add(time.Hour)
			dep.EndedAt = &end
		}
		ev.Deployments = append(ev.Deployments, dep)
		sc := evidence.Score{Image: img, Environment: env, Org: org, Team: team, Level: level, Risk: (i * 37) % 101,
			VerifiedProvenance: level >= 2, Gaps: []evidence.Gap{}, PolicyVersion: "bench-1",
			EvaluationID: fmt.Sprintf("%016x-%s", i, env), EvaluatedAt: t}
		for _, g := range synthGaps[level:] {
			sc.Gaps = append(sc.Gaps, evidence.Gap{Code: g.code, Severity: g.severity, Message: g.message, Rule: g.rule})
		}
		ev.Scores = append(ev.Scores, sc)
	}
	for j := range s.Components {
		ev.Components = append(ev.Components, s.Component(i, j))
	}
	return ev
}

// GapEvents are the gap events of artifact i: each gap of each score opened when scored, and
// those of an ended deployment's environment closed when it ended.
func (s Synth) GapEvents(i int) []store.GapEvent {
	ev := s.Evaluation(i)
	var events []store.GapEvent
	for k, sc := range ev.Scores {
		for _, g := range sc.Gaps {
			e := store.GapEvent{Fingerprint: event.GapFingerprint(sc.Image.Digest, sc.Environment, g.Code),
				Image: sc.Image, Environment: sc.Environment, Org: sc.Org, Team: sc.Team, Gap: g,
				State: store.GapOpened, At: sc.EvaluatedAt, EvaluationID: sc.EvaluationID}
			events = append(events, e)
			if k == 1 && s.ended(i) {
				e.State, e.At = store.GapClosed, *ev.Deployments[k].EndedAt
				events = append(events, e)
			}
		}
	}
	return events
}

// rollupDays returns the roll-up days, the last (End) first.
func (s Synth) rollupDays() []time.Time {
	days := make([]time.Time, s.Days)
	for k := range days {
		days[k] = s.End().AddDate(0, 0, -k)
	}
	return days
}

// WriteThrough stores the data set through st's write path: every evaluation and its gap
// events, then a roll-up of every day. It is for small data sets: it writes one artifact at a
// time.
func (s Synth) WriteThrough(ctx context.Context, st *clickhouse.Store) error {
	for i := range s.Artifacts {
		if err := st.WriteEvaluation(ctx, s.Evaluation(i)); err != nil {
			return err
		}
		if err := st.WriteGapEvents(ctx, s.GapEvents(i)); err != nil {
			return err
		}
	}
	for _, day := range s.rollupDays() {
		if err := st.RollupCoverage(ctx, day); err != nil {
			return err
		}
	}
	return nil
}

// spec identifies the data set and the schema it was loaded into.
func (s Synth) spec(schema uint32) string {
	return fmt.Sprintf("synth/1 artifacts=%d components=%d days=%d start=%s step=%s schema=%d",
		s.Artifacts, s.Components, s.Days, s.Start.Format(time.RFC3339), s.Step, schema)
}

// LoadStats says what Load did.
type LoadStats struct {
	// Reused is true when the database already held the data set.
	Reused bool
	// Took is how long loading took (checking, when reused).
	Took time.Duration
	// Rows are the row counts of the tables, by table.
	Rows map[string]uint64
}

// synthTables are the tables Load fills, and whose rows LoadStats counts.
var synthTables = []string{"artifacts", "evidence", "artifact_documents", "deployments", "scores",
	"scores_latest", "placements", "gap_events", "current_gaps", "sbom_components", "sbom_components_by_purl",
	"sbom_documents", "coverage_cells", "coverage_rollups", "coverage_rollup_runs", "coverage_live", "gap_feed"}

// Load makes database cfg.Database hold data set s, rows shaped exactly as the store's write path
// writes them, and returns the store opened on it. A database that already holds s, loaded into
// the current schema, is reused; any other is dropped and loaded afresh: in bulk, the components
// with INSERT … SELECT from numbers(), the rest in batches of many artifacts, the roll-ups by the
// store itself (one day, copied to the others).
func Load(ctx context.Context, cfg clickhouse.Config, s Synth) (*clickhouse.Store, LoadStats, error) {
	start := time.Now()
	st, conn, err := openSynth(ctx, cfg)
	if err != nil {
		return nil, LoadStats{}, err
	}
	defer conn.Close()
	schema, err := schemaVersion(ctx, conn)
	if err != nil {
		st.Close()
		return nil, LoadStats{}, err
	}
	spec := s.spec(schema)
	var loaded string
	// The marker is written last: when it names s, every table is complete.
	_ = conn.QueryRow(ctx, "SELECT argMax(spec, loaded_at) FROM synth_meta").Scan(&loaded)
	stats := LoadStats{Reused: loaded == spec}
	if !stats.Reused {
		slog.Info("loading synthetic data set", "database", cfg.Database, "spec", spec)
		st.Close()
		conn.Close()
		if err := dropDatabase(ctx, cfg); err != nil {
			return nil, LoadStats{}, err
		}
		if st, conn, err = openSynth(ctx, cfg); err != nil {
			return nil, LoadStats{}, err
		}
		defer conn.Close()
		if err := s.load(ctx, st, conn); err != nil {
			st.Close()
			return nil, LoadStats{}, fmt.Errorf("loading synthetic data into %s: %w", cfg.Database, err)
		}
		if err := conn.Exec(ctx, "CREATE TABLE synth_meta (spec String, loaded_at DateTime) ENGINE = TinyLog"); err != nil {
			st.Close()
			return nil, LoadStats{}, fmt.Errorf("marking %s loaded: %w", cfg.Database, err)
		}
		if err := conn.Exec(ctx, "INSERT INTO synth_meta SELECT ?, now()", spec); err != nil {
			st.Close()
			return nil, LoadStats{}, fmt.Errorf("marking %s loaded: %w", cfg.Database, err)
		}
	}
	stats.Rows = map[string]uint64{}
	for _, t := range synthTables {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+t).Scan(&n); err != nil {
			st.Close()
			return nil, LoadStats{}, fmt.Errorf("counting %s: %w", t, err)
		}
		stats.Rows[t] = n
	}
	stats.Took = time.Since(start)
	return st, stats, nil
}

// openSynth opens the store (creating the database and its schema) and a connection of its own.
func openSynth(ctx context.Context, cfg clickhouse.Config) (*clickhouse.Store, driver.Conn, error) {
	st, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	cfg = cfg.WithDefaults()
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, DialTimeout: cfg.DialTimeout,
		Auth:        chgo.Auth{Database: cfg.Database, Username: cfg.Username, Password: cfg.Password},
		ReadTimeout: time.Hour, MaxOpenConns: 4})
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("connecting to %s: %w", cfg.Database, err)
	}
	return st, conn, nil
}

func dropDatabase(ctx context.Context, cfg clickhouse.Config) error {
	cfg = cfg.WithDefaults()
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, DialTimeout: cfg.DialTimeout,
		Auth: chgo.Auth{Username: cfg.Username, Password: cfg.Password}})
	if err != nil {
		return fmt.Errorf("connecting to drop %s: %w", cfg.Database, err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+cfg.Database+"`"); err != nil {
		return fmt.Errorf("dropping %s: %w", cfg.Database, err)
	}
	return nil
}

// schemaVersion is the newest migration applied.
func schemaVersion(ctx context.Context, conn driver.Conn) (uint32, error) {
	var v uint32
	if err := conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return v, nil
}

// The inserts of Load: the columns the store's write path (write.go, state.go, gaps.go) writes.
const (
	insertSynthEvidence = `INSERT INTO evidence (digest, version, position, collected_at, evidence_id, kind, source,
		media_type, predicate_type, subject_match, signed, verified, signer_issuer, signer_identity, builder_id,
		source_repository, malformed, document)`
	insertSynthArtifact = `INSERT INTO artifacts (digest, repository, collected_at, errors, evidence_count,
		verified_provenance, version)`
	insertSynthArtifactDocument = `INSERT INTO artifact_documents (document, digest, version)`
	insertSynthDeployment       = `INSERT INTO deployments (digest, deployment_key, repository, org, team, environment,
		cluster, namespace, workload, first_seen, last_seen, version, ended_at, ended_ns)`
	insertSynthScore = `INSERT INTO scores (digest, environment, evaluation_id, evaluated_at, repository, org, team,
		level, risk, verified_provenance, gap_codes, policy_version, score, version)`
	insertSynthHead = `INSERT INTO scores_latest (digest, environment, evaluation_id, evaluated_ns, repository, org,
		team, level, risk, verified_provenance, gap_codes, gap_severities, gap_messages, gap_rules, version)`
	insertSynthPlacement = `INSERT INTO placements (digest, org, team, environment, running, repository, cluster,
		namespace, workload, level, verified, with_gaps, gap_codes, version)`
	insertSynthGap = `INSERT INTO current_gaps (digest, environment, code, state, repository, org, team, severity,
		message, rule, level, opened_ns, closed_ns, item_hash, version)`
	insertSynthFeed = `INSERT INTO gap_feed (opened_ns, digest, environment, code, state, org, team, severity,
		version)`
	insertSynthCoverage = `INSERT INTO coverage_live (digest, dims, org, team, environment, total, l0, l1, l2, l3,
		verified, with_gaps)`
	insertSynthGapEvent = `INSERT INTO gap_events (digest, environment, code, evaluation_id, state, fingerprint, at,
		at_ns, repository, org, team, severity, message, rule)`

	// insertSynthComponents computes Synth.Component for every (artifact, position) of
	// numbers(@artifacts * @components), in both copies (the by-purl one: every component has a
	// purl).
	synthComponents = `
		SELECT name, version, purl, sbom, toUInt32(j) AS position, 'library' AS type,
			if(j % 2 = 1, ['Apache-2.0'], ['MIT']) AS licenses
		FROM (
			SELECT i, j, sbom, name, version,
				concat(if(openssl, 'pkg:deb/debian/', 'pkg:generic/'), name, '@', version) AS purl
			FROM (
				SELECT intDiv(number, @components) AS i, number % @components AS j,
					concat('sha256:', lower(hex(SHA256(concat('aspm-bench-sbom-', toString(i)))))) AS sbom,
					j = 0 AND i % 10 = 0 AS openssl,
					if(openssl, 'openssl', concat('lib-', substring(toString(10000 + (i * @components + j) % 5000), 2))) AS name,
					if(openssl, concat('3.0.', toString(intDiv(i, 10) % 12)),
						concat('1.', toString(intDiv(i * @components, 5000) % 8), '.0')) AS version
				FROM numbers(@rows)
			)
		)`
	insertSynthComponents = `INSERT INTO sbom_components (name, version, purl, sbom, position, type, licenses)` +
		synthComponents
	insertSynthComponentsByPURL = `INSERT INTO sbom_components_by_purl (purl, name, version, sbom, position, type, licenses)
		SELECT purl, name, version, sbom, position, type, licenses FROM (` + synthComponents + `)`
	insertSynthDocuments = `INSERT INTO sbom_documents (sbom, components, written_at)
		SELECT concat('sha256:', lower(hex(SHA256(concat('aspm-bench-sbom-', toString(number)))))),
			toUInt32(@components), now()
		FROM numbers(@artifacts)`

	// The roll-ups of the other days are copies of the last day's, each from a run of its own.
	copyCells = `INSERT INTO coverage_cells (day, dims, org, team, environment, total, l0, l1, l2, l3, verified,
			with_gaps, run)
		SELECT day - k, dims, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run - k
		FROM coverage_cells ARRAY JOIN arrayMap(x -> x + 1, range(toUInt64(@before))) AS k WHERE day = toDate(@end)`
	copyRollups = `INSERT INTO coverage_rollups (day, org, team, environment, total, l0, l1, l2, l3, verified,
			with_gaps, run)
		SELECT day - k, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run - k
		FROM coverage_rollups ARRAY JOIN arrayMap(x -> x + 1, range(toUInt64(@before))) AS k WHERE day = toDate(@end)`
	copyRuns = `INSERT INTO coverage_rollup_runs (day, run)
		SELECT day - k, run - k FROM coverage_rollup_runs ARRAY JOIN arrayMap(x -> x + 1, range(toUInt64(@before))) AS k WHERE day = toDate(@end)`
)

// load writes s into the empty schema of st.
func (s Synth) load(ctx context.Context, st *clickhouse.Store, conn driver.Conn) error {
	args := []any{chgo.Named("artifacts", uint64(s.Artifacts)), chgo.Named("components", uint64(s.Components)),
		chgo.Named("rows", uint64(s.Artifacts*s.Components))}
	for _, q := range []string{insertSynthComponents, insertSynthComponentsByPURL, insertSynthDocuments} {
		if err := conn.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("writing components: %w", err)
		}
	}
	version := uint64(time.Now().UnixNano())
	batch := cmp.Or(s.Batch, 25_000)
	for lo := 0; lo < s.Artifacts; lo += batch {
		var r synthRows
		for i := lo; i < min(lo+batch, s.Artifacts); i++ {
			if err := r.add(s.Evaluation(i), s.GapEvents(i), version); err != nil {
				return err
			}
		}
		for c, n := range r.cube {
			r.coverage = append(r.coverage, coverageRow("", c, n))
		}
		for _, b := range []struct {
			query string
			rows  [][]any
		}{
			{insertSynthEvidence, r.evidence}, {insertSynthArtifactDocument, r.documents},
			{insertSynthArtifact, r.artifacts}, {insertSynthDeployment, r.deployments}, {insertSynthScore, r.scores},
			{insertSynthHead, r.heads}, {insertSynthGapEvent, r.events}, {insertSynthPlacement, r.placements},
			{insertSynthGap, r.gaps}, {insertSynthFeed, r.feed}, {insertSynthCoverage, r.coverage},
		} {
			if err := insertRows(ctx, conn, b.query, b.rows); err != nil {
				return err
			}
		}
	}
	if s.Days > 0 {
		if err := st.RollupCoverage(ctx, s.End()); err != nil {
			return err
		}
		copyArgs := []any{chgo.Named("before", uint64(s.Days-1)), chgo.Named("end", s.End().Format(time.DateOnly))}
		for _, q := range []string{copyCells, copyRollups, copyRuns} {
			if err := conn.Exec(ctx, q, copyArgs...); err != nil {
				return fmt.Errorf("copying roll-ups: %w", err)
			}
		}
	}
	// The steady state: background merges leave a table of this size in one part, or a few; a
	// table of many parts reads each key lookup once per part.
	for _, t := range synthTables {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+t+" FINAL"); err != nil {
			return fmt.Errorf("merging %s: %w", t, err)
		}
	}
	return nil
}

func insertRows(ctx context.Context, conn driver.Conn, query string, rows [][]any) (err error) {
	if len(rows) == 0 {
		return nil
	}
	batch, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("preparing %s: %w", strings.Fields(query)[2], err)
	}
	defer func() {
		if !batch.IsSent() {
			err = errors.Join(err, batch.Abort())
		}
	}()
	for _, row := range rows {
		if err := batch.Append(row...); err != nil {
			return fmt.Errorf("appending to %s: %w", strings.Fields(query)[2], err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("sending %s: %w", strings.Fields(query)[2], err)
	}
	return nil
}

// synthRows are the rows of a batch of artifacts, by table.
type synthRows struct {
	evidence, documents, artifacts, deployments, scores, heads, events, placements, gaps, feed, coverage [][]any

	cube map[coverageCell]coverageCount // the sums of the batch's cells, the rows of digest ''
}

// coverageCell and coverageCount are a cell of the coverage cube and its counts in
// coverage_live (as state.go's): total, l0 to l3, verified, with_gaps.
type coverageCell struct {
	dims                   uint8
	org, team, environment string
}

type coverageCount [7]int64

// synthPlacement is what the cube counts of a running placement.
type synthPlacement struct {
	org, team, environment string
	level, verified, gaps  uint8
}

// coverageCells returns the cells of the cube an artifact with running placements ps counts in,
// with its counts there, as state.go's coverageCells.
func coverageCells(ps []synthPlacement) map[coverageCell]coverageCount {
	type best struct{ level, verified, gaps uint8 }
	agg := map[coverageCell]best{}
	for _, p := range ps {
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
			agg[c] = best{max(b.level, p.level), max(b.verified, p.verified), max(b.gaps, p.gaps)}
		}
	}
	out := map[coverageCell]coverageCount{}
	for c, b := range agg {
		var n coverageCount
		n[0], n[1+b.level], n[5], n[6] = 1, 1, int64(b.verified), int64(b.gaps)
		out[c] = n
	}
	return out
}

func coverageRow(digest string, c coverageCell, n coverageCount) []any {
	return []any{digest, c.dims, c.org, c.team, c.environment, n[0], n[1], n[2], n[3], n[4], n[5], n[6]}
}

func seconds(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// add appends the rows the write path writes for ev and events, written to an empty database
// (so that every row is new): see WriteEvaluation, WriteGapEvents and refresh. The derived
// state (current scores, placements, gap feed, coverage cube) follows from the shape of Synth's
// data: one deployment per environment, one score per environment, events as GapEvents makes
// them. The batch's cube rows (digest ”) are r.cube's, appended by the caller.
func (r *synthRows) add(ev store.Evaluation, events []store.GapEvent, version uint64) error {
	a := ev.Evidence
	d := string(a.Image.Digest)
	ns := uint64(a.CollectedAt.UnixNano())
	for k, e := range a.Evidence {
		doc, err := json.Marshal(e)
		if err != nil {
			return err
		}
		var issuer, identity, builder, sourceRepo string
		if sg := e.Verification.Signer; sg != nil {
			issuer, identity = sg.Issuer, sg.Identity
		}
		if p := e.Provenance; p != nil {
			builder, sourceRepo = p.BuilderID, p.SourceRepository
		}
		r.evidence = append(r.evidence, []any{d, ns, uint32(k), seconds(a.CollectedAt), string(e.ID), string(e.Kind),
			e.Source, e.MediaType, e.PredicateType, flag(e.SubjectMatch), flag(e.Signed), flag(e.Verification.Verified),
			issuer, identity, builder, sourceRepo, e.Malformed, string(doc)})
		r.documents = append(r.documents, []any{string(e.ID), d, ns})
	}
	r.artifacts = append(r.artifacts, []any{d, a.Image.Repository, seconds(a.CollectedAt), []string{},
		uint32(len(a.Evidence)), flag(a.HasVerifiedProvenance()), ns})
	running := map[string]bool{}
	for _, dep := range ev.Deployments {
		var ended uint64
		if dep.EndedAt != nil {
			ended = uint64(dep.EndedAt.UnixNano())
		}
		running[dep.Environment] = ended == 0
		obs := uint64(dep.ObservedAt.UnixNano())
		r.deployments = append(r.deployments, []any{d, dep.Key(), dep.Image.Repository, dep.Org, dep.Team,
			dep.Environment, dep.Cluster, dep.Namespace, dep.Workload, seconds(dep.ObservedAt),
			seconds(time.Unix(0, int64(obs))), obs, seconds(time.Unix(0, int64(ended))), ended})
	}
	type eventKey struct{ env, code string }
	lastEvent := map[eventKey]store.GapEvent{}
	for _, e := range events {
		r.events = append(r.events, []any{d, e.Environment, e.Gap.Code, e.EvaluationID, e.State, e.Fingerprint,
			seconds(e.At), uint64(e.At.UnixNano()), e.Image.Repository, e.Org, e.Team, e.Gap.Severity, e.Gap.Message,
			e.Gap.Rule})
		lastEvent[eventKey{e.Environment, e.Gap.Code}] = e // GapEvents lists each gap's events in time order
	}
	var live []synthPlacement
	for k, sc := range ev.Scores {
		sc.EvaluatedAt = sc.EvaluatedAt.UTC()
		doc, err := json.Marshal(sc)
		if err != nil {
			return err
		}
		evNs := uint64(sc.EvaluatedAt.UnixNano())
		r.scores = append(r.scores, []any{d, sc.Environment, sc.EvaluationID, seconds(sc.EvaluatedAt),
			sc.Image.Repository, sc.Org, sc.Team, uint8(sc.Level), uint8(sc.Risk), flag(sc.VerifiedProvenance),
			sc.GapCodes(), sc.PolicyVersion, string(doc), evNs})
		codes, sevs, msgs, rules := []string{}, []string{}, []string{}, []string{}
		for _, g := range sc.Gaps {
			codes, sevs, msgs, rules = append(codes, g.Code), append(sevs, g.Severity), append(msgs, g.Message),
				append(rules, g.Rule)
		}
		r.heads = append(r.heads, []any{d, sc.Environment, sc.EvaluationID, evNs, sc.Image.Repository, sc.Org, sc.Team,
			uint8(sc.Level), uint8(sc.Risk), flag(sc.VerifiedProvenance), codes, sevs, msgs, rules, evNs})
		dep := ev.Deployments[k]
		r.placements = append(r.placements, []any{d, dep.Org, dep.Team, dep.Environment,
			flag(running[dep.Environment]), dep.Image.Repository, dep.Cluster, dep.Namespace, dep.Workload,
			uint8(sc.Level), flag(sc.VerifiedProvenance), flag(len(codes) > 0), codes, version})
		if running[dep.Environment] {
			live = append(live, synthPlacement{dep.Org, dep.Team, dep.Environment, uint8(sc.Level),
				flag(sc.VerifiedProvenance), flag(len(codes) > 0)})
		}
		for _, g := range sc.Gaps {
			item := synthGapRow{digest: d, environment: sc.Environment, code: g.Code, level: uint8(sc.Level)}
			last, evented := lastEvent[eventKey{sc.Environment, g.Code}]
			switch {
			case running[sc.Environment]:
				item.state = store.GapStateOpen
				item.repository, item.org, item.team = sc.Image.Repository, sc.Org, sc.Team
				item.severity, item.message, item.rule = g.Severity, g.Message, g.Rule
				item.openedNs = evNs // the opening event is at the evaluation
			case evented && last.State == store.GapClosed:
				item.state = store.GapStateClosed
				item.repository, item.org, item.team = last.Image.Repository, last.Org, last.Team
				item.severity, item.message, item.rule = last.Gap.Severity, last.Gap.Message, last.Gap.Rule
				item.closedNs = uint64(last.At.UnixNano())
				item.openedNs = cmp.Or(evNs, item.closedNs)
			default:
				continue // never listed
			}
			r.gaps = append(r.gaps, []any{d, item.environment, item.code, item.state, item.repository, item.org,
				item.team, item.severity, item.message, item.rule, item.level, item.openedNs, item.closedNs,
				item.hash(), version})
			r.feed = append(r.feed, []any{item.openedNs, d, item.environment, item.code, item.state, item.org,
				item.team, item.severity, version})
		}
	}
	if r.cube == nil {
		r.cube = map[coverageCell]coverageCount{}
	}
	for c, n := range coverageCells(live) {
		r.coverage = append(r.coverage, coverageRow(d, c, n))
		sum := r.cube[c]
		for i := range n {
			sum[i] += n[i]
		}
		r.cube[c] = sum
	}
	return nil
}

// synthGapRow is a row of current_gaps, versions aside (as state.go's gapRow).
type synthGapRow struct {
	digest, environment, code, state               string
	repository, org, team, severity, message, rule string
	level                                          uint8
	openedNs, closedNs                             uint64
}

// hash is the row's item_hash, as state.go computes it.
func (g synthGapRow) hash() uint64 {
	h := fnv.New64a()
	for _, f := range []string{g.digest, g.environment, g.code, g.state, g.repository, g.org, g.team, g.severity,
		g.message, g.rule} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	binary.Write(h, binary.LittleEndian, []uint64{uint64(g.level), g.openedNs, g.closedNs})
	return h.Sum64()
}
