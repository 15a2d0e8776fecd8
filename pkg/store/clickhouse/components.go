package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"strings"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/internal/listing"
)

// selectComponentKeys lists the matching components ({table} rows matching {match}, read through
// the table's primary key) from the cursor's on, in search order, with how many documents list
// each: a page reads only the first of them (see Components).
const selectComponentKeys = `
	SELECT name, version, purl, uniqExact(sbom)
	FROM {table}
	WHERE {match} AND (name, version, purl) >= (@a_name, @a_version, @a_purl)
	GROUP BY name, version, purl
	ORDER BY name, version, purl`

// selectHolders reads which artifacts' collections hold the documents listing the matching
// components from the cursor's to @z_* (the last one the page reads): per (document, digest),
// the newest such collection. artifact_documents is read by its primary key (document).
const selectHolders = `
	SELECT document, digest, max(version)
	FROM artifact_documents
	WHERE document IN (
		SELECT sbom FROM {table}
		WHERE {match} AND (name, version, purl) >= (@a_name, @a_version, @a_purl)
			AND (name, version, purl) <= (@z_name, @z_version, @z_purl)
	)
	GROUP BY document, digest`

// componentsQuery finds where the matching components run, given the holders of their
// documents (the external table _holders, from selectHolders). From the inside out:
//   - the matching components from the cursor's component on, read through the table's primary
//     key and de-duplicated per document (rows collapse only when parts merge);
//   - joined with the holders whose collection is the artifact's latest (artifacts read by its
//     primary key, digest), from the cursor's artifact on, and grouped per component and
//     artifact: its documents, sorted, and the type and licenses of the first;
//   - joined with those artifacts' placements (read by the primary key, digest; each one's
//     newest row by argMax, which is quicker than FINAL here) where a deployment runs and that
//     match @org, @team and @env (empty matches all): per environment, the first placement's
//     first running deployment by cluster, namespace, workload, org and repository, with the
//     environment's current level and gap codes.
//
// Passing the holders from a first query keeps the server from evaluating the same subqueries
// once for every table they bound. Their digests ({digests}) are given as a list, with which
// the server reads only the granules of artifacts and placements holding them, unless there are
// more than maxListedHolders: then they are read from _holders. Components reads the matching
// components up to @z_* only (a page's worth). ClickHouse 18.16 needs the old JOIN syntax
// (ANY/ALL ... JOIN ... USING), joins one table per SELECT, and does not push conditions into a
// join's right side.
const componentsQuery = `
	SELECT c_name, c_version, c_purl, k_sboms, k_type, k_licenses, digest, d_repository, environment,
		d_org, d_team, d_cluster, d_namespace, d_workload, h_level, h_codes
	FROM (
		SELECT c_name, c_version, c_purl, digest, arraySort(groupArray(c_sbom)) AS k_sboms,
			argMin(c_type, c_sbom) AS k_type, argMin(c_licenses, c_sbom) AS k_licenses
		FROM (
			SELECT name AS c_name, version AS c_version, purl AS c_purl, sbom AS c_sbom,
				any(type) AS c_type, any(licenses) AS c_licenses
			FROM {table}
			WHERE {match} AND (name, version, purl) >= (@a_name, @a_version, @a_purl)
				AND (name, version, purl) <= (@z_name, @z_version, @z_purl)
			GROUP BY name, version, purl, sbom
		)
		ALL INNER JOIN (
			SELECT document AS c_sbom, digest
			FROM (SELECT document, digest, version AS latest_ns FROM _holders)
			ANY INNER JOIN (
				SELECT digest, max(version) AS latest_ns
				FROM artifacts
				WHERE digest IN {digests}
				GROUP BY digest
			) USING (digest, latest_ns)
		) USING (c_sbom)
		WHERE (c_name, c_version, c_purl, digest) >= (@a_name, @a_version, @a_purl, @a_digest)
		GROUP BY c_name, c_version, c_purl, digest
	)
	ALL INNER JOIN (
		SELECT digest, p_env AS environment, d_repository, d_org, d_team, d_cluster, d_namespace, d_workload,
			h_level, h_codes
		FROM (
			SELECT digest, environment AS p_env, argMax(repository, version) AS d_repository, org AS d_org,
				team AS d_team, argMax(cluster, version) AS d_cluster, argMax(namespace, version) AS d_namespace,
				argMax(workload, version) AS d_workload, argMax(level, version) AS h_level,
				argMax(gap_codes, version) AS h_codes, argMax(running, version) AS p_running
			FROM placements
			WHERE digest IN {digests}
				AND (@org = '' OR org = @org) AND (@team = '' OR team = @team) AND (@env = '' OR environment = @env)
			GROUP BY digest, org, team, environment
		)
		WHERE p_running = 1
		ORDER BY digest, p_env, d_cluster, d_namespace, d_workload, d_org, d_repository
		LIMIT 1 BY digest, p_env
	) USING (digest)
	WHERE (c_name, c_version, c_purl, digest, environment) > (@a_name, @a_version, @a_purl, @a_digest, @a_env)
	ORDER BY c_name, c_version, c_purl, digest, environment
	LIMIT @limit`

// componentSearch is a component search over a components table, matching a condition.
type componentSearch struct{ keys, holders, hits string }

func newComponentSearch(table, match string) componentSearch {
	r := strings.NewReplacer("{table}", table, "{match}", match)
	return componentSearch{keys: r.Replace(selectComponentKeys), holders: r.Replace(selectHolders),
		hits: r.Replace(componentsQuery)}
}

// The component searches: by purl, by name, and by name and version.
var (
	componentsByPURL        = newComponentSearch("sbom_components_by_purl", "purl = @purl")
	componentsByName        = newComponentSearch("sbom_components", "name = @name")
	componentsByNameVersion = newComponentSearch("sbom_components", "name = @name AND version = @version")
)

// Components returns one page of the places where the components q asks for run, ordered by
// component name, version, purl, artifact digest and environment, and the cursor of the next
// page ("" on the last). The error wraps evidence.ErrInvalid when q is invalid, and
// otherwise reports a failing server.
func (s *Store) Components(ctx context.Context, q store.ComponentQuery) ([]store.ComponentHit, string, error) {
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("searching components: %w", err)
	}
	after, _ := q.AfterKey() // valid: checked above
	query := componentsByName
	switch {
	case q.PURL != "":
		query = componentsByPURL
	case q.Version != "":
		query = componentsByNameVersion
	}
	limit := q.PageSize()
	args := []any{chgo.Named("purl", q.PURL), chgo.Named("name", q.Name), chgo.Named("version", q.Version),
		chgo.Named("a_name", after.Name), chgo.Named("a_version", after.Version), chgo.Named("a_purl", after.PURL)}
	keys, err := s.componentKeys(ctx, query, args)
	if err != nil {
		return nil, "", fmt.Errorf("searching components: %w", err)
	}
	// A page reads the fewest components, in order, whose documents could give it its hits
	// (each document at least one), and when that is a single component, the fewest of its
	// holders, by digest, that could; when they give fewer, it reads four times as many.
	items := []store.ComponentHit{}
	var all []holder // the holders of the components read, kept while they do not change
	read := 0
	for want := limit + 1; len(keys) > 0; want *= 4 {
		n, docs := 0, uint64(0)
		for n < len(keys) && docs < uint64(want) {
			docs += keys[n].documents
			n++
		}
		last := keys[n-1]
		bound := append(slices.Clip(args), chgo.Named("z_name", last.name), chgo.Named("z_version", last.version),
			chgo.Named("z_purl", last.purl))
		if n != read {
			if all, err = s.componentHolders(ctx, query, bound); err != nil {
				return nil, "", fmt.Errorf("searching components: %w", err)
			}
			read = n
		}
		holders, trimmed := all, false
		if n == 1 {
			from := ""
			if last.name == after.Name && last.version == after.Version && last.purl == after.PURL {
				from = string(after.Digest)
			}
			holders, trimmed = firstHolders(all, from, want)
		}
		if items, err = s.componentHits(ctx, q, query, bound, after, holders, limit); err != nil {
			return nil, "", fmt.Errorf("searching components: %w", err)
		}
		if len(items) > limit || n == len(keys) && !trimmed {
			break
		}
	}
	items, next := listing.PageOf(items, limit, func(h store.ComponentHit) string { return h.Key().Cursor() })
	return items, next, nil
}

// componentKey is a matching component and how many documents list it.
type componentKey struct {
	name, version, purl string
	documents           uint64
}

// componentKeys lists the matching components from the cursor's on, in search order.
func (s *Store) componentKeys(ctx context.Context, query componentSearch, args []any) ([]componentKey, error) {
	var keys []componentKey
	err := s.scanRows(ctx, query.keys, args, func(scan func(...any) error) error {
		var k componentKey
		if err := scan(&k.name, &k.version, &k.purl, &k.documents); err != nil {
			return err
		}
		keys = append(keys, k)
		return nil
	})
	return keys, err
}

// holder is an artifact whose collection, the newest of its that holds it, holds a document.
type holder struct {
	document, digest string
	version          uint64
}

// componentHolders reads the holders of the documents listing the components args bound.
func (s *Store) componentHolders(ctx context.Context, query componentSearch, args []any) ([]holder, error) {
	var hs []holder
	err := s.scanRows(ctx, query.holders, args, func(scan func(...any) error) error {
		var h holder
		if err := scan(&h.document, &h.digest, &h.version); err != nil {
			return err
		}
		hs = append(hs, h)
		return nil
	})
	return hs, err
}

// firstHolders returns the holders whose digests are the first n from digest from on (all from
// on when there are no more), and whether any was left out. Holders before from give no hit.
func firstHolders(hs []holder, from string, n int) ([]holder, bool) {
	var digests []string
	for _, h := range hs {
		if h.digest >= from {
			digests = append(digests, h.digest)
		}
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	if len(digests) <= n {
		return hs, false
	}
	upTo := digests[n-1]
	kept := hs[:0:0]
	for _, h := range hs {
		if h.digest >= from && h.digest <= upTo {
			kept = append(kept, h)
		}
	}
	return kept, true
}

// maxListedHolders is the most holders whose digests a search lists in its query (about 80
// bytes each; a query may have 256 KiB).
const maxListedHolders = 2000

// componentHits reads the first limit+1 hits of the components args bound, given their
// documents' holders.
func (s *Store) componentHits(ctx context.Context, q store.ComponentQuery, query componentSearch, args []any,
	after store.ComponentKey, hs []holder, limit int) ([]store.ComponentHit, error) {
	items := []store.ComponentHit{}
	if len(hs) == 0 {
		return items, nil
	}
	holders, err := ext.NewTable("_holders", ext.Column("document", column.Type("String")),
		ext.Column("digest", column.Type("String")), ext.Column("version", column.Type("UInt64")))
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if err := holders.Append(h.document, h.digest, h.version); err != nil {
			return nil, err
		}
	}
	hits := strings.Replace(query.hits, "{digests}", "(SELECT digest FROM _holders)", -1)
	var digests []evidence.Digest
	for _, h := range hs {
		digests = append(digests, evidence.Digest(h.digest))
	}
	slices.Sort(digests)
	if digests = slices.Compact(digests); len(digests) <= maxListedHolders {
		hits = strings.Replace(query.hits, "{digests}", "@h_digests", -1)
		args = append(slices.Clip(args), chgo.Named("h_digests", digestSet(digests)))
	}
	rows, err := s.conn.Query(chgo.Context(ctx, chgo.WithExternalTable(holders)), hits, append(slices.Clip(args),
		chgo.Named("org", q.Org), chgo.Named("team", q.Team), chgo.Named("env", q.Environment),
		chgo.Named("a_digest", string(after.Digest)), chgo.Named("a_env", after.Environment),
		chgo.Named("limit", limit+1))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h store.ComponentHit
		var sboms []string
		var digest string
		var level uint8
		if err := rows.Scan(&h.Name, &h.Version, &h.PURL, &sboms, &h.Type, &h.Licenses, &digest, &h.Image.Repository,
			&h.Environment, &h.Org, &h.Team, &h.Cluster, &h.Namespace, &h.Workload, &level, &h.Gaps); err != nil {
			return nil, err
		}
		h.SBOMs = make([]evidence.Digest, len(sboms))
		for i, d := range sboms {
			h.SBOMs[i] = evidence.Digest(d)
		}
		h.Image.Digest, h.SLSALevel = evidence.Digest(digest), evidence.Level(level)
		if len(h.Licenses) == 0 {
			h.Licenses = nil
		}
		h.Gaps = listing.Set(h.Gaps)
		items = append(items, h)
	}
	return items, rows.Err()
}
