package policy_test

import (
	"context"
	"fmt"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/policies"
)

func ExampleEngine_Evaluate() {
	ctx := context.Background()
	// Compile the default policies once; evaluate them for every artifact.
	engine, err := policy.Load(ctx, policies.FS)
	if err != nil {
		fmt.Println(err)
		return
	}
	image := evidence.ImageRef{
		Repository: "registry.example/acme/payments",
		Digest:     "sha256:1111111111111111111111111111111111111111111111111111111111111111",
	}
	decision, err := engine.Evaluate(ctx, policy.Input{
		Artifact:    image,
		Environment: "prod",
		Deployment:  evidence.Deployment{Image: image, Environment: "prod", Org: "acme"},
		Evidence: []evidence.Evidence{{
			ID:           "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			Kind:         evidence.KindProvenance,
			Source:       "oci-referrers",
			Subjects:     []evidence.Digest{image.Digest},
			SubjectMatch: true,
			Signed:       true,
			Verification: evidence.Verification{
				Verified:    true,
				TlogEntries: 1,
				Signer: &evidence.Signer{
					Type:              evidence.SignatureKey,
					Identity:          "tekton-chains",
					RunnerEnvironment: "",
				},
			},
			Provenance: &evidence.Provenance{
				BuilderID:        "https://tekton.dev/chains/v2",
				SourceRepository: "https://github.com/acme/payments",
				SourceDigest:     "sha1:0123456789abcdef0123456789abcdef01234567",
			},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("level:", decision.Level, "risk:", decision.Risk)
	for _, g := range decision.Gaps {
		fmt.Printf("%s (%s): %s\n", g.Code, g.Severity, g.Message)
	}
	// Output:
	// level: L2 risk: 35
	// level.below_required (high): prod requires SLSA L3; artifact is L2
	// sbom.missing (medium): no SBOM names registry.example/acme/payments@sha256:1111111111111111111111111111111111111111111111111111111111111111; prod requires one
}
