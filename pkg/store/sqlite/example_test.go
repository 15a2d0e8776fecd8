package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

func ExampleOpen() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, ":memory:") // or a file path, e.g. data/aspm.db
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	img := evidence.ImageRef{
		Repository: "registry.example.com/shop/api",
		Digest:     evidence.Digest("sha256:" + strings.Repeat("0f", 32)),
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := store.Evaluation{
		Evidence:    evidence.ArtifactEvidence{Image: img, CollectedAt: at},
		Deployments: []evidence.Deployment{{Image: img, Environment: "prod", Org: "acme", Team: "shop", ObservedAt: at}},
		Scores: []evidence.Score{{
			Image: img, Environment: "prod", Org: "acme", Team: "shop",
			Level: 3, VerifiedProvenance: true, EvaluationID: "eval-1", EvaluatedAt: at,
		}},
	}
	// Writing the same evaluation again changes nothing.
	for range 2 {
		if err := s.WriteEvaluation(ctx, ev); err != nil {
			log.Fatal(err)
		}
	}
	cov, err := s.Coverage(ctx, store.CoverageQuery{Org: "acme"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cov.Total, cov.ByLevel, cov.VerifiedProvenance)
	// Output: 1 map[L0:0 L1:0 L2:0 L3:1] 1
}

// ExampleStore_ListArtifacts pages through the artifacts running in prod, two at a time.
func ExampleStore_ListArtifacts() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, name := range []string{"api", "web", "worker"} {
		img := evidence.ImageRef{
			Repository: "registry.example.com/shop/" + name,
			Digest:     evidence.Digest("sha256:" + strings.Repeat(fmt.Sprintf("%02x", i), 32)),
		}
		dep := evidence.Deployment{Image: img, Environment: "prod", Org: "acme", Team: "shop", ObservedAt: at}
		ev := store.Evaluation{Evidence: evidence.ArtifactEvidence{Image: img, CollectedAt: at}, Deployments: []evidence.Deployment{dep}}
		if err := s.WriteEvaluation(ctx, ev); err != nil {
			log.Fatal(err)
		}
	}
	q := store.ArtifactQuery{Environment: "prod", Limit: 2}
	for page := 1; ; page++ {
		items, next, err := s.ListArtifacts(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, a := range items {
			// Not scored yet: L0 without gaps.
			fmt.Println(page, a.Image.Repository, a.SLSALevel, a.Gaps, a.Environments)
		}
		if next == "" {
			break
		}
		q.After = next
	}
	// Output:
	// 1 registry.example.com/shop/api L0 [] [prod]
	// 1 registry.example.com/shop/web L0 [] [prod]
	// 2 registry.example.com/shop/worker L0 [] [prod]
}
