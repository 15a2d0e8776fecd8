package provenance_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// Values repeated across the slsa-github-generator e2e provenance of example-package.
const (
	examplePackage   = "https://github.com/slsa-framework/example-package"
	exampleCommit    = "4d329c75e7ec1725f7c9ce917a8799d408d06be3"
	exampleWorkflow  = ".github/workflows/verifier-e2e.all.workflow_dispatch.main.all.slsa3.yml"
	exampleTag       = "refs/tags/v13.0.30"
	exampleTagDep    = "git+https://github.com/slsa-framework/example-package@refs/tags/v13.0.30"
	exampleRun       = "https://github.com/slsa-framework/example-package/actions/runs/13530999948/attempts/1"
	generatorWorkflo = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
	delegatorType    = "https://github.com/slsa-framework/slsa-github-generator/delegator-generic@v0"
	githubBuildType  = "https://actions.github.io/buildtypes/workflow/v1"
	githubBuildType0 = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
)

func dep(uri string, digest ...string) evidence.Dependency {
	d := evidence.Dependency{URI: uri}
	if len(digest) > 0 {
		d.Digest = map[string]string{}
		for i := 0; i+1 < len(digest); i += 2 {
			d.Digest[digest[i]] = digest[i+1]
		}
	}
	return d
}

// The expected values below were read from the statements with jq and python, not from this
// package's output.
func TestRealProvenance(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		index     int // which statement in the file
		predicate string
		subject   evidence.Digest
		subjects  int // distinct sha256/384/512 subject digests
		want      func(t *testing.T) *evidence.Provenance
	}{
		{
			name: "slsa-github-generator Go builder v0.2, tag push (bundle v0.3)",
			file: "slsa-verifier/gha_go/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
			// SOURCES.md: artifact sha256 equals the subject digest.
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:f6ab7ad0c7549b5a4942c3b0690519d791c28c4c0f8b286208cb40da3322a066",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuildType:        "https://github.com/slsa-framework/slsa-github-generator/go@v1",
					BuilderID:        generatorWorkflo + "builder_go_slsa3.yml@refs/tags/v2.1.0",
					SourceRepository: examplePackage,
					SourceRef:        exampleTag,
					SourceDigest:     exampleCommit,
					Workflow:         exampleWorkflow,
					EventName:        "push",
					InvocationID:     "13530999948-1",
					ResolvedDependencies: []evidence.Dependency{
						dep(exampleTagDep, "sha1", exampleCommit),
						dep("https://github.com/actions/virtual-environments/releases/tag/ubuntu24/20250223.1.0"),
					},
				}
			},
		},
		{
			name:      "slsa-github-generator generic generator v0.2, tag push (bundle v0.3)",
			file:      "slsa-verifier/gha_generic/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:376e7e01348585b6e6643bc6663146b9d525d9b41228bf180eaeb4d4a3706caa",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:     "v0.2",
					BuildType:            "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
					BuilderID:            generatorWorkflo + "generator_generic_slsa3.yml@refs/tags/v2.1.0",
					SourceRepository:     examplePackage,
					SourceRef:            exampleTag,
					SourceDigest:         exampleCommit,
					Workflow:             exampleWorkflow,
					EventName:            "push",
					InvocationID:         "13530999948-1",
					ResolvedDependencies: []evidence.Dependency{dep(exampleTagDep, "sha1", exampleCommit)},
				}
			},
		},
		{
			name:      "slsa-github-generator generic generator v0.2, workflow_dispatch (raw DSSE)",
			file:      "slsa-verifier/gha_generic/v2.0.0/binary-linux-amd64-workflow_dispatch.intoto.jsonl",
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:2892146b063a94cb4a4318c0e98d38af12dcf2b1e29237486b58463b59607bbd",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuildType:        "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
					BuilderID:        generatorWorkflo + "generator_generic_slsa3.yml@refs/tags/v2.0.0",
					SourceRepository: examplePackage,
					SourceRef:        "refs/heads/main",
					SourceDigest:     "693130cb6cb840a7bc9cb18c6510d536a95dc7e6",
					Workflow:         exampleWorkflow,
					EventName:        "workflow_dispatch",
					InvocationID:     "8791212155-1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/slsa-framework/example-package@refs/heads/main", "sha1", "693130cb6cb840a7bc9cb18c6510d536a95dc7e6"),
					},
				}
			},
		},
		{
			name:      "BYOB delegator v1 (high-perms TRW)",
			file:      "slsa-verifier/gha_delegator/v2.1.0/binary-linux-amd64-push-v13.0.30.build.slsa",
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:     "v1",
					BuildType:            delegatorType,
					BuilderID:            "https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml@refs/tags/v2.1.0",
					SourceRepository:     examplePackage,
					SourceRef:            exampleTag,
					SourceDigest:         exampleCommit,
					Workflow:             exampleWorkflow,
					EventName:            "push",
					InvocationID:         exampleRun,
					ResolvedDependencies: []evidence.Dependency{dep(exampleTagDep, "gitCommit", exampleCommit)},
				}
			},
		},
		{
			name:      "BYOB Maven builder v1",
			file:      "slsa-verifier/gha_maven/v2.1.0/binary-linux-amd64-push-v13.0.30.build.slsa",
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha256:682b624822605140d1ea89d53ef6a26b9c5472b4b3479a586e5fe9d7d666a1c5",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:     "v1",
					BuildType:            delegatorType,
					BuilderID:            generatorWorkflo + "builder_maven_slsa3.yml@refs/tags/v2.1.0",
					SourceRepository:     examplePackage,
					SourceRef:            exampleTag,
					SourceDigest:         exampleCommit,
					Workflow:             exampleWorkflow,
					EventName:            "push",
					InvocationID:         exampleRun,
					ResolvedDependencies: []evidence.Dependency{dep(exampleTagDep, "gitCommit", exampleCommit)},
				}
			},
		},
		{
			name:      "BYOB container-based builder v1",
			file:      "slsa-verifier/gha_container-based/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.build.slsa",
			predicate: provenance.PredicateSLSAv1,
			// The artifact is an empty file.
			subject:  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			subjects: 1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v1",
					BuildType:        "https://slsa.dev/container-based-build/v0.1?draft",
					BuilderID:        generatorWorkflo + "builder_container-based_slsa3.yml@refs/tags/v2.1.0",
					SourceRepository: examplePackage,
					SourceRef:        exampleTag,
					SourceDigest:     exampleCommit,
					Workflow:         exampleWorkflow,
					EventName:        "push",
					InvocationID:     exampleRun,
					ResolvedDependencies: []evidence.Dependency{
						dep(exampleTagDep, "sha1", exampleCommit),
						dep("git+https://github.com/slsa-framework/slsa-github-generator@refs/tags/v2.1.0", "sha256", "31c5f5580e11db3c0119ec4c772cf2663eda944df12da5ac309a90de207fd4c1"),
					},
				}
			},
		},
		{
			name:      "slsa-github-generator delegator, SLSA v1.0 draft",
			file:      "slsa-verifier/bundle/attestation.intoto.sigstore",
			predicate: "https://slsa.dev/provenance/v1.0?draft",
			subject:   "sha256:2e38b952523576057f5ca8cf6d179ad6b66f6d0221b9a0eb621caf3507773c71",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v1",
					BuildType:        delegatorType,
					BuilderID:        "https://github.com/asraa/slsa-on-github/.github/workflows/goreleaser_slsa3.yml@refs/heads/main",
					SourceRepository: "https://github.com/asraa/slsa-on-github-test",
					SourceRef:        "refs/heads/main",
					SourceDigest:     "465171cc7f2097b8582fc61a281c4437563623ed",
					Workflow:         ".github/workflows/release.yml",
					InvocationID:     "https://github.com/asraa/slsa-on-github-test/actions/runs/4028605673/attempts/1",
				}
			},
		},
		{
			name:      "GitHub artifact attestation v1 (Bazel Central Registry)",
			file:      "slsa-verifier/bcr/MODULE.bazel.intoto.jsonl",
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:  "v1",
					BuildType:         githubBuildType,
					BuilderID:         "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1",
					SourceRepository:  "https://github.com/aspect-build/rules_lint",
					SourceRef:         "refs/heads/publish-to-bcr",
					SourceDigest:      "8f70009fde0c94ade6ce2a054b94718c819126ec",
					Workflow:          ".github/workflows/release.yml",
					EventName:         "workflow_dispatch",
					RunnerEnvironment: "github-hosted",
					InvocationID:      "https://github.com/aspect-build/rules_lint/actions/runs/14095611671/attempts/1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/aspect-build/rules_lint@refs/heads/publish-to-bcr", "gitCommit", "8f70009fde0c94ade6ce2a054b94718c819126ec"),
					},
				}
			},
		},
		{
			name:      "GitHub artifact attestation v1, private instance (chainloop)",
			file:      "misc/chainloop/github-private-instance-slsa_provenance.sigstore.json",
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha256:e0037deaa075d902b0d6646f2c4d2d3c36dacd279892f11e75809f8e28a362b2",
			subjects:  40, // 41 subjects; corgi.jpg and corgi.Df6EsHSi.jpg share a digest
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:  "v1",
					BuildType:         githubBuildType,
					BuilderID:         "https://github.com/chainloop-dev/platform-website/.github/workflows/deploy.yml@refs/heads/main",
					SourceRepository:  "https://github.com/chainloop-dev/platform-website",
					SourceRef:         "refs/heads/main",
					SourceDigest:      "437ebdc3d6275e9c60a6f0f836ab7daa4fd8aaa1",
					Workflow:          ".github/workflows/deploy.yml",
					EventName:         "push",
					RunnerEnvironment: "github-hosted",
					InvocationID:      "https://github.com/chainloop-dev/platform-website/actions/runs/13933279919/attempts/2",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/chainloop-dev/platform-website@refs/heads/main", "gitCommit", "437ebdc3d6275e9c60a6f0f836ab7daa4fd8aaa1"),
					},
				}
			},
		},
		{
			name:      "npm CLI v1 provenance (registry API response)",
			file:      "slsa-verifier/npm/registry-api/gundam-visor-cli-v1-tag.tgz.json",
			index:     1,
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha512:8d9d7972f676516c75014aa074e11ae604d98f0b64ec6725a61e2838ff3dab162118fa71433fb31e1550d30bd0dec9d086ce032b94457b583900c507acf39c40",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:  "v1",
					BuildType:         githubBuildType0,
					BuilderID:         "https://github.com/actions/runner/github-hosted",
					SourceRepository:  "https://github.com/ramonpetgrave64/gundam-visor",
					SourceRef:         "refs/tags/v1.0.1",
					SourceDigest:      "599500821344b070902a7a5666064bfdaba715df",
					Workflow:          ".github/workflows/npm-publish.yml",
					EventName:         "release",
					RunnerEnvironment: "github-hosted", // from the builder ID only
					InvocationID:      "https://github.com/ramonpetgrave64/gundam-visor/actions/runs/9358004112/attempts/1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/ramonpetgrave64/gundam-visor@refs/tags/v1.0.1", "gitCommit", "599500821344b070902a7a5666064bfdaba715df"),
					},
				}
			},
		},
		{
			name:      "npm CLI v1 provenance (sigstore-js bundle)",
			file:      "sigstore/sigstore-go/sigstore.js@2.0.0-provenance.sigstore.json",
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion:  "v1",
					BuildType:         githubBuildType0,
					BuilderID:         "https://github.com/actions/runner/github-hosted",
					SourceRepository:  "https://github.com/sigstore/sigstore-js",
					SourceRef:         "refs/heads/main",
					SourceDigest:      "f0b49a04e5a62250e0f60fb128004a73110fe311",
					Workflow:          ".github/workflows/release.yml",
					EventName:         "push",
					RunnerEnvironment: "github-hosted",
					InvocationID:      "https://github.com/sigstore/sigstore-js/actions/runs/5904696764/attempts/1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/sigstore/sigstore-js@refs/heads/main", "gitCommit", "f0b49a04e5a62250e0f60fb128004a73110fe311"),
					},
				}
			},
		},
		{
			name:      "npm CLI v0.2 provenance (registry API response)",
			file:      "slsa-verifier/npm/registry-api/supreme-googles-cli-v02-tag.tgz.json",
			index:     1,
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha512:1e2ebece757250876cde9d0f6c636ed6e0088a23a6c477fe0cd1afcc11800a5ba0c932f4a57a12537063d49d717bb7ae76b8a2938b3d48e7f02617f6564ad919",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuildType:        "https://github.com/npm/cli/gha/v2",
					BuilderID:        "https://github.com/actions/runner",
					SourceRepository: "https://github.com/trishankatdatadog/supreme-goggles",
					SourceRef:        "refs/tags/v1.0.5",
					SourceDigest:     "38ebf99444e033b2f1550c9aaaeacd62d02a12ba",
					Workflow:         ".github/workflows/npm-publish.yml",
					EventName:        "release",
					InvocationID:     "4994975790-1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/trishankatdatadog/supreme-goggles@refs/tags/v1.0.5", "sha1", "38ebf99444e033b2f1550c9aaaeacd62d02a12ba"),
					},
				}
			},
		},
		{
			name:      "npm CLI 9.5 v0.2 provenance with a workflow ref as entry point",
			file:      "slsa-verifier/npm/npm-attestations.intoto.sigstore",
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha512:29d19f26233f4441328412b34fd73ed104ecfef62f14097890cccf7455b521b65c5acff851849faa85c85395aa22d401436f01f3afb61b19c780e906c88c7f20",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuildType:        "https://github.com/npm/cli/gha@v1",
					BuilderID:        "https://github.com/npm/cli@9.5.0",
					SourceRepository: "https://github.com/laurentsimon/provenance-npm-test",
					SourceRef:        "refs/heads/main",
					SourceDigest:     "16babffb9153811e193c019939391357372b25ce",
					// entryPoint "laurentsimon/provenance-npm-test/.github/workflows/release.yml@refs/heads/main"
					Workflow:     ".github/workflows/release.yml",
					EventName:    "workflow_dispatch",
					InvocationID: "4187464577-1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/laurentsimon/provenance-npm-test", "sha1", "16babffb9153811e193c019939391357372b25ce"),
					},
				}
			},
		},
		{
			name:      "slsa-github-generator Node.js builder v0.2 (registry API response)",
			file:      "slsa-verifier/npm/registry-api/provenance-npm-test-ossf.tgz.json",
			index:     1,
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha512:563bc6d88c7cc60917b13cf4838473eeea6ec7ea0430f2672b16f43c2a5c82c239949c7cae7fe13bbe3b30d0571c3e56de624aa31ea43c98c12f1f190b8a7ca0",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuildType:        delegatorType,
					BuilderID:        generatorWorkflo + "builder_nodejs_slsa3.yml@refs/tags/v1.6.0",
					SourceRepository: "https://github.com/laurentsimon/provenance-npm-test",
					SourceRef:        "refs/heads/main",
					SourceDigest:     "34490b44db557f009617bcb92b8780f972c189ab",
					Workflow:         ".github/workflows/release-slsa3.yml",
					EventName:        "workflow_dispatch",
					InvocationID:     "5016782196-1",
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/laurentsimon/provenance-npm-test@refs/heads/main", "sha1", "34490b44db557f009617bcb92b8780f972c189ab"),
					},
				}
			},
		},
		{
			name:      "Google Cloud Build v0.1, builder v0.3, tag trigger",
			file:      "slsa-verifier/gcb/v0.3/gcloud-container-github.json",
			predicate: provenance.PredicateSLSAv01,
			subject:   digestFile(nil, "slsa-verifier/gcb/v0.3/gcloud-container-github.digest"),
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.1",
					BuildType:        "https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1",
					BuilderID:        "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3",
					SourceRepository: "https://github.com/laurentsimon/gcb-tests",
					SourceRef:        "refs/tags/v39", // substitutions.TAG_NAME
					SourceDigest:     "01ce393d04eb6df2a7b2b3e95d4126e687afb7ae",
					Workflow:         "cloudbuild.yaml",
					InvocationID:     "11f6c682-3451-4f72-ac2a-8e386eab66af",
					StartedOn:        at(t, "2022-09-06T17:54:10.226833361Z"),
					FinishedOn:       at(t, "2022-09-06T17:54:22.169342Z"),
					ResolvedDependencies: []evidence.Dependency{
						dep("https://github.com/laurentsimon/gcb-tests", "sha1", "01ce393d04eb6df2a7b2b3e95d4126e687afb7ae"),
					},
				}
			},
		},
		{
			name:      "Google Cloud Build v0.1, builder v0.2, commit URL material",
			file:      "slsa-verifier/gcb/v0.2/gcloud-container-github.json",
			predicate: provenance.PredicateSLSAv01,
			subject:   digestFile(nil, "slsa-verifier/gcb/v0.2/gcloud-container-github.digest"),
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.1",
					BuildType:        "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.2",
					BuilderID:        "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.2",
					SourceRepository: "https://github.com/laurentsimon/gcb-tests",
					SourceDigest:     "fbbb98765e85ad464302dc5977968104d36e455e",
					Workflow:         "cloudbuild.yaml",
					InvocationID:     "b6e052a7-5aa4-41bf-a56b-9bc4e4f3058b",
					StartedOn:        at(t, "2022-08-15T22:43:18.700638187Z"),
					FinishedOn:       at(t, "2022-08-15T22:43:34.366498Z"),
					ResolvedDependencies: []evidence.Dependency{
						dep("https://github.com/laurentsimon/gcb-tests/commit/fbbb98765e85ad464302dc5977968104d36e455e"),
					},
				}
			},
		},
		{
			name:      "Google Cloud Build v1 (GoogleHostedWorker)",
			file:      "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json",
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3",
			subjects:  1, // two subjects (image and :latest), one digest
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v1",
					BuildType:        "https://cloud.google.com/build/gcb-buildtypes/google-worker/v1",
					BuilderID:        "https://cloudbuild.googleapis.com/GoogleHostedWorker",
					SourceRepository: "https://github.com/khalkie/gcb-prod-prov",
					SourceRef:        "refs/heads/main",
					SourceDigest:     "2ce3f90facdb51aeb950d5bc641e981be61fdf48",
					Workflow:         "cloudbuild.yaml",
					InvocationID:     "https://cloudbuild.googleapis.com/v1/projects/argo-local-khalk/locations/us-west2/builds/9c11d255-0469-4a6a-b7d0-d510c6697c54",
					StartedOn:        at(t, "2023-08-08T18:40:21.016140505Z"),
					FinishedOn:       at(t, "2023-08-08T18:40:29.055034Z"),
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/khalkie/gcb-prod-prov@refs/heads/main", "gitCommit", "2ce3f90facdb51aeb950d5bc641e981be61fdf48"),
						dep("gcr.io/cloud-builders/docker@sha256:d048af25a6f8945fa77e3aa679e49a8f8a8011f0050aab0364034e58f445a434", "sha256", "d048af25a6f8945fa77e3aa679e49a8f8a8011f0050aab0364034e58f445a434"),
					},
				}
			},
		},
		{
			name:      "Google Cloud Build v0.1 next to the v1 one, branch trigger",
			file:      "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json",
			index:     1,
			predicate: provenance.PredicateSLSAv01,
			subject:   "sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.1",
					BuildType:        "https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1",
					BuilderID:        "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3",
					SourceRepository: "https://github.com/khalkie/gcb-prod-prov",
					SourceRef:        "refs/heads/main", // substitutions.BRANCH_NAME
					SourceDigest:     "2ce3f90facdb51aeb950d5bc641e981be61fdf48",
					Workflow:         "cloudbuild.yaml",
					InvocationID:     "9c11d255-0469-4a6a-b7d0-d510c6697c54",
					StartedOn:        at(t, "2023-08-08T18:40:21.016140505Z"),
					FinishedOn:       at(t, "2023-08-08T18:40:29.055034Z"),
					ResolvedDependencies: []evidence.Dependency{
						dep("git+https://github.com/khalkie/gcb-prod-prov", "sha1", "2ce3f90facdb51aeb950d5bc641e981be61fdf48"),
					},
				}
			},
		},
		{
			name:      "Tekton Chains v0.2 (raw DSSE)",
			file:      "misc/tekton-chains/guac-oci-dsse-att.tekton-chains-slsa-v0.2.dsse.json",
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:9e183c89765d92a440f44ac7059385c778cbadad0ee8fe3208360efb07c0ba09",
			subjects:  1,
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuildType:        "tekton.dev/v1beta1/TaskRun",
					BuilderID:        "https://tekton.dev/chains/v2",
					StartedOn:        at(t, "2022-12-20T14:09:04Z"),
					FinishedOn:       at(t, "2022-12-20T14:09:36Z"),
				}
			},
		},
		{
			name:      "Kubernetes release v0.2 with a non-URI builder (bare statement)",
			file:      "misc/kubernetes/guac-kubectl-linux-amd64.slsa-v0.2.statement.json",
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:8202add66a93bcb7219ed7bb16438caf82a80c60348cace2381c678b99d65638",
			subjects:  65, // 75 subjects, 65 distinct digests
			want: func(t *testing.T) *evidence.Provenance {
				return &evidence.Provenance{
					PredicateVersion: "v0.2",
					BuilderID:        "Project Collection Build Service (AzureContainerUpstream)",
					// The material's digest is labelled sha256 but has 40 hex digits: no commit.
					SourceRepository: "https://github.com/kubernetes/kubernetes",
					Workflow:         "ep",
					InvocationID:     "119656", // metadata.buildInvocationID
					ResolvedDependencies: []evidence.Dependency{
						dep("https://github.com/kubernetes/kubernetes", "sha256", "8dc49c4b984b897d423aab4971090e1879eb4f23"),
					},
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := provenance.ParseStatement(MustStatement(t, tc.file, tc.index))
			if err != nil {
				t.Fatal(err)
			}
			if st.PredicateType() != tc.predicate || st.Kind() != evidence.KindProvenance {
				t.Errorf("predicate %q kind %q, want %q provenance", st.PredicateType(), st.Kind(), tc.predicate)
			}
			if n := len(st.SubjectDigests()); n != tc.subjects {
				t.Errorf("%d subject digests, want %d", n, tc.subjects)
			}
			subject := tc.subject
			if subject == "" {
				subject = digestFile(t, tc.file[:strings.LastIndex(tc.file, ".")]+".digest")
			}
			checkNames(t, st, subject)
			p, err := st.Provenance()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want(t), p); diff != "" {
				t.Errorf("provenance (-want +got):\n%s", diff)
			}
			if v, err := st.VSA(); v != nil || err != nil {
				t.Errorf("VSA() = %+v, %v; want nil, nil", v, err)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("marshalling provenance: %v", err)
			}
		})
	}
}

// digestFile reads a corpus ".digest" file ("sha256:<hex>\n"). With a nil tb it returns "" so
// that the test reads the file once its *testing.T exists.
func digestFile(tb testing.TB, rel string) evidence.Digest {
	if tb == nil {
		return ""
	}
	tb.Helper()
	d, err := evidence.ParseDigest(strings.TrimSpace(string(testcorpus.Read(tb, rel))))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// checkNames checks that st names subject, also in uppercase hex, and nothing else.
func checkNames(t *testing.T, st *provenance.Statement, subject evidence.Digest) {
	t.Helper()
	if !st.Names(subject) {
		t.Errorf("Names(%s) = false", subject)
	}
	if upper := evidence.Digest(subject.Algorithm() + ":" + strings.ToUpper(subject.Hex())); !st.Names(upper) {
		t.Errorf("Names(%s) = false", upper)
	}
	other := "sha512"
	if subject.Algorithm() == "sha512" {
		other = "sha256"
	}
	for _, d := range []evidence.Digest{
		evidence.Digest(other + ":" + strings.Repeat("0", map[string]int{"sha256": 64, "sha512": 128}[other])),
		evidence.Digest("sha384:" + strings.Repeat("a", 96)),
		evidence.Digest(subject.Algorithm() + ":" + strings.Repeat("0", len(subject.Hex()))),
		evidence.Digest(subject.Hex()),
		"",
	} {
		if st.Names(d) {
			t.Errorf("Names(%q) = true", d)
		}
	}
}

func TestNamesEveryAlgorithmAndSubject(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	sha384 := strings.Repeat("cd", 48)
	sha512 := strings.Repeat("EF", 64)
	st, err := provenance.ParseStatement(fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1",
		"subject":[{"name":"a","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}},
		           {"name":"b","digest":{"sha256":%q,"sha384":%q}},
		           {"name":"c","digest":{"sha512":%q,"sha256":"short"}}],
		"predicateType":"https://example.com/p","predicate":{}}`, sha256, sha384, sha512))
	if err != nil {
		t.Fatal(err)
	}
	want := []evidence.Digest{
		evidence.Digest("sha256:" + sha256),
		evidence.Digest("sha384:" + sha384),
		evidence.Digest("sha512:" + strings.ToLower(sha512)),
	}
	if diff := cmp.Diff(want, st.SubjectDigests()); diff != "" {
		t.Errorf("SubjectDigests (-want +got):\n%s", diff)
	}
	for _, d := range want {
		if !st.Names(d) {
			t.Errorf("Names(%s) = false", d)
		}
	}
	for _, d := range []evidence.Digest{
		"sha512:" + evidence.Digest(sha256+sha256), // right hex under the wrong algorithm
		"sha256:short",
		"gitCommit:0123456789abcdef0123456789abcdef01234567",
	} {
		if st.Names(d) {
			t.Errorf("Names(%s) = true", d)
		}
	}
}

func TestRealVSA(t *testing.T) {
	st, err := provenance.ParseStatement(MustStatement(t, "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", 0))
	if err != nil {
		t.Fatal(err)
	}
	if st.PredicateType() != provenance.PredicateVSAv1 || st.Kind() != evidence.KindAttestation {
		t.Errorf("predicate %q kind %q", st.PredicateType(), st.Kind())
	}
	// The only subject digest is {"gce_image_id": "8970095005306000053"}.
	if ds := st.SubjectDigests(); len(ds) != 0 {
		t.Errorf("SubjectDigests = %v, want none", ds)
	}
	if st.Names("sha256:" + evidence.Digest(strings.Repeat("0", 64))) {
		t.Error("Names matched a gce_image_id subject")
	}
	if p, err := st.Provenance(); p != nil || err != nil {
		t.Errorf("Provenance() = %+v, %v; want nil, nil", p, err)
	}
	v, err := st.VSA()
	if err != nil {
		t.Fatal(err)
	}
	want := &provenance.VSA{
		VerifierID:     "https://bcid.corp.google.com/verifier/bcid_package_enforcer/v0.1",
		TimeVerified:   at(t, "2024-06-12T07:24:34.351608Z"),
		ResourceURI:    "gce_image://gke-node-images:gke-12615-gke1418000-cos-101-17162-463-29-c-cgpv1-pre",
		PolicyURI:      "googlefile:/google_src/files/642513192/depot/google3/production/security/bcid/software/gce_image/gke/vm_images.sw_policy.textproto",
		Result:         provenance.VerificationPassed,
		VerifiedLevels: []string{"BCID_L1", "SLSA_BUILD_LEVEL_2"},
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("VSA (-want +got):\n%s", diff)
	}
	if !v.Passed() {
		t.Error("Passed() = false")
	}
}

func TestVSAAllFields(t *testing.T) {
	st, err := provenance.ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1",
		"subject":[{"name":"pkg:npm/x@1","digest":{"sha256":"` + strings.Repeat("1", 64) + `"}}],
		"predicateType":"https://slsa.dev/verification_summary/v1",
		"predicate":{"verifier":{"id":"https://verifier.example","version":{"v":"1"}},
			"timeVerified":"2024-01-02T03:04:05+01:00","resourceUri":"pkg:npm/x@1",
			"policy":{"uri":"https://policy.example/p","digest":{"sha256":"aa"}},
			"inputAttestations":[{"uri":"https://att.example/1","digest":{"sha256":"bb"}}],
			"verificationResult":"FAILED","verifiedLevels":[],
			"dependencyLevels":{"SLSA_BUILD_LEVEL_3":5,"SLSA_BUILD_LEVEL_1":"2"},"slsaVersion":"1.0"}}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.VSA()
	if err != nil {
		t.Fatal(err)
	}
	want := &provenance.VSA{
		VerifierID:        "https://verifier.example",
		TimeVerified:      at(t, "2024-01-02T02:04:05Z"),
		ResourceURI:       "pkg:npm/x@1",
		PolicyURI:         "https://policy.example/p",
		PolicyDigest:      map[string]string{"sha256": "aa"},
		InputAttestations: []evidence.Dependency{dep("https://att.example/1", "sha256", "bb")},
		Result:            provenance.VerificationFailed,
		DependencyLevels:  map[string]uint64{"SLSA_BUILD_LEVEL_3": 5, "SLSA_BUILD_LEVEL_1": 2},
		SLSAVersion:       "1.0",
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("VSA (-want +got):\n%s", diff)
	}
	if v.Passed() {
		t.Error("Passed() = true for FAILED")
	}
}

// Statements that are not provenance parse, classify as attestations and yield no provenance.
func TestRealAttestations(t *testing.T) {
	tests := []struct {
		file      string
		index     int
		predicate string
	}{
		{"in-toto/attestation-spec-examples/reference.example1.json", 0, "https://in-toto.io/attestation/reference/v0.1"},
		{"in-toto/attestation-spec-examples/reference.example2.json", 0, "https://in-toto.io/attestation/reference/v0.1"},
		{"in-toto/attestation-spec-examples/release.example1.json", 0, "https://in-toto.io/attestation/release/v0.1"},
		{"in-toto/attestation-spec-examples/release.example3.json", 0, "https://in-toto.io/attestation/release/v0.1"},
		{"in-toto/attestation-spec-examples/release.example4.json", 0, "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"},
		{"in-toto/attestation-spec-examples/svr.example1.json", 0, "https://in-toto.io/attestation/svr/v0.2"},
		{"in-toto/attestation-spec-examples/svr.example2.json", 0, "https://in-toto.io/attestation/svr/v0.2"},
		{"in-toto/attestation-spec-examples/svr.example3.json", 0, "https://in-toto.io/attestation/svr/v0.2"},
		{"in-toto/attestation-spec-examples/test-result.example1.json", 0, "https://in-toto.io/attestation/test-result/v0.1"},
		{"slsa-verifier/npm/registry-api/gundam-visor-cli-v1-tag.tgz.json", 0, "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"},
		// The provenance type misspelt upstream on purpose: not provenance.
		{"slsa-verifier/npm/npm-stmt-mismatch-prov-predicatetype.intoto.sigstore", 0, "https://slsa.dev/provenanc/v0.2"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			st, err := provenance.ParseStatement(MustStatement(t, tc.file, tc.index))
			if err != nil {
				t.Fatal(err)
			}
			if st.PredicateType() != tc.predicate || st.Kind() != evidence.KindAttestation {
				t.Errorf("predicate %q kind %q, want %q attestation", st.PredicateType(), st.Kind(), tc.predicate)
			}
			if p, err := st.Provenance(); p != nil || err != nil {
				t.Errorf("Provenance() = %+v, %v; want nil, nil", p, err)
			}
			if v, err := st.VSA(); v != nil || err != nil {
				t.Errorf("VSA() = %+v, %v; want nil, nil", v, err)
			}
		})
	}
}

// The spec examples abbreviate digests ("4faeb1b2..."): they parse but match nothing.
func TestAbbreviatedDigestsNeverMatch(t *testing.T) {
	st, err := provenance.ParseStatement(MustStatement(t, "in-toto/attestation-spec-examples/svr.example1.json", 0))
	if err != nil {
		t.Fatal(err)
	}
	if ds := st.SubjectDigests(); len(ds) != 0 {
		t.Errorf("SubjectDigests = %v, want none", ds)
	}
}

func TestRealMalformed(t *testing.T) {
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		field string
	}{
		{
			name: "gcloud output with signatures cut out by hand (not JSON)",
			input: func(t *testing.T) []byte {
				return testcorpus.Read(t, "slsa-verifier/gcb/v0.3/gcloud-container-no-signature.json")
			},
		},
		{
			name: "gcloud v1 output without signatures (not JSON)",
			input: func(t *testing.T) []byte {
				return testcorpus.Read(t, "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-nosigs.json")
			},
		},
		{
			name: "gcloud v1 payload with a stray byte after the statement",
			input: func(t *testing.T) []byte {
				return MustStatement(t, "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-single-invalid-sig.json", 0)
			},
		},
		{
			name:  "empty predicate type",
			input: func(t *testing.T) []byte { return MustStatement(t, "slsa-verifier/bundle/valid.intoto.sigstore", 0) },
			field: "predicateType",
		},
		{
			name: "legacy in-toto link in a DSSE envelope",
			input: func(t *testing.T) []byte {
				return MustStatement(t, "in-toto/in-toto-golang/package-dsse.2f89b927.link", 0)
			},
			field: "_type",
		},
		{
			name:  "legacy signed in-toto link",
			input: func(t *testing.T) []byte { return testcorpus.Read(t, "in-toto/in-toto-golang/package.d3ffd108.link") },
			field: "_type",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provenance.ParseStatement(tc.input(t))
			checkMalformed(t, err, tc.field)
		})
	}
	for _, rel := range []string{
		"slsa-verifier/gcb/v0.3/gcloud-container-no-signature.json",
		"slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-nosigs.json",
	} {
		if json.Valid(testcorpus.Read(t, rel)) {
			t.Errorf("%s is valid JSON; SOURCES.md says it is not", rel)
		}
	}
}

func checkMalformed(t *testing.T, err error, field string) {
	t.Helper()
	var me *provenance.MalformedError
	if !errors.Is(err, provenance.ErrMalformed) || !errors.As(err, &me) {
		t.Fatalf("err = %v, want a *MalformedError", err)
	}
	if me.Field != field {
		t.Errorf("field = %q, want %q (%v)", me.Field, field, err)
	}
	if field != "" && !strings.Contains(err.Error(), field) {
		t.Errorf("error %q does not name %q", err, field)
	}
}

const statementHead = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}}],`

func TestMalformedNamesTheField(t *testing.T) {
	tests := []struct {
		name, in, field string
		call            string // "parse", "provenance" or "vsa"
	}{
		{"too large", `{"_type":"` + strings.Repeat("x", provenance.MaxStatementSize) + `"}`, "", "parse"},
		{"not json", `{"_type":`, "", "parse"},
		{"array not object", `[]`, "", "parse"},
		{"wrong type", `{"_type":"https://example.com/Statement","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`, "_type", "parse"},
		{"no type", `{"subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`, "_type", "parse"},
		{"no subject", `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`, "subject", "parse"},
		{"subject not a list", `{"_type":"https://in-toto.io/Statement/v1","subject":"a","predicateType":"x","predicate":{}}`, "subject", "parse"},
		{"second subject without digest", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}},{"name":"b"}],"predicateType":"x","predicate":{}}`, "subject[1].digest", "parse"},
		{"digest value not a string", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":5}}],"predicateType":"x","predicate":{}}`, "subject[0].digest", "parse"},
		{"subject not an object", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}},7],"predicateType":"x","predicate":{}}`, "subject[1]", "parse"},
		{"no predicate type", statementHead + `"predicate":{}}`, "predicateType", "parse"},
		{"no predicate", statementHead + `"predicateType":"x"}`, "predicate", "parse"},
		{"predicate not an object", statementHead + `"predicateType":"x","predicate":"p"}`, "predicate", "parse"},

		{"v1 bad start time", statementHead + `"predicateType":"https://slsa.dev/provenance/v1","predicate":{"runDetails":{"builder":{"id":"b"},"metadata":{"startedOn":"yesterday"}}}}`, "predicate.runDetails.metadata.startedOn", "provenance"},
		{"v1 dependency not an object", statementHead + `"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"resolvedDependencies":[{"uri":"u"},"x"]}}}`, "predicate.buildDefinition.resolvedDependencies[1]", "provenance"},
		{"v1 dependency digest not strings", statementHead + `"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"resolvedDependencies":[{"uri":"u","digest":{"sha1":1}}]}}}`, "predicate.buildDefinition.resolvedDependencies[0].digest", "provenance"},
		{"v1 build type not a string", statementHead + `"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":["t"]}}}`, "predicate.buildDefinition.buildType", "provenance"},
		{"v0.2 builder not an object", statementHead + `"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"builder":"b"}}`, "predicate.builder", "provenance"},
		{"v0.2 material uri not a string", statementHead + `"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"materials":[{"uri":3}]}}`, "predicate.materials[0].uri", "provenance"},
		{"v0.2 bad finish time", statementHead + `"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"metadata":{"buildFinishedOn":"2022-13-45T00:00:00Z"}}}`, "predicate.metadata.buildFinishedOn", "provenance"},
		{"v0.2 environment not an object", statementHead + `"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"invocation":{"environment":[1]}}}`, "predicate.invocation.environment", "provenance"},
		{"v0.1 material index not a number", statementHead + `"predicateType":"https://slsa.dev/provenance/v0.1","predicate":{"recipe":{"definedInMaterial":"one"}}}`, "predicate.recipe.definedInMaterial", "provenance"},
		{"unknown SLSA version", statementHead + `"predicateType":"https://slsa.dev/provenance/v0.3","predicate":{}}`, "predicateType", "provenance"},

		{"VSA without result", statementHead + `"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"verifier":{"id":"v"},"resourceUri":"r"}}`, "predicate.verificationResult", "vsa"},
		{"VSA with another result", statementHead + `"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"verifier":{"id":"v"},"resourceUri":"r","verificationResult":"MAYBE"}}`, "predicate.verificationResult", "vsa"},
		{"VSA without verifier", statementHead + `"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"resourceUri":"r","verificationResult":"PASSED"}}`, "predicate.verifier.id", "vsa"},
		{"VSA without resource", statementHead + `"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"verifier":{"id":"v"},"verificationResult":"PASSED"}}`, "predicate.resourceUri", "vsa"},
		{"VSA bad time", statementHead + `"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"timeVerified":12}}`, "predicate.timeVerified", "vsa"},
		{"VSA negative level count", statementHead + `"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"dependencyLevels":{"SLSA_BUILD_LEVEL_1":-1}}}`, "predicate.dependencyLevels", "vsa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := provenance.ParseStatement([]byte(tc.in))
			if tc.call != "parse" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.call == "provenance" {
					var p *evidence.Provenance
					p, err = st.Provenance()
					if p != nil {
						t.Errorf("provenance %+v with an error", p)
					}
				} else {
					var v *provenance.VSA
					v, err = st.VSA()
					if v != nil {
						t.Errorf("VSA %+v with an error", v)
					}
				}
			}
			checkMalformed(t, err, tc.field)
		})
	}
}

func TestResolvedDependenciesAreCapped(t *testing.T) {
	var deps []string
	for i := range provenance.MaxDependencies + 50 {
		deps = append(deps, fmt.Sprintf(`{"uri":"pkg:generic/d%d","digest":{"sha256":"%064d"}}`, i, i))
	}
	deps = append(deps[:1], append([]string{`{}`}, deps[1:]...)...) // an empty descriptor is skipped
	st, err := provenance.ParseStatement([]byte(statementHead + `"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"resolvedDependencies":[` + strings.Join(deps, ",") + `]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Provenance()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.ResolvedDependencies); n != provenance.MaxDependencies {
		t.Fatalf("%d dependencies, want %d", n, provenance.MaxDependencies)
	}
	if last := p.ResolvedDependencies[provenance.MaxDependencies-1]; last.URI != fmt.Sprintf("pkg:generic/d%d", provenance.MaxDependencies-1) {
		t.Errorf("last dependency = %+v", last)
	}
}

func TestSourceSelection(t *testing.T) {
	tests := []struct {
		name, predicateType, predicate string
		want                           *evidence.Provenance
	}{
		{
			name:          "v1: the commit comes from the dependency on the workflow's repository",
			predicateType: provenance.PredicateSLSAv1,
			predicate: `{"buildDefinition":{"buildType":"bt","externalParameters":{"workflow":{"repository":"https://github.com/o/r","ref":"refs/heads/main","path":"w.yml"}},
				"resolvedDependencies":[{"uri":"git+https://github.com/o/tools@refs/heads/main","digest":{"gitCommit":"1111111111111111111111111111111111111111"}},
				                        {"uri":"git+https://github.com/o/r.git@refs/heads/main","digest":{"gitCommit":"2222222222222222222222222222222222222222"}}]},
				"runDetails":{"builder":{"id":"https://github.com/actions/runner/self-hosted"}}}`,
			want: &evidence.Provenance{
				PredicateVersion: "v1", BuildType: "bt", BuilderID: "https://github.com/actions/runner/self-hosted",
				SourceRepository: "https://github.com/o/r", SourceRef: "refs/heads/main", SourceDigest: "2222222222222222222222222222222222222222",
				Workflow: "w.yml", RunnerEnvironment: "self-hosted",
				ResolvedDependencies: []evidence.Dependency{
					dep("git+https://github.com/o/tools@refs/heads/main", "gitCommit", "1111111111111111111111111111111111111111"),
					dep("git+https://github.com/o/r.git@refs/heads/main", "gitCommit", "2222222222222222222222222222222222222222"),
				},
			},
		},
		{
			name:          "v0.2: a workflow ref from another repository is kept whole",
			predicateType: provenance.PredicateSLSAv02,
			predicate:     `{"builder":{"id":"b"},"invocation":{"configSource":{"uri":"git+https://user@git.example/o/r@refs/tags/v1","digest":{"gitCommit":"33"},"entryPoint":"x/y/.github/workflows/w.yml@refs/heads/main"}}}`,
			want: &evidence.Provenance{
				PredicateVersion: "v0.2", BuilderID: "b",
				SourceRepository: "https://git.example/o/r", SourceRef: "refs/tags/v1", SourceDigest: "33",
				Workflow: "x/y/.github/workflows/w.yml@refs/heads/main",
			},
		},
		{
			name:          "v0.1: recipe.definedInMaterial picks the source",
			predicateType: provenance.PredicateSLSAv01,
			predicate:     `{"builder":{"id":"b"},"recipe":{"type":"t","definedInMaterial":1,"entryPoint":"build.sh"},"materials":[{"uri":"git+https://example.com/lib"},{"uri":"git+https://example.com/app@main","digest":{"sha1":"44"}}]}`,
			want: &evidence.Provenance{
				PredicateVersion: "v0.1", BuildType: "t", BuilderID: "b",
				SourceRepository: "https://example.com/app", SourceRef: "main", SourceDigest: "44",
				Workflow: "build.sh",
				ResolvedDependencies: []evidence.Dependency{
					dep("git+https://example.com/lib"),
					dep("git+https://example.com/app@main", "sha1", "44"),
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := provenance.ParseStatement([]byte(statementHead + `"predicateType":"` + tc.predicateType + `","predicate":` + tc.predicate + `}`))
			if err != nil {
				t.Fatal(err)
			}
			p, err := st.Provenance()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p); diff != "" {
				t.Errorf("provenance (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for pt, want := range map[string]evidence.Kind{
		"https://slsa.dev/provenance/v1":           evidence.KindProvenance,
		"https://slsa.dev/provenance/v1.0?draft":   evidence.KindProvenance,
		"https://slsa.dev/provenance/v0.2":         evidence.KindProvenance,
		"https://slsa.dev/provenance/v0.1":         evidence.KindProvenance,
		"https://slsa.dev/provenanc/v0.2":          evidence.KindAttestation,
		"https://cyclonedx.org/bom":                evidence.KindSBOM,
		"https://cyclonedx.org/bom/v1.5":           evidence.KindSBOM,
		"https://spdx.dev/Document/v2.3":           evidence.KindSBOM,
		"https://slsa.dev/verification_summary/v1": evidence.KindAttestation,
	} {
		if got := provenance.KindOf(pt); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", pt, got, want)
		}
	}
}

func TestNormalizeRepository(t *testing.T) {
	for in, want := range map[string]string{
		"git+https://github.com/o/r.git":      "https://github.com/o/r",
		"github.com/o/r":                      "https://github.com/o/r",
		"https://github.com/o/r/":             "https://github.com/o/r",
		"https://user@dev.azure.com/o/_git/r": "https://dev.azure.com/o/_git/r",
		"git+ssh://git@example.com/o/r.git/":  "ssh://example.com/o/r",
		"https://":                            "",
		"":                                    "",
	} {
		if got := provenance.NormalizeRepository(in); got != want {
			t.Errorf("NormalizeRepository(%q) = %q, want %q", in, got, want)
		}
	}
}
