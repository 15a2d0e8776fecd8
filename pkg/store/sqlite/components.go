package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/internal/listing"
)

// componentsQuery finds where the components matching %s run. From the inside out: the matching
// components (by an index on purl or on name and version); the artifacts whose latest collection
// holds their documents (the evidence table keeps only the latest), per component and artifact,
// the documents listing it and the first of them; the running deployments of those artifacts
// matching org ?4, team ?5 and environment ?6 (empty matches all), the first per environment by
// cluster, namespace, workload, org and repository; the current score in that environment. The
// component's type and licenses are those of its first document. The hits after the cursor (?7
// to ?11) are ordered by the cursor's key, at most ?12.
const componentsQuery = `
	WITH comps AS (
		SELECT sbom, name, version, purl, type, licenses FROM sbom_components WHERE %s
	), holders AS (
		SELECT c.name, c.version, c.purl, e.digest, min(c.sbom) AS first_sbom,
			json_group_array(DISTINCT c.sbom) AS sboms
		FROM comps AS c JOIN evidence AS e ON e.evidence_id = c.sbom
		GROUP BY c.name, c.version, c.purl, e.digest
	), places AS (
		SELECT digest, environment, repository, org, team, cluster, namespace, workload,
			row_number() OVER (
				PARTITION BY digest, environment ORDER BY cluster, namespace, workload, org, repository
			) AS rank
		FROM deployments
		WHERE ended_at IS NULL AND digest IN (SELECT digest FROM holders)
			AND (?4 = '' OR org = ?4) AND (?5 = '' OR team = ?5) AND (?6 = '' OR environment = ?6)
	)
	SELECT h.name, h.version, h.purl, h.sboms, c.type, c.licenses, p.digest, p.repository, p.environment,
		p.org, p.team, p.cluster, p.namespace, p.workload, coalesce(s.level, 0), coalesce(s.gap_codes, '[]')
	FROM holders AS h
	JOIN comps AS c ON c.sbom = h.first_sbom AND c.name = h.name AND c.version = h.version AND c.purl = h.purl
	JOIN places AS p ON p.digest = h.digest AND p.rank = 1
	LEFT JOIN scores_current AS s ON s.digest = p.digest AND s.environment = p.environment
	WHERE (h.name, h.version, h.purl, p.digest, p.environment) > (?7, ?8, ?9, ?10, ?11)
	ORDER BY h.name, h.version, h.purl, p.digest, p.environment
	LIMIT ?12`

// The component searches: by purl (?1), or by name (?2) and, when not empty, version (?3).
var (
	componentsByPURL = fmt.Sprintf(componentsQuery, "purl = ?1 AND ?2 = '' AND ?3 = ''")
	componentsByName = fmt.Sprintf(componentsQuery, "name = ?2 AND (?3 = '' OR version = ?3) AND ?1 = ''")
)

// Components returns one page of the places where the components q asks for run, ordered by
// component name, version, purl, artifact digest and environment, and the cursor of the next
// page ("" on the last). The error wraps evidence.ErrInvalid when q is invalid, and
// otherwise reports a failing database.
func (s *Store) Components(ctx context.Context, q store.ComponentQuery) ([]store.ComponentHit, string, error) {
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("searching components: %w", err)
	}
	after, _ := q.AfterKey() // valid: checked above
	query := componentsByName
	if q.PURL != "" {
		query = componentsByPURL
	}
	limit := q.PageSize()
	rows, err := s.stmts[query].QueryContext(ctx, q.PURL, q.Name, q.Version, q.Org, q.Team, q.Environment,
		after.Name, after.Version, after.PURL, string(after.Digest), after.Environment, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("searching components: %w", err)
	}
	defer rows.Close()
	items := []store.ComponentHit{}
	for rows.Next() {
		var h store.ComponentHit
		var sboms, licenses, gaps []byte
		if err := rows.Scan(&h.Name, &h.Version, &h.PURL, &sboms, &h.Type, &licenses, &h.Image.Digest,
			&h.Image.Repository, &h.Environment, &h.Org, &h.Team, &h.Cluster, &h.Namespace, &h.Workload,
			&h.SLSALevel, &gaps); err != nil {
			return nil, "", fmt.Errorf("searching components: %w", err)
		}
		if err := json.Unmarshal(sboms, &h.SBOMs); err != nil {
			return nil, "", fmt.Errorf("searching components: decoding documents of %q: %w", h.Name, err)
		}
		slices.Sort(h.SBOMs)
		if err := json.Unmarshal(licenses, &h.Licenses); err != nil {
			return nil, "", fmt.Errorf("searching components: decoding licenses of %q: %w", h.Name, err)
		}
		if len(h.Licenses) == 0 {
			h.Licenses = nil
		}
		if err := json.Unmarshal(gaps, &h.Gaps); err != nil {
			return nil, "", fmt.Errorf("searching components: decoding gaps of %s: %w", h.Image.Digest, err)
		}
		h.Gaps = listing.Set(h.Gaps)
		items = append(items, h)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("searching components: %w", err)
	}
	items, next := listing.PageOf(items, limit, func(h store.ComponentHit) string { return h.Key().Cursor() })
	return items, next, nil
}
