package ingest

import (
	"context"
	"time"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

// every runs fn now and then every interval until ctx is done; fn's errors are logged by fn
// and do not stop the loop.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// window is the start of the current interval; replicas that schedule the same work in the
// same window publish identical message IDs, which JetStream de-duplicates.
func window(now time.Time, interval time.Duration) time.Time {
	return now.UTC().Truncate(interval)
}

// rescanStale asks for a rescan of every deployed artifact whose evidence is older than the
// rescan interval: attestations and SBOMs are often attached after deployment.
func (s *Service) rescanStale(ctx context.Context) {
	now := time.Now()
	at := window(now, s.cfg.RescanInterval)
	var n int
	err := s.bus.EachEvidence(ctx, func(a evidence.ArtifactEvidence) error {
		if now.Sub(a.CollectedAt) < s.cfg.RescanInterval {
			return nil
		}
		deps, err := s.bus.Deployments(ctx, a.Image.Digest)
		if err != nil {
			return err
		}
		running := false
		for _, d := range deps {
			running = running || !d.Ended()
		}
		if !running {
			return nil
		}
		n++
		return s.bus.Publish(ctx, event.SubjectScanRequested, event.NewScanRequested(a.Image, at))
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("scheduling rescans", "err", err)
	}
	if n > 0 {
		s.log.Info("rescans requested", "artifacts", n)
	}
}

// crawl lists the configured registries and asks for evidence of every artifact found.
func (s *Service) crawl(ctx context.Context) {
	at := window(time.Now(), s.cfg.CrawlInterval)
	for _, target := range s.cfg.Crawl {
		found, problems, err := s.reg.Expand(ctx, target, nil, nil, nil)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("crawling", "target", target, "err", err)
			}
			continue
		}
		for _, p := range problems {
			s.log.Warn("crawling", "target", target, "problem", p)
		}
		for _, f := range found {
			if err := s.bus.Publish(ctx, event.SubjectScanRequested, event.NewScanRequested(f.Image, at)); err != nil {
				s.log.Warn("requesting scan", "image", f.Image.String(), "err", err)
			}
		}
		s.log.Info("crawled", "target", target, "artifacts", len(found))
	}
}
