package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
)

// realisticInput is what the scorer typically decides on: an image deployed to prod with
// the documents ingest collects for it — verified keyless SLSA provenance from
// slsa-github-generator with the full certificate claims and what the predicate says, a
// signed CycloneDX SBOM, a cosign signature over the image, and a second provenance whose
// signature did not verify.
func realisticInput() policy.Input {
	started := time.Date(2025, 2, 25, 21, 10, 2, 0, time.UTC)
	finished := started.Add(2 * time.Minute)
	signedAt := finished.Add(3 * time.Second)
	prov := keylessProvenance("sha256:b29c808a145081d6f852cfc9544cbe28cefb4c68e6e3c78dcbef48a98a564233",
		generatorWorkflow, generatorWorkflow, generatorWorkflow)
	prov.MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	prov.PredicateType = "https://slsa.dev/provenance/v0.2"
	prov.Verification.SignedAt = signedAt
	prov.Verification.Signer.SourceRef = "refs/tags/v1.4.2"
	prov.Verification.Signer.BuildConfigURI = sourceRepo + "/.github/workflows/release.yml@refs/tags/v1.4.2"
	prov.Provenance = &evidence.Provenance{
		BuildType:        "https://github.com/slsa-framework/slsa-github-generator/container@v1",
		BuilderID:        generatorWorkflow,
		SourceRepository: sourceRepo,
		SourceRef:        "refs/tags/v1.4.2",
		SourceDigest:     sourceCommit,
		PredicateVersion: "v0.2",
		Workflow:         ".github/workflows/release.yml",
		EventName:        "push",
		InvocationID:     "https://github.com/acme/payments/actions/runs/13530999948/attempts/1",
		StartedOn:        &started,
		FinishedOn:       &finished,
		ResolvedDependencies: []evidence.Dependency{
			{URI: "git+" + sourceRepo + "@refs/tags/v1.4.2", Digest: map[string]string{"sha1": "0123456789abcdef0123456789abcdef01234567"}},
		},
	}

	invalid := keylessProvenance("sha256:c0ffee0000000000000000000000000000000000000000000000000000000000",
		generatorWorkflow, generatorWorkflow, generatorWorkflow)
	invalid.Verification = evidence.Verification{
		Error: "verifying tlog entry: inclusion proof: root hash mismatch",
	}

	sbom := signedSBOM("sha256:5bb0000000000000000000000000000000000000000000000000000000000000")
	sbom.MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	sbom.Verification.SignedAt = signedAt
	sbom.Verification.Signer = prov.Verification.Signer
	sbom.SBOM.Ref = "sha256:5bb1000000000000000000000000000000000000000000000000000000000000"

	sig := evidence.Evidence{
		ID:           "sha256:5160000000000000000000000000000000000000000000000000000000000000",
		Kind:         evidence.KindSignature,
		MediaType:    "application/vnd.dev.sigstore.bundle.v0.3+json",
		Source:       "oci-referrers",
		Subjects:     []evidence.Digest{artifactDigest},
		SubjectMatch: true,
		Signed:       true,
		Verification: evidence.Verification{Verified: true, TlogEntries: 1, SignedAt: signedAt, Signer: prov.Verification.Signer},
	}
	in := input("prod", prov, sbom, sig, invalid)
	in.Deployment.Cluster = "eu-1"
	in.Deployment.Namespace = "payments"
	in.Deployment.Workload = "deployment/payments-api"
	return in
}

// goldenInput reads policies/testdata/<name>.input.json.
func goldenInput(tb testing.TB, name string) policy.Input {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(policiesDir, "testdata", name+".input.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var in policy.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		tb.Fatal(err)
	}
	return in
}

// benchInputs are the inputs the benchmarks decide on: the realistic one, and the golden
// input with the most documents and gaps (identity mismatch, an invalid signature, a
// subject mismatch and a malformed SBOM).
func benchInputs(tb testing.TB) []struct {
	name string
	in   policy.Input
} {
	return []struct {
		name string
		in   policy.Input
	}{
		{"realistic", realisticInput()},
		{"identity-mismatch", goldenInput(tb, "l1-identity-mismatch-prod")},
	}
}

// BenchmarkEvaluate measures one decision on each input, one at a time, evaluating the policy
// every time (the decision cache is off). The requirement is at least 5,000 decisions per
// second per core, i.e. at most 200µs/op with -cpu 1.
func BenchmarkEvaluate(b *testing.B) {
	engine := MustLoad(b, policy.WithDecisionCache(0))
	ctx := context.Background()
	for _, bi := range benchInputs(b) {
		b.Run(bi.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := engine.Evaluate(ctx, bi.in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}

// BenchmarkEvaluateParallel measures decisions on each input from GOMAXPROCS goroutines
// sharing one Engine, as the scorer's workers do, evaluating the policy every time; evals/s
// is the throughput across cores.
func BenchmarkEvaluateParallel(b *testing.B) {
	engine := MustLoad(b, policy.WithDecisionCache(0))
	ctx := context.Background()
	for _, bi := range benchInputs(b) {
		b.Run(bi.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := engine.Evaluate(ctx, bi.in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}

// BenchmarkEvaluateRescore measures the scorer's steady state: re-scoring evidence it has
// decided on before (scheduled rescans finding the same documents, redeliveries), which the
// decision cache answers; the working set is 1,000 distinct artifacts.
func BenchmarkEvaluateRescore(b *testing.B) {
	engine := MustLoad(b)
	ctx := context.Background()
	base := realisticInput()
	ins := make([]policy.Input, 1000)
	for i := range ins {
		in := base
		in.Artifact.Digest = evidence.Digest(fmt.Sprintf("sha256:%064x", i))
		in.Deployment.Image = in.Artifact
		ins[i] = in
		if _, err := engine.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := engine.Evaluate(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}
