package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

// MaxEventSize is the largest message this package publishes as is; larger evidence sets are
// kept in the object store and the message carries the reference (claim-check), so NATS's
// 1 MiB default payload limit is never hit whatever the evidence.
const MaxEventSize = 768 << 10

// MaxDocumentSize bounds a document read back from the object store.
const MaxDocumentSize = 256 << 20

func (b *Bus) objects(ctx context.Context) (jetstream.ObjectStore, error) {
	os, err := b.objectStore(ctx, ObjectStoreSBOMs)
	if err != nil {
		return nil, fmt.Errorf("opening object store %s: %w", ObjectStoreSBOMs, err)
	}
	return os, nil
}

// PutDocument stores data under name (a digest, for content-addressed documents) unless a
// document of that name is already stored.
func (b *Bus) PutDocument(ctx context.Context, name evidence.Digest, data []byte) error {
	return b.putObject(ctx, string(name), data)
}

func (b *Bus) putObject(ctx context.Context, name string, data []byte) error {
	os, err := b.objects(ctx)
	if err != nil {
		return err
	}
	if _, err := os.GetInfo(ctx, name); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("looking up document %s: %w", name, err)
	}
	if _, err := os.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("storing document %s: %w", name, err)
	}
	return nil
}

// GetDocument reads the document stored under name.
func (b *Bus) GetDocument(ctx context.Context, name string) ([]byte, error) {
	os, err := b.objects(ctx)
	if err != nil {
		return nil, err
	}
	r, err := os.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading document %s: %w", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading document %s: %w", name, err)
	}
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("document %s exceeds %d bytes", name, MaxDocumentSize)
	}
	return data, nil
}

// PublishEvidence publishes m; when it would exceed MaxEventSize, the evidence set goes to the
// object store and the message carries its reference.
func (b *Bus) PublishEvidence(ctx context.Context, m event.EvidenceCollected) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding evidence message: %w", err)
	}
	if len(data) > MaxEventSize {
		full, err := json.Marshal(m.Artifact)
		if err != nil {
			return fmt.Errorf("encoding evidence: %w", err)
		}
		ref := "evidence/" + m.ID
		if err := b.putObject(ctx, ref, full); err != nil {
			return err
		}
		m.ArtifactRef = ref
		m.Artifact = evidence.ArtifactEvidence{Image: m.Artifact.Image, CollectedAt: m.Artifact.CollectedAt}
	}
	return b.Publish(ctx, event.SubjectEvidenceCollected, m)
}

// LoadEvidence fills m.Artifact from the object store when the message carries a reference.
func (b *Bus) LoadEvidence(ctx context.Context, m *event.EvidenceCollected) error {
	if m.ArtifactRef == "" {
		return nil
	}
	data, err := b.GetDocument(ctx, m.ArtifactRef)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("%w: the evidence document %s is gone", ErrPoison, m.ArtifactRef)
	}
	if err != nil {
		return err
	}
	var a evidence.ArtifactEvidence
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("%w: evidence document %s: %w", event.ErrMalformed, m.ArtifactRef, err)
	}
	if a.Image != m.Artifact.Image {
		return fmt.Errorf("%w: evidence document %s is about %s, the message about %s", event.ErrMalformed, m.ArtifactRef, a.Image, m.Artifact.Image)
	}
	m.Artifact = a
	return nil
}
