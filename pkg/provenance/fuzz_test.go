package provenance_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
)

// mustBeMalformed fails unless err is nil or a *MalformedError that names its cause.
func mustBeMalformed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var me *provenance.MalformedError
	if !errors.Is(err, provenance.ErrMalformed) || !errors.As(err, &me) || me.Err == nil {
		t.Fatalf("%s error is not a *MalformedError: %v", what, err)
	}
}

func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"runDetails":{"builder":{"id":"x"}}}}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"invocation":{"configSource":{"uri":"git+https://x@"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := provenance.ParseStatement(data)
		mustBeMalformed(t, "ParseStatement", err)
		if err != nil {
			return
		}
		for _, d := range st.SubjectDigests() {
			if d.Validate() != nil || !st.Names(d) {
				t.Fatalf("subject digest %q is invalid or not named", d)
			}
		}
		_, err = st.Provenance()
		mustBeMalformed(t, "Provenance", err)
	})
}

// FuzzProvenance runs statements through everything that reads predicates; its seed corpus
// (testdata/fuzz/FuzzProvenance) holds real statements from the corpus: slsa-github-generator
// v0.2 and BYOB v1, GitHub and npm v1, npm v0.2, Cloud Build v0.1 and v1, Tekton, the
// Kubernetes release, the SLSA v1.0 draft and the VSA.
func FuzzProvenance(f *testing.F) {
	// Small statements, so that mutations reach the predicate readers more often than the
	// large real seeds let them.
	head := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],`
	for _, tail := range []string{
		`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"t","externalParameters":{"workflow":{"repository":"https://github.com/o/r","ref":"refs/heads/main","path":"w.yml"},"source":{"artifact":{"uri":"git+https://h/o/r@v","digest":{"sha1":"aa"}}}},"internalParameters":{"github":{"event_name":"push","runner_environment":"self-hosted"},"GITHUB_WORKFLOW_REF":"o/r/.github/workflows/w.yml@refs/heads/main"},"resolvedDependencies":[{"uri":"git+https://github.com/o/r@refs/heads/main","digest":{"gitCommit":"bb"}}]},"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"},"metadata":{"invocationId":"i","startedOn":"2024-01-01T00:00:00Z","finishedOn":"2024-01-01T00:01:00.5+02:00"}}}}`,
		`"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"builder":{"id":"b"},"buildType":"t","invocation":{"configSource":{"uri":"git+https://u@h/o/r@refs/tags/v1","digest":{"sha1":"cc"},"entryPoint":"o/r/.github/workflows/w.yml@refs/tags/v1"},"environment":{"github_event_name":"push"}},"metadata":{"buildInvocationID":"1","buildStartedOn":"2024-01-01T00:00:00Z"},"materials":[{"uri":"https://github.com/o/r/commit/0123456789012345678901234567890123456789"}]}}`,
		`"predicateType":"https://slsa.dev/provenance/v0.1","predicate":{"builder":{"id":"https://cloudbuild.googleapis.com/GoogleHostedWorker"},"recipe":{"type":"t","definedInMaterial":0,"entryPoint":"cloudbuild.yaml","arguments":{"substitutions":{"TAG_NAME":"v1","BRANCH_NAME":"main"}}},"metadata":{"buildInvocationId":"i","buildFinishedOn":"2024-01-01T00:00:00Z"},"materials":[{"uri":"https://github.com/o/r","digest":{"sha1":"dd"}}]}}`,
		`"predicateType":"https://slsa.dev/verification_summary/v1","predicate":{"verifier":{"id":"v"},"timeVerified":"2024-01-01T00:00:00Z","resourceUri":"r","policy":{"uri":"p","digest":{"sha256":"ee"}},"inputAttestations":[{"uri":"a","digest":{"sha256":"ff"}}],"verificationResult":"PASSED","verifiedLevels":["SLSA_BUILD_LEVEL_3"],"dependencyLevels":{"SLSA_BUILD_LEVEL_1":1},"slsaVersion":"1.0"}}`,
	} {
		f.Add([]byte(head + tail))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := provenance.ParseStatement(data)
		mustBeMalformed(t, "ParseStatement", err)
		if err != nil {
			return
		}
		p, perr := st.Provenance()
		mustBeMalformed(t, "Provenance", perr)
		v, verr := st.VSA()
		mustBeMalformed(t, "VSA", verr)
		if p != nil && v != nil {
			t.Fatal("a statement is both provenance and a VSA")
		}
		if p != nil {
			switch {
			case st.Kind() != evidence.KindProvenance:
				t.Fatalf("provenance from a %q statement", st.Kind())
			case p.PredicateVersion != "v0.1" && p.PredicateVersion != "v0.2" && p.PredicateVersion != "v1":
				t.Fatalf("predicate version %q", p.PredicateVersion)
			case len(p.ResolvedDependencies) > provenance.MaxDependencies:
				t.Fatalf("%d dependencies", len(p.ResolvedDependencies))
			}
			if _, err := json.Marshal(p); err != nil {
				t.Fatalf("marshalling provenance: %v", err)
			}
		}
		if v != nil {
			if v.VerifierID == "" || v.ResourceURI == "" || (v.Result != provenance.VerificationPassed && v.Result != provenance.VerificationFailed) {
				t.Fatalf("incomplete VSA %+v", v)
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("marshalling VSA: %v", err)
			}
		}
		for _, d := range st.SubjectDigests() {
			if !st.Names(d) {
				t.Fatalf("subject digest %q not named", d)
			}
		}
	})
}

// FuzzPredicate fuzzes the predicate alone inside a valid statement, seeded with the
// predicates of real statements from the corpus, so that mutations reach the predicate readers
// and the error locator instead of breaking the statement around them.
func FuzzPredicate(f *testing.F) {
	for _, src := range []struct {
		file  string
		index int
	}{
		{"slsa-verifier/gha_go/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", 0},
		{"slsa-verifier/gha_delegator/v2.1.0/binary-linux-amd64-push-v13.0.30.build.slsa", 0},
		{"slsa-verifier/bcr/MODULE.bazel.intoto.jsonl", 0},
		{"slsa-verifier/bundle/attestation.intoto.sigstore", 0},
		{"slsa-verifier/npm/registry-api/supreme-googles-cli-v02-tag.tgz.json", 1},
		{"slsa-verifier/gcb/v0.3/gcloud-container-github.json", 0},
		{"slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", 0},
		{"misc/tekton-chains/guac-oci-dsse-att.tekton-chains-slsa-v0.2.dsse.json", 0},
		{"slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", 0},
	} {
		var st struct {
			PredicateType string          `json:"predicateType"`
			Predicate     json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(MustStatement(f, src.file, src.index), &st); err != nil {
			f.Fatal(err)
		}
		f.Add(st.PredicateType, []byte(st.Predicate))
	}
	f.Fuzz(func(t *testing.T, predicateType string, predicate []byte) {
		pt, err := json.Marshal(predicateType)
		if err != nil {
			return
		}
		stmt := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":` + string(pt) + `,"predicate":` + string(predicate) + `}`
		st, err := provenance.ParseStatement([]byte(stmt))
		mustBeMalformed(t, "ParseStatement", err)
		if err != nil {
			return
		}
		p, err := st.Provenance()
		mustBeMalformed(t, "Provenance", err)
		if p != nil && len(p.ResolvedDependencies) > provenance.MaxDependencies {
			t.Fatalf("%d dependencies", len(p.ResolvedDependencies))
		}
		v, err := st.VSA()
		mustBeMalformed(t, "VSA", err)
		if v != nil && v.Result != provenance.VerificationPassed && v.Result != provenance.VerificationFailed {
			t.Fatalf("VSA result %q", v.Result)
		}
	})
}
