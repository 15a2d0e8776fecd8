package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrConflict is returned by PutDecision when another writer changed the decision since it
// was read; read it again and retry.
var ErrConflict = errors.New("decision changed concurrently")

// Decision is the last policy decision for an artifact in an environment, kept so gap
// transitions are announced exactly when a gap appears or disappears.
type Decision struct {
	EvaluationID string         `json:"evaluation_id"`
	EvaluatedAt  time.Time      `json:"evaluated_at"`
	Level        evidence.Level `json:"level"`
	Gaps         []evidence.Gap `json:"gaps"`
}

func decisionKey(d evidence.Digest, env string) string { return digestKey(d) + "." + env }

// LastDecision returns the last decision for d in env and its revision; found is false when
// there is none.
func (b *Bus) LastDecision(ctx context.Context, d evidence.Digest, env string) (dec Decision, revision uint64, found bool, err error) {
	kv, err := b.bucket(ctx, BucketDecisions)
	if err != nil {
		return dec, 0, false, fmt.Errorf("opening bucket %s: %w", BucketDecisions, err)
	}
	e, err := kv.Get(ctx, decisionKey(d, env))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return dec, 0, false, nil
	}
	if err != nil {
		return dec, 0, false, fmt.Errorf("reading decision of %s in %s: %w", d, env, err)
	}
	if err := json.Unmarshal(e.Value(), &dec); err != nil {
		return dec, 0, false, fmt.Errorf("decoding decision of %s in %s: %w", d, env, err)
	}
	return dec, e.Revision(), true, nil
}

// PutDecision records dec for d in env if the stored decision is still at revision (0: none
// stored); otherwise it fails with ErrConflict.
func (b *Bus) PutDecision(ctx context.Context, d evidence.Digest, env string, dec Decision, revision uint64) error {
	kv, err := b.bucket(ctx, BucketDecisions)
	if err != nil {
		return fmt.Errorf("opening bucket %s: %w", BucketDecisions, err)
	}
	data, err := json.Marshal(dec)
	if err != nil {
		return fmt.Errorf("encoding decision: %w", err)
	}
	key := decisionKey(d, env)
	if revision == 0 {
		_, err = kv.Create(ctx, key, data)
	} else {
		_, err = kv.Update(ctx, key, data, revision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: %s in %s", ErrConflict, d, env)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return fmt.Errorf("%w: %s in %s", ErrConflict, d, env)
	}
	if err != nil {
		return fmt.Errorf("storing decision of %s in %s: %w", d, env, err)
	}
	return nil
}
