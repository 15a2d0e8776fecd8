package verdict_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/cmd/aspm/internal/verdict"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
)

func TestNewAndRender(t *testing.T) {
	d1 := evidence.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")
	evs := []evidence.Evidence{
		{Kind: evidence.KindProvenance, PredicateType: "https://slsa.dev/provenance/v1", Signed: true, Subjects: []evidence.Digest{d1}, SubjectMatch: true,
			Verification: evidence.Verification{Verified: true, Signer: &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "iss", Identity: "id", SourceRepository: "https://github.com/o/r", SourceDigest: "abc", RunnerEnvironment: "github-hosted"}},
			Provenance:   &evidence.Provenance{BuilderID: "b"}},
		{Kind: evidence.KindAttestation, PredicateType: "https://slsa.dev/verification_summary/v1", Subjects: []evidence.Digest{d1}},
		{Kind: evidence.KindSBOM, SBOM: &evidence.SBOM{Format: "spdx", Components: 4}, SubjectMatch: true},
		{Kind: evidence.KindUnknown, Malformed: "unsupported"},
	}
	d := policy.Decision{Level: 2, Risk: 10, Gaps: []evidence.Gap{{Code: "sbom.unsigned", Severity: "low", Message: "m"}, {Code: "sbom.unsigned", Severity: "low", Message: "m2"}}}
	v := verdict.New(verdict.Artifact{}, "prod", evs, d)
	if diff := cmp.Diff([]evidence.Digest{d1}, v.Artifact.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	kinds := []string{}
	for _, e := range v.Evidence {
		kinds = append(kinds, e.Kind)
	}
	if diff := cmp.Diff([]string{"provenance", "vsa", "sbom", "other"}, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	p := v.Evidence[0]
	if p.SourceURI != "https://github.com/o/r" || p.SourceDigest != "abc" || p.Signer.Identity != "id" || p.RunnerEnvironment != "github-hosted" {
		t.Errorf("provenance falls back to the certificate's source: %+v", p)
	}
	if v.Evidence[1].Error != "not signed" || v.Evidence[3].Error != "unsupported" || *v.Evidence[2].Components != 4 {
		t.Errorf("flattened evidence %+v", v.Evidence)
	}
	if diff := cmp.Diff([]string{"sbom.unsigned"}, v.Gaps); diff != "" {
		t.Errorf("gap codes are listed once (-want +got):\n%s", diff)
	}

	var buf bytes.Buffer
	if err := verdict.WriteJSON(&buf, v); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"artifact", "evidence", "slsa_level", "gaps", "risk"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	buf.Reset()
	if err := verdict.WriteText(&buf, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"subject", "builder", "https://github.com/o/r @ abc", "spdx, 4 components", "SLSA level  L2 (in prod)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestGate(t *testing.T) {
	v := verdict.Verdict{SLSALevel: 2, Gaps: []string{"sbom.missing"}}
	tests := []struct {
		gate verdict.Gate
		n    int
	}{
		{verdict.Gate{}, 0},
		{verdict.Gate{MinLevel: 2}, 0},
		{verdict.Gate{MinLevel: 3}, 1},
		{verdict.Gate{DenyGaps: []string{"tlog.missing"}}, 0},
		{verdict.Gate{MinLevel: 3, DenyGaps: []string{"sbom.missing", "tlog.missing"}}, 2},
	}
	for _, tc := range tests {
		if got := tc.gate.Check(v); len(got) != tc.n {
			t.Errorf("%+v: %v, want %d reasons", tc.gate, got, tc.n)
		}
	}
}
