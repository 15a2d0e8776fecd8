package provenance_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// payloadOf returns the DSSE payload of a Sigstore bundle file from the corpus.
func payloadOf(t *testing.T, rel string) []byte {
	t.Helper()
	var b struct {
		DSSEEnvelope struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(testcorpus.Read(t, rel), &b); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRealProvenance(t *testing.T) {
	tests := []struct {
		name      string
		payload   func(t *testing.T) []byte
		predicate string
		subject   evidence.Digest
		subjects  int
		want      *evidence.Provenance
	}{
		{
			name: "SLSA v1 from GitHub Actions (sigstore-js)",
			payload: func(t *testing.T) []byte {
				return payloadOf(t, "sigstore/sigstore-go/sigstore.js@2.0.0-provenance.sigstore.json")
			},
			predicate: provenance.PredicateSLSAv1,
			subject:   "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c",
			subjects:  1,
			want: &evidence.Provenance{
				BuildType:        "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
				BuilderID:        "https://github.com/actions/runner/github-hosted",
				SourceRepository: "https://github.com/sigstore/sigstore-js",
				SourceRef:        "refs/heads/main",
				SourceDigest:     "f0b49a04e5a62250e0f60fb128004a73110fe311",
			},
		},
		{
			name: "SLSA v0.2 from slsa-github-generator",
			payload: func(t *testing.T) []byte {
				return payloadOf(t, "slsa-verifier/gha_generic/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl")
			},
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:376e7e01348585b6e6643bc6663146b9d525d9b41228bf180eaeb4d4a3706caa",
			subjects:  1,
			want: &evidence.Provenance{
				BuildType:        "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
				BuilderID:        "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.1.0",
				SourceRepository: "https://github.com/slsa-framework/example-package",
				SourceRef:        "refs/tags/v13.0.30",
				SourceDigest:     "4d329c75e7ec1725f7c9ce917a8799d408d06be3",
			},
		},
		{
			name: "unsigned SLSA v0.2 statement with a non-URI builder (Kubernetes release)",
			payload: func(t *testing.T) []byte {
				return testcorpus.Read(t, "misc/kubernetes/guac-kubectl-linux-amd64.slsa-v0.2.statement.json")
			},
			predicate: provenance.PredicateSLSAv02,
			subject:   "sha256:8202add66a93bcb7219ed7bb16438caf82a80c60348cace2381c678b99d65638",
			subjects:  75,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := provenance.ParseStatement(tc.payload(t))
			if err != nil {
				t.Fatal(err)
			}
			if st.PredicateType() != tc.predicate || st.Kind() != evidence.KindProvenance {
				t.Errorf("predicate %q kind %q", st.PredicateType(), st.Kind())
			}
			if n := len(st.SubjectDigests()); n != tc.subjects {
				t.Errorf("%d subject digests, want %d", n, tc.subjects)
			}
			if !st.Names(tc.subject) || st.Names("sha256:0000000000000000000000000000000000000000000000000000000000000000") {
				t.Errorf("Names: wrong answer for %s", tc.subject)
			}
			p, err := st.Provenance()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, p); diff != "" {
					t.Errorf("provenance (-want +got):\n%s", diff)
				}
			} else if p == nil || p.BuilderID != "Project Collection Build Service (AzureContainerUpstream)" {
				t.Errorf("provenance = %+v", p)
			}
		})
	}
}

func TestParseStatementRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":         `{"_type":`,
		"wrong type":       `{"_type":"https://example.com/Statement","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`,
		"no subject":       `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`,
		"no digest":        `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x","predicate":{}}`,
		"no predicate":     `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"x"}`,
		"array not object": `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := provenance.ParseStatement([]byte(in)); !errors.Is(err, provenance.ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for pt, want := range map[string]evidence.Kind{
		"https://slsa.dev/provenance/v1":           evidence.KindProvenance,
		"https://slsa.dev/provenance/v0.2":         evidence.KindProvenance,
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
		"git+https://github.com/o/r.git": "https://github.com/o/r",
		"github.com/o/r":                 "https://github.com/o/r",
		"https://github.com/o/r/":        "https://github.com/o/r",
		"":                               "",
	} {
		if got := provenance.NormalizeRepository(in); got != want {
			t.Errorf("NormalizeRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"runDetails":{"builder":{"id":"x"}}}}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"invocation":{"configSource":{"uri":"git+https://x@"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := provenance.ParseStatement(data)
		if err != nil {
			if !errors.Is(err, provenance.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		_ = st.SubjectDigests()
		if _, err := st.Provenance(); err != nil && !errors.Is(err, provenance.ErrMalformed) {
			t.Fatalf("Provenance error not ErrMalformed: %v", err)
		}
	})
}
