package policy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/policies"
)

const (
	artifactDigest = evidence.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")
	otherDigest    = evidence.Digest("sha256:2222222222222222222222222222222222222222222222222222222222222222")
	repository     = "registry.example/acme/payments"
	artifact       = repository + "@" + string(artifactDigest)

	ghaIssuer         = "https://token.actions.githubusercontent.com"
	generatorWorkflow = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"
	attestWorkflow    = "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@refs/heads/main"
	releaseWorkflow   = "https://github.com/acme/checkout/.github/workflows/release.yml@refs/heads/main"
	hostedRunnerID    = "https://github.com/actions/runner/github-hosted"
	tektonBuilderID   = "https://tekton.dev/chains/v2"
	sourceRepo        = "https://github.com/acme/payments"
	sourceCommit      = "sha1:0123456789abcdef0123456789abcdef01234567"
)

// MustLoad loads the embedded default policies.
func MustLoad(tb testing.TB, opts ...policy.Option) *policy.Engine {
	tb.Helper()
	e, err := policy.Load(context.Background(), policies.FS, opts...)
	if err != nil {
		tb.Fatalf("Load(policies.FS): %v", err)
	}
	return e
}

func input(env string, ev ...evidence.Evidence) policy.Input {
	ref := evidence.ImageRef{Repository: repository, Digest: artifactDigest}
	return policy.Input{
		Artifact:    ref,
		Environment: env,
		Deployment: evidence.Deployment{
			Image:       ref,
			Environment: env,
			Org:         "acme",
			Team:        "payments",
			ObservedAt:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		Evidence: ev,
	}
}

func unsignedProvenance(id evidence.Digest) evidence.Evidence {
	return evidence.Evidence{
		ID:            id,
		Kind:          evidence.KindProvenance,
		Source:        "oci-referrers",
		PredicateType: "https://slsa.dev/provenance/v1",
		Subjects:      []evidence.Digest{artifactDigest},
		SubjectMatch:  true,
		Provenance: &evidence.Provenance{
			BuilderID:        generatorWorkflow,
			SourceRepository: sourceRepo,
			SourceDigest:     sourceCommit,
		},
	}
}

// keylessProvenance is verified provenance from builderID, signed keyless by identity from
// a GitHub-hosted runner; signerURI is the workflow that signed (build_signer_uri).
func keylessProvenance(id evidence.Digest, builderID, identity, signerURI string) evidence.Evidence {
	e := unsignedProvenance(id)
	e.Provenance.BuilderID = builderID
	e.Signed = true
	e.Verification = evidence.Verification{
		Verified:    true,
		TlogEntries: 1,
		Signer: &evidence.Signer{
			Type:              evidence.SignatureKeyless,
			Issuer:            ghaIssuer,
			Identity:          identity,
			SourceRepository:  sourceRepo,
			SourceDigest:      strings.TrimPrefix(sourceCommit, "sha1:"),
			BuildSignerURI:    signerURI,
			BuildConfigURI:    releaseWorkflow,
			RunnerEnvironment: "github-hosted",
		},
	}
	return e
}

func keyProvenance(id evidence.Digest, builderID, key string, tlogEntries int) evidence.Evidence {
	e := unsignedProvenance(id)
	e.Provenance.BuilderID = builderID
	e.Signed = true
	e.Verification = evidence.Verification{
		Verified:    true,
		TlogEntries: tlogEntries,
		Signer:      &evidence.Signer{Type: evidence.SignatureKey, Identity: key},
	}
	return e
}

func signedSBOM(id evidence.Digest) evidence.Evidence {
	return evidence.Evidence{
		ID:            id,
		Kind:          evidence.KindSBOM,
		Source:        "oci-referrers",
		PredicateType: "https://cyclonedx.org/bom",
		Subjects:      []evidence.Digest{artifactDigest},
		SubjectMatch:  true,
		Signed:        true,
		Verification: evidence.Verification{
			Verified:    true,
			TlogEntries: 1,
			Signer:      &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: ghaIssuer, Identity: releaseWorkflow},
		},
		SBOM: &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.5", Components: 42},
	}
}

func gap(code, severity, message string) evidence.Gap {
	return evidence.Gap{
		Code:     code,
		Severity: severity,
		Message:  message,
		Rule:     "aspm.gaps." + strings.ReplaceAll(code, ".", "_"),
	}
}

func TestEvaluate(t *testing.T) {
	engine := MustLoad(t)
	selfHosted := keylessProvenance("sha256:a1", generatorWorkflow, generatorWorkflow, generatorWorkflow)
	selfHosted.Verification.Signer.RunnerEnvironment = "self-hosted"

	for _, tc := range []struct {
		name string
		in   policy.Input
		want policy.Decision
	}{
		{
			name: "L0 missing",
			in:   input("dev"),
			want: policy.Decision{
				Level: 0,
				Gaps: []evidence.Gap{
					gap("level.below_required", "high", "dev requires SLSA L1; artifact is L0"),
					gap("provenance.missing", "high", "no provenance was found for "+artifact),
					gap("sbom.missing", "low", "no SBOM names "+artifact),
				},
				Risk: 16, // (25 + 25 + 3) * 0.3 = 15.9
				Explanation: []string{
					"no usable provenance names " + artifact + ": L0",
					"level L0",
					"dev requires SLSA L1: not met",
				},
			},
		},
		{
			name: "L1 unsigned",
			in:   input("dev", unsignedProvenance("sha256:a1"), signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level: 1,
				Gaps: []evidence.Gap{
					gap("provenance.unsigned", "high", "none of the 1 provenance document(s) for "+artifact+" is signed"),
				},
				Risk: 8, // 25 * 0.3 = 7.5
				Explanation: []string{
					"provenance sha256:a1 is unsigned: L1",
					"level L1",
					"dev requires SLSA L1: met",
				},
			},
		},
		{
			name: "L2 GitHub attestations on a hosted runner",
			in:   input("staging", keylessProvenance("sha256:a1", hostedRunnerID, releaseWorkflow, releaseWorkflow), signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level:              2,
				VerifiedProvenance: true,
				Gaps:               []evidence.Gap{},
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + releaseWorkflow + "); builder " + hostedRunnerID +
						" trusted as github-artifact-attestations up to L3; signed by " + releaseWorkflow +
						", not by a listed reusable workflow isolated from the build, which caps it at L2: L2",
					"level L2",
					"staging requires SLSA L2: met",
				},
			},
		},
		{
			name: "L3 GitHub attestations from a reusable workflow",
			in:   input("prod", keylessProvenance("sha256:a1", hostedRunnerID, attestWorkflow, attestWorkflow), signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level:              3,
				VerifiedProvenance: true,
				Gaps:               []evidence.Gap{},
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + attestWorkflow + "); builder " + hostedRunnerID +
						" trusted as github-artifact-attestations up to L3; signed by reusable workflow " + attestWorkflow + ": L3",
					"level L3",
					"prod requires SLSA L3 and an SBOM: met",
				},
			},
		},
		{
			name: "L3 slsa-github-generator",
			in:   input("prod", keylessProvenance("sha256:a1", generatorWorkflow, generatorWorkflow, generatorWorkflow), signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level:              3,
				VerifiedProvenance: true,
				Gaps:               []evidence.Gap{},
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + generatorWorkflow + "); builder " + generatorWorkflow +
						" trusted as slsa-github-generator up to L3: L3",
					"level L3",
					"prod requires SLSA L3 and an SBOM: met",
				},
			},
		},
		{
			name: "key-signed Tekton Chains L2",
			in:   input("staging", keyProvenance("sha256:a1", tektonBuilderID, "tekton-chains", 0), signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level:              2,
				VerifiedProvenance: true,
				Gaps: []evidence.Gap{
					gap("tlog.missing", "low", "provenance sha256:a1 (signed by key tekton-chains) verified without a transparency log entry"),
				},
				Risk: 2, // 3 * 0.6 = 1.8
				Explanation: []string{
					"provenance sha256:a1 verified (key tekton-chains); builder " + tektonBuilderID + " trusted as tekton-chains up to L2: L2",
					"level L2",
					"staging requires SLSA L2: met",
				},
			},
		},
		{
			name: "self-hosted runner",
			in:   input("staging", selfHosted, signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level:              1,
				VerifiedProvenance: true,
				Gaps: []evidence.Gap{
					gap("builder.self_hosted_runner", "medium", "provenance sha256:a1 was built by "+generatorWorkflow+
						" on a self-hosted runner; slsa-github-generator earns more than L1 only on a github-hosted runner"),
					gap("level.below_required", "high", "staging requires SLSA L2; artifact is L1"),
				},
				Risk: 21, // (10 + 25) * 0.6
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + generatorWorkflow + "); builder " + generatorWorkflow +
						" trusted as slsa-github-generator up to L3; runner is self-hosted, not github-hosted, which caps it at L1: L1",
					"level L1",
					"staging requires SLSA L2: not met",
				},
			},
		},
		{
			name: "identity mismatch",
			in:   input("dev", keylessProvenance("sha256:a1", generatorWorkflow, releaseWorkflow, releaseWorkflow), signedSBOM("sha256:5b")),
			want: policy.Decision{
				// A valid signature from a signer other than the builder's is not verified provenance.
				Level:              1,
				VerifiedProvenance: false,
				Gaps: []evidence.Gap{
					gap("signer.identity_mismatch", "critical", "provenance sha256:a1 claims builder "+generatorWorkflow+
						" but is signed by keyless identity "+releaseWorkflow+" issued by "+ghaIssuer+
						`; expected slsa-github-generator signing as keyless identity matching ^https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/[a-z0-9_]+_slsa3\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$ issued by `+ghaIssuer),
				},
				Risk: 12, // 40 * 0.3
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + releaseWorkflow + "); builder " + generatorWorkflow +
						" matches slsa-github-generator but the signer does not: L1",
					"level L1",
					"dev requires SLSA L1: met",
				},
			},
		},
		{
			name: "unknown builder",
			in:   input("dev", keylessProvenance("sha256:a1", "https://ci.example/jenkins", releaseWorkflow, releaseWorkflow), signedSBOM("sha256:5b")),
			want: policy.Decision{
				Level:              1,
				VerifiedProvenance: true,
				Gaps: []evidence.Gap{
					gap("builder.untrusted", "medium", "provenance sha256:a1 names builder https://ci.example/jenkins, which is not in trusted_builders"),
				},
				Risk: 3, // 10 * 0.3
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + releaseWorkflow + "); builder https://ci.example/jenkins is not a trusted builder: L1",
					"level L1",
					"dev requires SLSA L1: met",
				},
			},
		},
		{
			name: "prod below required and no SBOM",
			in:   input("prod", keylessProvenance("sha256:a1", hostedRunnerID, releaseWorkflow, releaseWorkflow)),
			want: policy.Decision{
				Level:              2,
				VerifiedProvenance: true,
				Gaps: []evidence.Gap{
					gap("level.below_required", "high", "prod requires SLSA L3; artifact is L2"),
					gap("sbom.missing", "medium", "no SBOM names "+artifact+"; prod requires one"),
				},
				Risk: 35,
				Explanation: []string{
					"provenance sha256:a1 verified (keyless, " + ghaIssuer + ", " + releaseWorkflow + "); builder " + hostedRunnerID +
						" trusted as github-artifact-attestations up to L3; signed by " + releaseWorkflow +
						", not by a listed reusable workflow isolated from the build, which caps it at L2: L2",
					"level L2",
					"prod requires SLSA L3 and an SBOM: not met",
				},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engine.Evaluate(context.Background(), tc.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	engine := MustLoad(t)
	in := input("prod", keylessProvenance("sha256:a1", generatorWorkflow, generatorWorkflow, generatorWorkflow))
	want, err := engine.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := engine.Evaluate(context.Background(), in)
			if err != nil {
				t.Errorf("Evaluate: %v", err)
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("concurrent Evaluate differs (-first +later):\n%s", diff)
			}
		})
	}
	wg.Wait()
}

// userPolicy is a policy set whose decision is the given Rego expression.
func userPolicy(decision string) fstest.MapFS {
	return fstest.MapFS{"user.rego": {Data: []byte("package aspm\n\ndecision := " + decision + "\n")}}
}

func TestEvaluateRejectsMalformedDecisions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		decision string
		wantErr  string
	}{
		{"undefined", `{"level": 1} if input.nothing`, "data.aspm.decision is undefined"},
		{"missing level", `{"verified_provenance": false, "gaps": [], "risk": 0, "explanation": []}`, "lacks level"},
		{"missing several", `{"level": 1}`, "lacks explanation, gaps, risk, verified_provenance"},
		{"not an object", `"L3"`, "must be an object"},
		{"level out of range", `{"level": 4, "verified_provenance": false, "gaps": [], "risk": 0, "explanation": []}`, "level 4: want 0 to 3"},
		{"fractional level", `{"level": 1.5, "verified_provenance": false, "gaps": [], "risk": 0, "explanation": []}`, "level"},
		{"risk out of range", `{"level": 1, "verified_provenance": false, "gaps": [], "risk": 101, "explanation": []}`, "risk 101"},
		{"unknown field", `{"level": 1, "verified_provenance": false, "gaps": [], "risk": 0, "explanation": [], "levle": 2}`, `unknown field "levle"`},
		{"gap without rule", `{"level": 1, "verified_provenance": false, "gaps": [{"code": "x", "severity": "low", "message": "m"}], "risk": 0, "explanation": []}`, "gaps[0]: rule is required"},
		{"gap with unknown severity", `{"level": 1, "verified_provenance": false, "gaps": [{"code": "x", "severity": "unknown", "message": "m", "rule": "r"}], "risk": 0, "explanation": []}`, `x: severity "unknown"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			engine, err := policy.Load(context.Background(), userPolicy(tc.decision))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := engine.Evaluate(context.Background(), input("prod"))
			if !errors.Is(err, policy.ErrInvalidDecision) {
				t.Fatalf("Evaluate = %+v, %v; want an error wrapping ErrInvalidDecision", got, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Evaluate error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestEvaluateDeadline(t *testing.T) {
	slow := `{"level": 0, "verified_provenance": false, "gaps": [], "explanation": [],
	"risk": count([x | some x in numbers.range(1, 100000000); x % 7 == 0]) % 1}`
	engine, err := policy.Load(context.Background(), userPolicy(slow), policy.WithTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	start := time.Now()
	_, err = engine.Evaluate(context.Background(), input("prod"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Evaluate error = %v; want one wrapping context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Evaluate returned after %s; want soon after the 20ms deadline", elapsed)
	}
}

func TestEvaluateStrictBuiltinErrors(t *testing.T) {
	engine, err := policy.Load(context.Background(), userPolicy(`{"level": to_number("three"), "verified_provenance": false, "gaps": [], "risk": 0, "explanation": []}`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := engine.Evaluate(context.Background(), input("prod")); err == nil || !strings.Contains(err.Error(), "to_number") {
		t.Fatalf("Evaluate error = %v; want the to_number builtin error", err)
	}
}

func TestLoadOptions(t *testing.T) {
	if _, err := policy.Load(context.Background(), policies.FS, policy.WithTimeout(0)); err == nil {
		t.Error("Load with WithTimeout(0) succeeded; want an error")
	}
}

func TestEvaluateWithOverridesSeeTheirOwnValues(t *testing.T) {
	// Values computed under `with` must not leak out of it, nor values from outside into it.
	engine, err := policy.Load(context.Background(), userPolicy(`{"level": 0, "verified_provenance": false, "gaps": [], "risk": 0, "explanation": [sprintf("%d %d %d %d", [n, overridden, n, twice(n)])]}

n := count(input.evidence)

overridden := x if {
	x := n with input.evidence as [1, 2, 3]
}

twice(x) := 2 * x`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, err := engine.Evaluate(context.Background(), input("dev", unsignedProvenance("sha256:a1")))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if want := []string{"1 3 1 2"}; !slices.Equal(got.Explanation, want) {
		t.Errorf("explanation %q; want %q", got.Explanation, want)
	}
}
