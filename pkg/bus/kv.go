package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/evidence"
)

func digestKey(d evidence.Digest) string { return d.Algorithm() + "_" + d.Hex() }

// PutEvidence stores a as the latest evidence set of its artifact.
func (b *Bus) PutEvidence(ctx context.Context, a evidence.ArtifactEvidence) error {
	kv, err := b.bucket(ctx, BucketEvidence)
	if err != nil {
		return fmt.Errorf("opening bucket %s: %w", BucketEvidence, err)
	}
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding evidence: %w", err)
	}
	if _, err := kv.Put(ctx, digestKey(a.Image.Digest), data); err != nil {
		return fmt.Errorf("storing evidence of %s: %w", a.Image.Digest, err)
	}
	return nil
}

// PutDeployment records d under its artifact's digest; a later observation of the same
// deployment key replaces the earlier one.
func (b *Bus) PutDeployment(ctx context.Context, d evidence.Deployment) error {
	kv, err := b.bucket(ctx, BucketDeploy)
	if err != nil {
		return fmt.Errorf("opening bucket %s: %w", BucketDeploy, err)
	}
	key := digestKey(d.Image.Digest) + "." + d.Key()
	if e, err := kv.Get(ctx, key); err == nil {
		var prev evidence.Deployment
		if json.Unmarshal(e.Value(), &prev) == nil && prev.ObservedAt.After(d.ObservedAt) {
			return nil // a newer observation is already recorded
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("reading deployment %s: %w", key, err)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding deployment: %w", err)
	}
	if _, err := kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("storing deployment %s: %w", key, err)
	}
	return nil
}

// Deployments returns every recorded deployment of the artifact with digest d.
func (b *Bus) Deployments(ctx context.Context, d evidence.Digest) ([]evidence.Deployment, error) {
	kv, err := b.bucket(ctx, BucketDeploy)
	if err != nil {
		return nil, fmt.Errorf("opening bucket %s: %w", BucketDeploy, err)
	}
	prefix := digestKey(d) + "."
	keys, err := kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("listing deployments of %s: %w", d, err)
	}
	defer keys.Stop()
	var out []evidence.Deployment
	for key := range keys.Keys() {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading deployment %s: %w", key, err)
		}
		var dep evidence.Deployment
		if err := json.Unmarshal(e.Value(), &dep); err != nil {
			return nil, fmt.Errorf("decoding deployment %s: %w", key, err)
		}
		out = append(out, dep)
	}
	return out, nil
}

// Evidence returns the latest evidence set stored for the artifact with digest d; found is
// false when none is.
func (b *Bus) Evidence(ctx context.Context, d evidence.Digest) (a evidence.ArtifactEvidence, found bool, err error) {
	kv, err := b.bucket(ctx, BucketEvidence)
	if err != nil {
		return a, false, fmt.Errorf("opening bucket %s: %w", BucketEvidence, err)
	}
	e, err := kv.Get(ctx, digestKey(d))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("reading evidence of %s: %w", d, err)
	}
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return a, false, fmt.Errorf("decoding evidence of %s: %w", d, err)
	}
	return a, true, nil
}

// EachEvidence calls fn with every stored evidence set, stopping at the first error.
func (b *Bus) EachEvidence(ctx context.Context, fn func(evidence.ArtifactEvidence) error) error {
	kv, err := b.bucket(ctx, BucketEvidence)
	if err != nil {
		return fmt.Errorf("opening bucket %s: %w", BucketEvidence, err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing evidence: %w", err)
	}
	defer keys.Stop()
	for key := range keys.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading evidence %s: %w", key, err)
		}
		var a evidence.ArtifactEvidence
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return fmt.Errorf("decoding evidence %s: %w", key, err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}
