package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// realCase is real provenance from the shared corpus (see its SOURCES.md), scored for the
// artifact its subject names.
type realCase struct {
	name string
	// file is the document's path in the corpus.
	file string
	// repository and digest name the artifact; digest is the provenance's subject, so that
	// subject_match comes from the collector's own check.
	repository string
	digest     evidence.Digest
	env        string

	level    evidence.Level
	verified bool
	// codes are the gap codes the decision must have (it may have others).
	codes []string
}

var realCases = []realCase{
	{
		name:       "slsa-github-generator-generic-v2.1.0",
		file:       "slsa-verifier/gha_generic/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		repository: "ghcr.io/slsa-framework/example-package",
		digest:     "sha256:376e7e01348585b6e6643bc6663146b9d525d9b41228bf180eaeb4d4a3706caa",
		env:        "staging",
		level:      3, verified: true,
	},
	{
		name:       "slsa-github-generator-go-v2.1.0",
		file:       "slsa-verifier/gha_go/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		repository: "ghcr.io/slsa-framework/example-package",
		digest:     "sha256:f6ab7ad0c7549b5a4942c3b0690519d791c28c4c0f8b286208cb40da3322a066",
		env:        "staging",
		level:      3, verified: true,
	},
	{
		// SLSA v1 provenance npm made for sigstore@2.0.0 on a GitHub-hosted runner, signed by
		// the calling workflow itself: L2.
		name:       "npm-sigstore-js-2.0.0-slsa-v1",
		file:       "sigstore/sigstore-go/sigstore.js@2.0.0-provenance.sigstore.json",
		repository: "registry.npmjs.org/sigstore",
		digest:     "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c",
		env:        "staging",
		level:      2, verified: true,
	},
	{
		// SLSA v0.2 provenance npm made for sigstore@1.3.0 (builder id github.com/actions/runner).
		name:       "npm-sigstore-js-1.3.0-slsa-v0.2",
		file:       "sigstore/sigstore-go/bundle-provenance.json",
		repository: "registry.npmjs.org/sigstore",
		digest:     "sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751",
		env:        "staging",
		level:      2, verified: true,
	},
	{
		name:       "bcr-publish-to-bcr",
		file:       "slsa-verifier/bcr/MODULE.bazel.intoto.jsonl",
		repository: "bcr.bazel.build/modules/rules_lint",
		digest:     "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b",
		env:        "staging",
		level:      3, verified: true,
	},
	{
		// Claims publish-to-bcr, signed by another workflow: the signature verifies, the
		// provenance does not.
		name:       "bcr-wrong-signer",
		file:       "slsa-verifier/bcr/MODULE-wrong-signer.bazel.intoto.jsonl",
		repository: "bcr.bazel.build/modules/rules_lint",
		digest:     "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b",
		env:        "dev",
		level:      1, verified: false,
		codes: []string{"signer.identity_mismatch"},
	},
	{
		// A BYOB builder (example-trw) behind slsa-github-generator's delegator: not listed.
		name:       "unknown-builder-byob-delegator",
		file:       "slsa-verifier/gha_delegator/v2.1.0/binary-linux-amd64-push-v13.0.30.build.slsa",
		repository: "ghcr.io/slsa-framework/example-package",
		digest:     "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
		env:        "dev",
		level:      1, verified: true,
		codes: []string{"builder.untrusted"},
	},
	{
		// slsa-github-generator run from its main branch, not a tagged release: not listed.
		name:       "unknown-builder-generator-branch",
		file:       "slsa-verifier/bundle/valid-v0.3.intoto.sigstore",
		repository: "ghcr.io/slsa-framework/example-package",
		digest:     "sha256:2892146b063a94cb4a4318c0e98d38af12dcf2b1e29237486b58463b59607bbd",
		env:        "dev",
		level:      1, verified: true,
		codes: []string{"builder.untrusted"},
	},
	{
		// SLSA v1 provenance from Cloud Build, signed with the google-hosted-worker key and
		// recorded in no transparency log.
		name:       "google-cloud-build-v1.0",
		file:       "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-single.json",
		repository: "us-central1-docker.pkg.dev/argo-local-khalk/khalk-docker-ar/prod-prov-image",
		digest:     "sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3",
		env:        "staging",
		level:      3, verified: true,
		codes: []string{"tlog.missing"},
	},
}

// realCollector verifies against the Sigstore public-good root and Cloud Build's
// google-hosted-worker key, named as policies/data/trusted_builders.json names it.
func realCollector(t *testing.T) *collect.Collector {
	t.Helper()
	pg, err := verify.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	roots := []verify.NamedRoot{{Name: verify.PublicGoodName, Material: pg}}
	key, err := verify.LoadTrustedKey("gcb-google-hosted-worker", testcorpus.Path(t, "slsa-verifier/gcb/keys/global-pae-google-hosted-worker_1.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys := []verify.TrustedKey{key}
	v, err := verify.New(roots, keys)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := oci.New(oci.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return collect.New(reg, v, collect.EnvelopeTrust{Keys: keys, Roots: roots})
}

// TestRealProvenance scores real provenance with the default policies and compares each
// decision with policies/testdata/real/<case>.decision.json; -update rewrites them.
func TestRealProvenance(t *testing.T) {
	engine := MustLoad(t)
	collector := realCollector(t)
	ctx := context.Background()
	for _, tc := range realCases {
		t.Run(tc.name, func(t *testing.T) {
			img := evidence.ImageRef{Repository: tc.repository, Digest: tc.digest}
			evs := collector.FromDocument(ctx, testcorpus.Read(t, tc.file), img, verify.Options{})
			if len(evs) != 1 || evs[0].Kind != evidence.KindProvenance || !evs[0].SubjectMatch || !evs[0].Verification.Verified {
				t.Fatalf("FromDocument(%s) = %+v; want one verified provenance document naming %s", tc.file, evs, tc.digest)
			}
			got, err := engine.Evaluate(ctx, policy.Input{
				Artifact:    img,
				Environment: tc.env,
				Deployment:  evidence.Deployment{Image: img, Environment: tc.env, Org: "acme"},
				Evidence:    evs,
			})
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got.Level != tc.level || got.VerifiedProvenance != tc.verified {
				t.Errorf("level %s, verified provenance %t; want %s, %t\nexplanation: %q", got.Level, got.VerifiedProvenance, tc.level, tc.verified, got.Explanation)
			}
			var codes []string
			for _, g := range got.Gaps {
				codes = append(codes, g.Code)
			}
			for _, code := range tc.codes {
				if !slices.Contains(codes, code) {
					t.Errorf("gaps %v lack %s", codes, code)
				}
			}
			mustMatchGolden(t, filepath.Join(policiesDir, "testdata", "real", tc.name+".decision.json"), got)
		})
	}
}

// mustMatchGolden compares d, as indented JSON, with the file at path, or writes it there
// with -update.
func mustMatchGolden(t *testing.T, path string, d policy.Decision) {
	t.Helper()
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("decision differs from %s (-want +got):\n%s", path, diff)
	}
}
