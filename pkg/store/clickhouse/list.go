package clickhouse

import (
	"context"
	"fmt"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/internal/listing"
)

// listArtifacts lists the artifacts after a digest (@after), ordered by digest, at most @limit.
// From the inside out: deployments are reduced to the newest observation of each key with
// argMax (so a superseded observation never matches) and filtered by @org, @team and @env (an
// empty one matches all); per artifact, the environments where a matching deployment runs
// (ended_ns = 0) are kept, or, with @include_ended, those of the ended ones when none runs;
// ARRAY JOIN turns them back into (digest, environment) rows, joined with the current scores;
// per artifact, the highest level and risk, any verified provenance and the distinct gap codes
// are filtered by @level (-1 for any) and @gap; last, the artifact's repository and collection
// time are joined and filtered by @repository. ClickHouse 18.16 has no window functions and
// needs the old JOIN syntax, ANY ... JOIN ... USING; an unscored environment's score columns
// are then zeros and empty arrays, so it counts as level 0 without gaps.
const listArtifacts = `
	SELECT digest, repository, collected_ns, level, risk, verified, environments, gaps
	FROM (
		SELECT digest,
			max(s_level) AS level, max(s_risk) AS risk, max(s_verified) AS verified,
			groupUniqArray(environment) AS environments,
			groupUniqArrayArray(s_gaps) AS gaps
		FROM (
			SELECT digest, environment
			FROM (
				SELECT digest,
					groupArrayIf(environment, running = 1) AS running_envs,
					groupArray(environment) AS all_envs
				FROM (
					SELECT digest, environment, max(d_ended_ns = 0) AS running
					FROM (
						SELECT digest,
							argMax(org, version) AS d_org,
							argMax(team, version) AS d_team,
							argMax(environment, version) AS environment,
							argMax(ended_ns, version) AS d_ended_ns
						FROM deployments
						WHERE digest > @after
						GROUP BY digest, deployment_key
					)
					WHERE (@org = '' OR d_org = @org) AND (@team = '' OR d_team = @team)
						AND (@env = '' OR environment = @env)
					GROUP BY digest, environment
				)
				GROUP BY digest
				HAVING notEmpty(running_envs) OR @include_ended
			)
			ARRAY JOIN if(notEmpty(running_envs), running_envs, all_envs) AS environment
		)
		ANY LEFT JOIN (
			SELECT digest, environment, level AS s_level, risk AS s_risk,
				verified_provenance AS s_verified, gap_codes AS s_gaps
			FROM scores_current
			WHERE digest > @after
		) USING (digest, environment)
		GROUP BY digest
		HAVING (@level < 0 OR level = @level) AND (@gap = '' OR has(gaps, @gap))
	)
	ANY INNER JOIN (
		SELECT digest, argMax(repository, version) AS repository, max(version) AS collected_ns
		FROM artifacts
		WHERE digest > @after
		GROUP BY digest
	) USING (digest)
	WHERE @repository = '' OR repository = @repository
	ORDER BY digest
	LIMIT @limit`

// ListArtifacts returns one page of the artifacts q matches, ordered by digest, and the cursor
// of the next page ("" on the last). The error wraps evidence.ErrInvalid when q is invalid, and
// otherwise reports a failing server.
func (s *Store) ListArtifacts(ctx context.Context, q store.ArtifactQuery) ([]store.ArtifactSummary, string, error) {
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("listing artifacts: %w", err)
	}
	after, _ := q.AfterDigest() // valid: checked above
	level := -1
	if q.Level != nil {
		level = int(*q.Level)
	}
	limit := q.PageSize()
	rows, err := s.conn.Query(ctx, listArtifacts,
		chgo.Named("after", string(after)),
		chgo.Named("org", q.Org), chgo.Named("team", q.Team), chgo.Named("env", q.Environment),
		chgo.Named("include_ended", q.IncludeEnded),
		chgo.Named("level", level), chgo.Named("gap", q.Gap),
		chgo.Named("repository", q.Repository),
		chgo.Named("limit", limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("listing artifacts: %w", err)
	}
	defer rows.Close()
	items := []store.ArtifactSummary{}
	for rows.Next() {
		var a store.ArtifactSummary
		var digest string
		var collectedNs uint64
		var level, risk, verified uint8
		if err := rows.Scan(&digest, &a.Image.Repository, &collectedNs, &level, &risk, &verified,
			&a.Environments, &a.Gaps); err != nil {
			return nil, "", fmt.Errorf("listing artifacts: %w", err)
		}
		a.Image.Digest = evidence.Digest(digest)
		a.SLSALevel, a.Risk, a.VerifiedProvenance = evidence.Level(level), int(risk), verified != 0
		a.CollectedAt = time.Unix(0, int64(collectedNs)).UTC()
		a.Environments, a.Gaps = listing.Set(a.Environments), listing.Set(a.Gaps)
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("listing artifacts: %w", err)
	}
	items, next := listing.Page(items, limit)
	return items, next, nil
}

// EachArtifact calls fn with the detail of every artifact with a deployment that has not ended,
// in digest order, loading them a batch at a time; fn may call the store. It returns fn's first
// error, wrapped, or an error of the server.
func (s *Store) EachArtifact(ctx context.Context, fn func(store.ArtifactDetail) error) error {
	return listing.Each(ctx, s.ListArtifacts, s.details, fn)
}
