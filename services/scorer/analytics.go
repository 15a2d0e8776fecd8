package scorer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/store"
)

// What the scorer keeps for analytics besides scores: the components of SBOM documents (for
// "where does component X run?"), gap events (for the gap feed and gap age) and daily coverage
// roll-ups (for the trend).

// docSet remembers, within bounds, the SBOM documents whose components were written, so that
// rescans of unchanged evidence do not fetch and parse them again. Forgetting is harmless: the
// store keeps a document's components once whatever is written again.
type docSet struct {
	mu   sync.Mutex
	seen map[evidence.Digest]bool
}

const maxRememberedDocs = 100_000

func (d *docSet) has(id evidence.Digest) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[id]
}

func (d *docSet) add(ids []evidence.Digest) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil || len(d.seen)+len(ids) > maxRememberedDocs {
		d.seen = make(map[evidence.Digest]bool, len(ids))
	}
	for _, id := range ids {
		d.seen[id] = true
	}
}

// components reads the SBOM documents of a from the object store and returns their components,
// with the IDs of the documents they came from. A document that is malformed, was never kept,
// or has expired from the object store is skipped and logged — its summary still counts — while
// an error reading an existing one is returned, so the message is retried.
func (s *Service) components(ctx context.Context, a evidence.ArtifactEvidence) ([]store.Component, []evidence.Digest, error) {
	var out []store.Component
	var docs []evidence.Digest
	for _, e := range a.Evidence {
		if e.Kind != evidence.KindSBOM || e.SBOM == nil || e.SBOM.Ref == "" || e.Malformed != "" || s.docs.has(e.ID) {
			continue
		}
		raw, err := s.bus.GetDocument(ctx, e.SBOM.Ref)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			bus.MessageLogger(ctx, s.log).Warn("SBOM document not in the object store; its components are not indexed",
				"image", a.Image.String(), "document", e.ID, "ref", e.SBOM.Ref)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading SBOM %s of %s: %w", e.SBOM.Ref, a.Image, err)
		}
		doc, err := sbom.Parse(raw)
		if err != nil {
			bus.MessageLogger(ctx, s.log).Warn("SBOM document does not parse; its components are not indexed",
				"image", a.Image.String(), "document", e.ID, "err", err)
			continue
		}
		docs = append(docs, e.ID)
		for _, c := range doc.Components {
			if c.Name == "" && c.PURL == "" {
				continue
			}
			out = append(out, store.Component{SBOM: e.ID, Name: c.Name, Version: c.Version, PURL: c.PURL, Type: c.Type,
				Licenses: c.Licenses})
		}
	}
	return store.UniqueComponents(out), docs, nil
}

// gapEvents returns the store's record of the gaps sc opened and closed.
func gapEvents(sc evidence.Score, opened, closed []evidence.Gap) []store.GapEvent {
	out := make([]store.GapEvent, 0, len(opened)+len(closed))
	add := func(g evidence.Gap, state string) {
		out = append(out, store.GapEvent{
			Fingerprint: event.GapFingerprint(sc.Image.Digest, sc.Environment, g.Code), Image: sc.Image,
			Environment: sc.Environment, Org: sc.Org, Team: sc.Team, Gap: g, State: state, At: sc.EvaluatedAt,
			EvaluationID: sc.EvaluationID,
		})
	}
	for _, g := range opened {
		add(g, store.GapOpened)
	}
	for _, g := range closed {
		add(g, store.GapClosed)
	}
	return out
}

// rollup keeps today's coverage roll-up current: every RollupInterval when evaluations were
// written since the last roll-up, and at least every 15 minutes (so a new day gets its row).
func (s *Service) rollup(ctx context.Context) error {
	t := time.NewTicker(s.cfg.RollupInterval)
	defer t.Stop()
	var last time.Time
	for {
		if s.dirty.Swap(false) || time.Since(last) > 15*time.Minute {
			now := time.Now().UTC()
			if err := s.store.RollupCoverage(ctx, now); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.dirty.Store(true) // try again next tick
				s.log.Warn("coverage roll-up failed; retrying", "err", err)
			} else {
				last = now
				s.metrics.rollups.Inc()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
