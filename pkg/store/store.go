// Package store defines what the scorer writes and the api reads: artifacts with their evidence,
// deployments, scores (history and current state), SBOM components, gap events and the gap
// feed, daily coverage roll-ups, and API token records. Implementations live in store/clickhouse
// (production) and store/sqlite (embedded); store/storetest holds the conformance suite both
// pass. All writes are idempotent: writing the same Evaluation twice changes no query result.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrNotFound is returned by readers when the thing asked for does not exist.
var ErrNotFound = errors.New("not found")

// Evaluation is everything the scorer learnt from one evidence message, written as one unit:
// the artifact's evidence set, the deployments it was scored for, one score per deployment
// environment, and the components of the SBOM documents in the evidence set.
type Evaluation struct {
	Evidence    evidence.ArtifactEvidence
	Deployments []evidence.Deployment
	Scores      []evidence.Score
	// Components are what the SBOM documents of Evidence list, each naming its document. A
	// document's components are a function of its bytes: stores keep them once per document
	// (the first complete write wins) and share them between the artifacts whose evidence sets
	// hold it. A component listed twice by one document (same name, version and purl) is kept
	// once, as first listed.
	Components []Component
}

// The times a store accepts: what every store can keep (ClickHouse's DateTime ends in 2106; a
// row's version is its time in Unix nanoseconds, which must not be negative).
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate reports whether ev and everything in it is valid, whether the deployments and scores
// are about ev's artifact, and whether every time in it is set and within 1970–2105 (a
// deployment's end after the very start of 1970). The error wraps evidence.ErrInvalid.
func (ev Evaluation) Validate() error {
	if err := ev.Evidence.Validate(); err != nil {
		return err
	}
	if err := checkTime("collected_at", ev.Evidence.CollectedAt); err != nil {
		return err
	}
	d := ev.Evidence.Image.Digest
	for _, dep := range ev.Deployments {
		if err := dep.Validate(); err != nil {
			return err
		}
		if dep.Image.Digest != d {
			return fmt.Errorf("%w: evaluation of %s: deployment of %s", evidence.ErrInvalid, d, dep.Image.Digest)
		}
		if err := checkTime("deployment observed_at", dep.ObservedAt); err != nil {
			return err
		}
		if dep.EndedAt != nil {
			if err := checkTime("deployment ended_at", *dep.EndedAt); err != nil {
				return err
			}
			// A store may keep "not ended" as the epoch itself (ClickHouse does).
			if dep.EndedAt.Equal(minTime) {
				return fmt.Errorf("%w: deployment ended_at %s: want a time after the start of 1970", evidence.ErrInvalid, dep.EndedAt.Format(time.RFC3339))
			}
		}
	}
	for _, s := range ev.Scores {
		if err := s.Validate(); err != nil {
			return err
		}
		if s.Image.Digest != d {
			return fmt.Errorf("%w: evaluation of %s: score of %s", evidence.ErrInvalid, d, s.Image.Digest)
		}
		if err := checkTime("score evaluated_at", s.EvaluatedAt); err != nil {
			return err
		}
	}
	docs := make(map[evidence.Digest]bool, len(ev.Evidence.Evidence))
	for _, e := range ev.Evidence.Evidence {
		docs[e.ID] = true
	}
	for _, c := range ev.Components {
		if err := c.Validate(); err != nil {
			return err
		}
		if !docs[c.SBOM] {
			return fmt.Errorf("%w: evaluation of %s: component %q of document %s, which is not in the evidence set",
				evidence.ErrInvalid, d, c.Name, c.SBOM)
		}
	}
	return nil
}

// checkTime reports whether t is a time every store can keep: from 1970 to 2105. The error wraps
// evidence.ErrInvalid and names what.
func checkTime(what string, t time.Time) error {
	if t.Before(minTime) || !t.Before(maxTime) {
		return fmt.Errorf("%w: %s %s: want a time from 1970 to 2105", evidence.ErrInvalid, what, t.Format(time.RFC3339))
	}
	return nil
}

// Writer stores what the scorer learns: evaluations, gap events and coverage roll-ups.
type Writer interface {
	// WriteEvaluation durably stores ev. It is idempotent, and an older evaluation written after
	// a newer one never replaces the newer one in current-state queries. It returns an error
	// wrapping evidence.ErrInvalid when ev is invalid.
	WriteEvaluation(ctx context.Context, ev Evaluation) error
	GapWriter
	CoverageRollup
}

// GapWriter records the opening and closing of gaps.
type GapWriter interface {
	// WriteGapEvents durably stores events. It is idempotent: an event is identified by its
	// fingerprint, evaluation ID and state, and writing one again stores nothing new. It
	// returns an error wrapping evidence.ErrInvalid, and writes nothing, when an event is
	// invalid (see GapEvent.Validate).
	WriteGapEvents(ctx context.Context, events []GapEvent) error
}

// CoverageRollup keeps the daily coverage history that Trend reads.
type CoverageRollup interface {
	// RollupCoverage computes, as of now, what Coverage returns for every CoverageQuery that a
	// trend point stands for — every combination of an org, team and environment of the running
	// deployments, each of them possibly left out (recorded as RollupAll) — and records it for
	// the UTC day of day, replacing what an earlier call recorded for that day (a combination no
	// longer deployed is dropped from it). It is meant to be called every few minutes for today.
	// It returns an error wrapping evidence.ErrInvalid when day is before 1970 or after 2105.
	RollupCoverage(ctx context.Context, day time.Time) error
}

// CoverageQuery narrows coverage to deployments that match every non-empty field.
type CoverageQuery struct {
	Org         string
	Team        string
	Environment string
	// At is the time whose active exceptions accept gaps (see Exception); zero for now.
	At time.Time
}

// Coverage counts deployed artifacts: distinct digests with a deployment matching the query that
// has not ended (the latest observation of its key has no EndedAt).
type Coverage struct {
	Total int `json:"total"`
	// ByLevel counts artifacts by their highest current level in the matching environments;
	// it always has the keys "L0" to "L3". An artifact deployed but not yet scored counts as L0.
	ByLevel map[string]int `json:"by_level"`
	// VerifiedProvenance counts artifacts with at least one verified provenance.
	VerifiedProvenance int `json:"verified_provenance"`
	// WithGaps counts artifacts with at least one gap in a matching environment that no active
	// exception accepts.
	WithGaps int `json:"with_gaps"`
	// Accepted counts artifacts with gaps in the matching environments, every one of them
	// accepted by an active exception: they count against coverage again when it expires.
	Accepted int `json:"accepted"`
}

// ArtifactDetail is one artifact with its latest evidence set, its current score in each
// environment it is deployed to, and its deployments: the latest observation of each, ended
// ones included (with EndedAt set), so that history shows where it ran.
type ArtifactDetail struct {
	Image       evidence.ImageRef     `json:"image"`
	CollectedAt time.Time             `json:"collected_at"`
	Evidence    []evidence.Evidence   `json:"evidence"`
	Errors      []string              `json:"errors,omitempty"`
	Scores      []evidence.Score      `json:"scores"`
	Deployments []evidence.Deployment `json:"deployments"`
}

// The page sizes of an artifact listing.
const (
	// DefaultArtifactLimit is the page size of an ArtifactQuery whose Limit is 0.
	DefaultArtifactLimit = 100
	// MaxArtifactLimit is the greatest Limit an ArtifactQuery may ask for.
	MaxArtifactLimit = 1000
)

// ArtifactQuery narrows an artifact listing; zero fields match everything.
//
// An artifact's matching deployments are the latest observations of its deployment keys that
// match every non-empty field of Org, Team and Environment. It is listed when one of them has not
// ended, and then summarised over the environments of those that have not; with IncludeEnded, an
// artifact whose matching deployments all ended is listed too, summarised over the environments
// where they ran. Level, Gap and Repository then filter those summaries.
type ArtifactQuery struct {
	Org         string
	Team        string
	Environment string
	// Level, when set, keeps artifacts whose highest current level over the matching
	// environments equals it (0 for artifacts deployed but not yet scored).
	Level *evidence.Level
	// Gap, when set, keeps artifacts with a current gap of this code in a matching environment.
	Gap string
	// Repository, when set, keeps artifacts whose image repository (ArtifactSummary.Image)
	// equals it.
	Repository string
	// IncludeEnded also lists artifacts whose matching deployments all ended.
	IncludeEnded bool
	// Limit is the page size: 0 for DefaultArtifactLimit, at most MaxArtifactLimit.
	Limit int
	// After is the opaque cursor a previous page returned; empty for the first page.
	After string
}

// Validate reports whether q's limit is 0 to MaxArtifactLimit, its level, when set, 0 to 3, and
// its cursor one that a listing returned. The error wraps evidence.ErrInvalid.
func (q ArtifactQuery) Validate() error {
	if q.Limit < 0 || q.Limit > MaxArtifactLimit {
		return fmt.Errorf("%w: artifact query: limit %d: want 1 to %d, or 0 for %d", evidence.ErrInvalid,
			q.Limit, MaxArtifactLimit, DefaultArtifactLimit)
	}
	if q.Level != nil {
		if err := q.Level.Validate(); err != nil {
			return fmt.Errorf("artifact query: %w", err)
		}
	}
	if _, err := q.AfterDigest(); err != nil {
		return err
	}
	return nil
}

// PageSize returns q.Limit, or DefaultArtifactLimit when it is 0.
func (q ArtifactQuery) PageSize() int {
	if q.Limit == 0 {
		return DefaultArtifactLimit
	}
	return q.Limit
}

// AfterDigest returns the digest q.After continues after, or "" when q.After is empty. The error
// wraps evidence.ErrInvalid when q.After is not a cursor that ArtifactCursor made.
func (q ArtifactQuery) AfterDigest() (evidence.Digest, error) {
	if q.After == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(q.After)
	if err != nil {
		return "", fmt.Errorf("%w: artifact query: cursor %q: not a cursor from a previous page", evidence.ErrInvalid, q.After)
	}
	d, err := evidence.ParseDigest(string(b))
	if err != nil {
		return "", fmt.Errorf("%w: artifact query: cursor %q: not a cursor from a previous page", evidence.ErrInvalid, q.After)
	}
	return d, nil
}

// ArtifactCursor returns the opaque cursor of a listing that continues after the artifact with
// digest d: an unpadded base64url encoding of the digest.
func ArtifactCursor(d evidence.Digest) string {
	return base64.RawURLEncoding.EncodeToString([]byte(d))
}

// ArtifactSummary is one artifact in a listing, summarised over the environments its matching
// deployments run in (see ArtifactQuery).
type ArtifactSummary struct {
	Image evidence.ImageRef `json:"image"`
	// SLSALevel is the highest current level over the environments; 0 when not yet scored.
	SLSALevel evidence.Level `json:"slsa_level"`
	// Risk is the highest current risk over the environments; 0 when not yet scored.
	Risk int `json:"risk"`
	// VerifiedProvenance is true when a current score in one of the environments says so.
	VerifiedProvenance bool `json:"verified_provenance"`
	// Gaps are the distinct codes of the current gaps in the environments, sorted; never nil.
	Gaps []string `json:"gaps"`
	// Environments are the distinct environments, sorted; never nil.
	Environments []string `json:"environments"`
	// CollectedAt is when the artifact's latest evidence set was collected.
	CollectedAt time.Time `json:"collected_at"`
}

// Reader answers the api's questions.
type Reader interface {
	// Coverage counts deployed artifacts matching q; ended deployments do not count.
	Coverage(ctx context.Context, q CoverageQuery) (Coverage, error)
	// Artifact returns the artifact with digest d, or an error wrapping ErrNotFound.
	Artifact(ctx context.Context, d evidence.Digest) (ArtifactDetail, error)
	// CurrentScores returns the latest score of artifact d in each environment, ordered by
	// environment; it is empty (no error) when d was never scored.
	CurrentScores(ctx context.Context, d evidence.Digest) ([]evidence.Score, error)
	// ScoreHistory returns every evaluation of artifact d, one score per (environment,
	// evaluation ID), ordered by evaluation time, then evaluation ID, then environment; it is
	// empty (no error) when d was never scored.
	ScoreHistory(ctx context.Context, d evidence.Digest) ([]evidence.Score, error)
	// ListArtifacts returns one page of the artifacts q matches, ordered by digest, and the
	// cursor of the next page in next, "" on the last page. Items is empty, not nil, when nothing
	// matches. The error wraps evidence.ErrInvalid when q is invalid (see ArtifactQuery.Validate).
	ListArtifacts(ctx context.Context, q ArtifactQuery) (items []ArtifactSummary, next string, err error)
	// EachArtifact calls fn for every artifact with at least one deployment that has not ended,
	// with its detail as Artifact returns it, in digest order. It stops at fn's first error and
	// returns it, wrapped; fn may call the store. Artifacts written while it runs may or may
	// not be visited.
	EachArtifact(ctx context.Context, fn func(ArtifactDetail) error) error
	ComponentSearch
	GapFeed
	TrendReader
}

// ComponentSearch finds where components run.
type ComponentSearch interface {
	// Components returns one page of the hits of q (see ComponentQuery and ComponentHit),
	// ordered by component name, version, purl, artifact digest and environment, and the
	// cursor of the next page in next, "" on the last page. Items is empty, not nil, when
	// nothing matches. The error wraps evidence.ErrInvalid when q is invalid (see
	// ComponentQuery.Validate).
	Components(ctx context.Context, q ComponentQuery) (items []ComponentHit, next string, err error)
}

// GapFeed lists open and closed gaps.
type GapFeed interface {
	// Gaps returns one page of the gaps q matches (see GapQuery and GapItem), ordered by
	// OpenedAt, then image digest, environment and gap code, and the cursor of the next page in
	// next, "" on the last page. Items is empty, not nil, when nothing matches. The error wraps
	// evidence.ErrInvalid when q is invalid (see GapQuery.Validate).
	Gaps(ctx context.Context, q GapQuery) (items []GapItem, next string, err error)
	// GapsVersion returns a short opaque string that changes when, and only when, what Gaps
	// returns for q (all pages of it; q's Limit and After are ignored) changes, for use as an
	// HTTP entity tag. The error wraps evidence.ErrInvalid when q's state is unknown.
	GapsVersion(ctx context.Context, q GapQuery) (string, error)
}

// TrendReader reads the coverage history that RollupCoverage records.
type TrendReader interface {
	// Trend returns the recorded coverage of each day from q.From to q.To (UTC days, both
	// included) for each value of the grouping q.By deployed where q's filters match, ordered by
	// day, then group: each point is what Coverage returned for the group and the filters when
	// the day was rolled up (see TrendPoint). Days without a roll-up have no points. The error
	// wraps evidence.ErrInvalid when q is invalid (see TrendQuery.Validate).
	Trend(ctx context.Context, q TrendQuery) ([]TrendPoint, error)
}

// Store is a Writer, a Reader and a keeper of API tokens that can be health-checked and closed.
type Store interface {
	Writer
	Reader
	// Store keeps token records as auth.Store says: PutToken replaces the record with the same
	// ID and returns an error wrapping auth.ErrInvalid when the record is invalid; TokenByHash
	// returns an error wrapping auth.ErrNotFound for an unknown hash.
	auth.Store
	ExceptionKeeper
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// ValidateToken reports whether t is valid (auth.Token.Validate) and every time in it is set
// and from 1970 to 2105, as stores keep token records. The error wraps auth.ErrInvalid.
func ValidateToken(t auth.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"created_at", &t.CreatedAt}, {"expires_at", t.ExpiresAt}, {"revoked_at", t.RevokedAt}} {
		if f.t != nil && (f.t.Before(minTime) || !f.t.Before(maxTime)) {
			return fmt.Errorf("%w: token %s: %s %s: want a time from 1970 to 2105", auth.ErrInvalid, t.ID, f.name,
				f.t.Format(time.RFC3339))
		}
	}
	return nil
}
