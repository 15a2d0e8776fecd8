package ingest

import (
	"context"
	"fmt"
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
	set, err := s.evidenceFor(ctx, img, org, reuse)
	if err != nil {
		return err
	}
	return s.announce(ctx, trigger, set)
}

// evidenceFor returns img's evidence as org trusts it: reusing a recent enough collection
// when reuse allows, and otherwise collecting once however many messages ask at the same time.
func (s *Service) evidenceFor(ctx context.Context, img evidence.ImageRef, org string, reuse bool) (evidence.ArtifactEvidence, error) {
	if reuse {
		set, found, err := s.bus.Evidence(ctx, img.Digest)
		if err != nil {
			return set, err
		}
		if found && set.Image == img && time.Since(set.CollectedAt) < s.cfg.Fresh {
			s.metrics.reused.Inc()
			return set, nil
		}
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
		if err := s.bus.PutEvidence(ctx, set); err != nil {
			return nil, err
		}
		s.metrics.stages.WithLabelValues(StagePublish).Observe((docs + time.Since(start)).Seconds())
		return set, nil
	})
	if err != nil {
		return evidence.ArtifactEvidence{}, err
	}
	if shared {
		s.metrics.reused.Inc()
	}
	return v.(evidence.ArtifactEvidence), nil
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
