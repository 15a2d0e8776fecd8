package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"golang.org/x/sync/errgroup"

	"github.com/aspmhq/aspm/pkg/demo"
)

// bareVerify measures sigstore-go alone: parsing each bundle and verifying it (certificate
// chain, signature, transparency log entry, timestamp) against the trusted root, with the
// options the pipeline's verifier uses, on one goroutine per CPU. The bundles are read into
// memory first; only parsing and verifying are timed.
func bareVerify(ctx context.Context, ss *demo.Sigstore, arts []seeded) (float64, error) {
	if len(arts) == 0 {
		return 0, nil
	}
	v, err := sgverify.NewVerifier(ss.TrustedRoot(), sgverify.WithObserverTimestamps(1), sgverify.WithTransparencyLog(1))
	if err != nil {
		return 0, fmt.Errorf("configuring sigstore-go: %w", err)
	}
	raw := make([][]byte, len(arts))
	for i, a := range arts {
		if raw[i], err = os.ReadFile(a.bundlePath); err != nil {
			return 0, fmt.Errorf("reading bundle: %w", err)
		}
	}
	policy := sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithoutIdentitiesUnsafe())
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(raw) || ctx.Err() != nil {
					return ctx.Err()
				}
				var b bundle.Bundle
				if err := b.UnmarshalJSON(raw[i]); err != nil {
					return fmt.Errorf("parsing bundle %d: %w", i, err)
				}
				if _, err := v.Verify(&b, policy); err != nil {
					return fmt.Errorf("verifying bundle %d: %w", i, err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(len(raw)) / time.Since(start).Seconds(), nil
}
