// Package store defines what the scorer writes and the api reads: artifacts with their evidence,
// deployments, scores (history and current state). Implementations live in store/clickhouse
// (production) and store/sqlite (embedded); store/storetest holds the conformance suite both
// pass. All writes are idempotent: writing the same Evaluation twice changes no query result.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrNotFound is returned by readers when the thing asked for does not exist.
var ErrNotFound = errors.New("not found")

// Evaluation is everything the scorer learnt from one evidence message, written as one unit:
// the artifact's evidence set, the deployments it was scored for, and one score per deployment
// environment.
type Evaluation struct {
	Evidence    evidence.ArtifactEvidence
	Deployments []evidence.Deployment
	Scores      []evidence.Score
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
	check := func(what string, t time.Time) error {
		if t.Before(minTime) || !t.Before(maxTime) {
			return fmt.Errorf("%w: %s %s: want a time from 1970 to 2105", evidence.ErrInvalid, what, t.Format(time.RFC3339))
		}
		return nil
	}
	if err := check("collected_at", ev.Evidence.CollectedAt); err != nil {
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
		if err := check("deployment observed_at", dep.ObservedAt); err != nil {
			return err
		}
		if dep.EndedAt != nil {
			if err := check("deployment ended_at", *dep.EndedAt); err != nil {
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
		if err := check("score evaluated_at", s.EvaluatedAt); err != nil {
			return err
		}
	}
	return nil
}

// Writer stores evaluations.
type Writer interface {
	// WriteEvaluation durably stores ev. It is idempotent, and an older evaluation written after
	// a newer one never replaces the newer one in current-state queries. It returns an error
	// wrapping evidence.ErrInvalid when ev is invalid.
	WriteEvaluation(ctx context.Context, ev Evaluation) error
}

// CoverageQuery narrows coverage to deployments that match every non-empty field.
type CoverageQuery struct {
	Org         string
	Team        string
	Environment string
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
	// WithGaps counts artifacts with at least one gap in a matching environment.
	WithGaps int `json:"with_gaps"`
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
}

// Store is a Writer and a Reader that can be health-checked and closed.
type Store interface {
	Writer
	Reader
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	Close() error
}
