package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

func outcome(err error, dead bool) string {
	switch {
	case dead:
		return "dead"
	case err != nil:
		return "retry"
	}
	return "ok"
}

// handle turns a deployment observation or a rescan request into one evidence event.
func (s *Service) handle(ctx context.Context, msg jetstream.Msg) error {
	var (
		img     evidence.ImageRef
		trigger string
		org     string
		reuse   bool // stored evidence may be reused instead of asking the registry
	)
	switch msg.Subject() {
	case event.SubjectDeployObserved:
		var m event.DeployObserved
		if err := event.Decode(msg.Data(), event.SchemaDeployObserved, &m); err != nil {
			return err
		}
		if err := s.bus.PutDeployment(ctx, m.Deployment); err != nil {
			return err
		}
		img, trigger, org, reuse = m.Deployment.Image, m.ID, m.Deployment.Org, true
		if m.Deployment.Ended() {
			// Nothing new to collect: re-announce what is known so the scorer records the end.
			set, found, err := s.bus.Evidence(ctx, img.Digest)
			if err != nil {
				return err
			}
			if found {
				return s.announce(ctx, trigger, set)
			}
		}
	case event.SubjectScanRequested:
		var m event.ScanRequested
		if err := event.Decode(msg.Data(), event.SchemaScanRequested, &m); err != nil {
			return err
		}
		img, trigger = m.Image, m.ID
		o, err := s.orgOf(ctx, img.Digest)
		if err != nil {
			return err
		}
		org = o
	default:
		return fmt.Errorf("%w: unexpected subject %s", bus.ErrPoison, msg.Subject())
	}
	set, changed, err := s.evidenceFor(ctx, img, org, reuse)
	if err != nil {
		return err
	}
	if !reuse {
		// A rescan that finds the documents collected last time has nothing new to score.
		result := "changed"
		if !changed {
			result = "unchanged"
		}
		s.metrics.rescans.WithLabelValues(result).Inc()
		if !changed {
			bus.MessageLogger(ctx, s.log).Debug("evidence unchanged", "image", img.String(), "documents", len(set.Evidence))
			return nil
		}
	}
	return s.announce(ctx, trigger, set)
}

// evidenceFor returns img's evidence as org trusts it: reusing a recent enough collection
// when reuse allows, and otherwise collecting once however many messages ask at the same time.
// changed is false when a collection found what the stored one holds (its time aside).
func (s *Service) evidenceFor(ctx context.Context, img evidence.ImageRef, org string, reuse bool) (set evidence.ArtifactEvidence, changed bool, err error) {
	// What is stored: reused when recent enough for a deployment, compared with what a new
	// collection finds otherwise.
	prev, found, err := s.bus.Evidence(ctx, img.Digest)
	if err != nil {
		return prev, false, err
	}
	if reuse && found && prev.Image == img && time.Since(prev.CollectedAt) < s.cfg.Fresh {
		s.metrics.reused.Inc()
		return prev, true, nil
	}
	type result struct {
		set     evidence.ArtifactEvidence
		changed bool
	}
	v, err, shared := s.inflight.Do(img.String()+"\x00"+org, func() (any, error) {
		start := time.Now()
		set, docs, err := s.collect(ctx, img, s.trust.Options(org))
		if err != nil {
			return nil, err
		}
		s.metrics.duration.Observe(time.Since(start).Seconds())
		for _, e := range set.Evidence {
			s.metrics.collected.WithLabelValues(string(e.Kind), fmt.Sprint(e.Verification.Verified)).Inc()
		}
		start = time.Now()
		// Stored even when unchanged: its collection time says when it was last checked.
		if err := s.bus.PutEvidence(ctx, set); err != nil {
			return nil, err
		}
		s.metrics.stages.WithLabelValues(StagePublish).Observe((docs + time.Since(start)).Seconds())
		return result{set, !found || !sameEvidence(prev, set)}, nil
	})
	if err != nil {
		return evidence.ArtifactEvidence{}, false, err
	}
	if shared {
		s.metrics.reused.Inc()
	}
	r := v.(result)
	return r.set, r.changed, nil
}

// sameEvidence reports whether a and b hold the same documents and problems for the same
// image, in any order, whenever each was collected.
func sameEvidence(a, b evidence.ArtifactEvidence) bool {
	if a.Image != b.Image || !slices.Equal(a.Errors, b.Errors) || len(a.Evidence) != len(b.Evidence) {
		return false
	}
	docs := func(set evidence.ArtifactEvidence) []string {
		out := make([]string, 0, len(set.Evidence))
		for _, e := range set.Evidence {
			j, err := json.Marshal(e)
			if err != nil {
				return nil
			}
			out = append(out, string(j))
		}
		slices.Sort(out)
		return out
	}
	da, db := docs(a), docs(b)
	return da != nil && db != nil && slices.Equal(da, db)
}

// announce publishes the evidence set as caused by trigger.
func (s *Service) announce(ctx context.Context, trigger string, set evidence.ArtifactEvidence) error {
	out := event.NewEvidenceCollected(trigger, set)
	start := time.Now()
	if err := s.bus.PublishEvidence(ctx, out); err != nil {
		return err
	}
	s.metrics.stages.WithLabelValues(StagePublish).Observe(time.Since(start).Seconds())
	// The message being handled gives msg_id and stream_seq; evidence_id is the event published.
	bus.MessageLogger(ctx, s.log).Info("evidence collected", "image", set.Image.String(), "documents", len(set.Evidence),
		"verified_provenance", set.HasVerifiedProvenance(), "errors", strings.Join(set.Errors, "; "), "evidence_id", out.ID)
	return nil
}

// orgOf returns the org of a running deployment of d (for its trust settings), or "".
func (s *Service) orgOf(ctx context.Context, d evidence.Digest) (string, error) {
	deps, err := s.bus.Deployments(ctx, d)
	if err != nil {
		return "", err
	}
	for _, dep := range deps {
		if !dep.Ended() {
			return dep.Org, nil
		}
	}
	return "", nil
}
