package evidence_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

func validEvidence() evidence.Evidence {
	return evidence.Evidence{
		ID:           evidence.Digest("sha256:" + hexOf(64)),
		Kind:         evidence.KindProvenance,
		Source:       "oci-referrers",
		SubjectMatch: true,
		Verification: evidence.Verification{Verified: true},
	}
}

func TestEvidenceValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*evidence.Evidence)
		ok     bool
	}{
		{name: "valid", modify: func(*evidence.Evidence) {}, ok: true},
		{name: "unknown kind is still a kind", modify: func(e *evidence.Evidence) { e.Kind = evidence.KindUnknown }, ok: true},
		{name: "malformed document is still evidence", modify: func(e *evidence.Evidence) { e.Malformed = "bad JSON" }, ok: true},
		{name: "no id", modify: func(e *evidence.Evidence) { e.ID = "" }},
		{name: "id not a digest", modify: func(e *evidence.Evidence) { e.ID = "sha256:xyz" }},
		{name: "no kind", modify: func(e *evidence.Evidence) { e.Kind = "" }},
		{name: "no source", modify: func(e *evidence.Evidence) { e.Source = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvidence()
			tt.modify(&e)
			err := e.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(): %v", err)
			}
			if !tt.ok && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestArtifactEvidenceValidate(t *testing.T) {
	img := evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: evidence.Digest("sha256:" + hexOf(64))}
	noSource := validEvidence()
	noSource.Source = ""
	tests := []struct {
		name string
		a    evidence.ArtifactEvidence
		ok   bool
	}{
		{name: "no evidence at all", a: evidence.ArtifactEvidence{Image: img}, ok: true},
		{name: "valid evidence", a: evidence.ArtifactEvidence{Image: img, Evidence: []evidence.Evidence{validEvidence(), validEvidence()}}, ok: true},
		{name: "collection errors are allowed", a: evidence.ArtifactEvidence{Image: img, Errors: []string{"registry: 503"}}, ok: true},
		{name: "invalid image", a: evidence.ArtifactEvidence{Image: evidence.ImageRef{Repository: "acme/api", Digest: img.Digest}}},
		{name: "zero image", a: evidence.ArtifactEvidence{Evidence: []evidence.Evidence{validEvidence()}}},
		{name: "one invalid piece of evidence after a valid one", a: evidence.ArtifactEvidence{Image: img, Evidence: []evidence.Evidence{validEvidence(), noSource}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(): %v", err)
			}
			if !tt.ok && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestHasVerifiedProvenance(t *testing.T) {
	with := func(modify func(*evidence.Evidence)) evidence.Evidence {
		e := validEvidence()
		modify(&e)
		return e
	}
	counts := with(func(*evidence.Evidence) {})
	tests := []struct {
		name     string
		evidence []evidence.Evidence
		want     bool
	}{
		{name: "none", want: false},
		{name: "verified provenance about the artifact", evidence: []evidence.Evidence{counts}, want: true},
		{name: "about another artifact", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) { e.SubjectMatch = false })}},
		{name: "not verified", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) {
			e.Verification = evidence.Verification{Verified: false, Error: "certificate identity mismatch"}
		})}},
		{name: "signed but not verified", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) {
			e.Signed = true
			e.Verification.Verified = false
		})}},
		{name: "verified SBOM", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) { e.Kind = evidence.KindSBOM })}},
		{name: "verified signature", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) { e.Kind = evidence.KindSignature })}},
		{name: "verified attestation", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) { e.Kind = evidence.KindAttestation })}},
		{name: "verified unknown", evidence: []evidence.Evidence{with(func(e *evidence.Evidence) { e.Kind = evidence.KindUnknown })}},
		{
			name: "each condition met by a different document",
			evidence: []evidence.Evidence{
				with(func(e *evidence.Evidence) { e.SubjectMatch = false }),
				with(func(e *evidence.Evidence) { e.Verification.Verified = false }),
				with(func(e *evidence.Evidence) { e.Kind = evidence.KindSBOM }),
			},
		},
		{
			name: "the last of several counts",
			evidence: []evidence.Evidence{
				with(func(e *evidence.Evidence) { e.Kind = evidence.KindSBOM }),
				with(func(e *evidence.Evidence) { e.SubjectMatch = false }),
				counts,
			},
			want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := evidence.ArtifactEvidence{Evidence: tt.evidence}
			if got := a.HasVerifiedProvenance(); got != tt.want {
				t.Errorf("HasVerifiedProvenance() = %v, want %v", got, tt.want)
			}
		})
	}
}

func ExampleArtifactEvidence_HasVerifiedProvenance() {
	a := evidence.ArtifactEvidence{
		Image:       evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		CollectedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Evidence: []evidence.Evidence{{
			ID:           "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
			Kind:         evidence.KindProvenance,
			Source:       "oci-referrers",
			SubjectMatch: true,
			Signed:       true,
			Verification: evidence.Verification{Verified: false, Error: "no matching certificate identity"},
		}},
	}
	fmt.Println(a.Validate(), a.HasVerifiedProvenance())

	a.Evidence[0].Verification = evidence.Verification{Verified: true, TlogEntries: 1}
	fmt.Println(a.Validate(), a.HasVerifiedProvenance())
	// Output:
	// <nil> false
	// <nil> true
}
