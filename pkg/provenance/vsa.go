package provenance

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	vsa1 "github.com/in-toto/attestation/go/predicates/vsa/v1"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// The verification results a VSA states.
const (
	VerificationPassed = "PASSED"
	VerificationFailed = "FAILED"
)

// VSA is what a SLSA verification summary attestation (v1) says: who verified the resource
// against which policy, when, with what result, and at which SLSA levels.
type VSA struct {
	VerifierID   string     `json:"verifier_id"`
	TimeVerified *time.Time `json:"time_verified,omitempty"`
	// ResourceURI names the verified artifact, e.g. "pkg:npm/x@1" or
	// "gce_image://project:image".
	ResourceURI  string            `json:"resource_uri"`
	PolicyURI    string            `json:"policy_uri,omitempty"`
	PolicyDigest map[string]string `json:"policy_digest,omitempty"`
	// InputAttestations are the attestations the verifier read, at most MaxDependencies.
	InputAttestations []evidence.Dependency `json:"input_attestations,omitempty"`
	// Result is VerificationPassed or VerificationFailed.
	Result string `json:"verification_result"`
	// VerifiedLevels are e.g. "SLSA_BUILD_LEVEL_2"; DependencyLevels count the dependencies
	// verified at each level.
	VerifiedLevels   []string          `json:"verified_levels,omitempty"`
	DependencyLevels map[string]uint64 `json:"dependency_levels,omitempty"`
	SLSAVersion      string            `json:"slsa_version,omitempty"`
}

// Passed reports whether the verification passed.
func (v *VSA) Passed() bool { return v.Result == VerificationPassed }

// VSA reads a SLSA verification summary (predicate type
// https://slsa.dev/verification_summary/v1). For other predicate types, including older VSA
// versions, it returns nil and no error. Errors are *MalformedError: a field of the wrong JSON
// type, or a missing verifier.id or resourceUri, or a verificationResult that is neither
// PASSED nor FAILED.
func (s *Statement) VSA() (*VSA, error) {
	if s.PredicateType() != PredicateVSAv1 {
		return nil, nil
	}
	var p vsa1.VerificationSummary
	if err := decodePredicate(s.st.GetPredicate(), &p); err != nil {
		return nil, err
	}
	out := &VSA{
		VerifierID:     p.GetVerifier().GetId(),
		TimeVerified:   timeOf(p.GetTimeVerified()),
		ResourceURI:    p.GetResourceUri(),
		PolicyURI:      p.GetPolicy().GetUri(),
		Result:         p.GetVerificationResult(),
		VerifiedLevels: slices.Clone(p.GetVerifiedLevels()),
		SLSAVersion:    p.GetSlsaVersion(),
	}
	if len(p.GetPolicy().GetDigest()) > 0 {
		out.PolicyDigest = maps.Clone(p.GetPolicy().GetDigest())
	}
	if len(p.GetDependencyLevels()) > 0 {
		out.DependencyLevels = maps.Clone(p.GetDependencyLevels())
	}
	for _, in := range p.GetInputAttestations() {
		out.InputAttestations = appendDependency(out.InputAttestations, in.GetUri(), in.GetDigest())
	}
	switch {
	case out.VerifierID == "":
		return nil, malformed("predicate.verifier.id", errors.New("required"))
	case out.ResourceURI == "":
		return nil, malformed("predicate.resourceUri", errors.New("required"))
	case out.Result != VerificationPassed && out.Result != VerificationFailed:
		return nil, malformed("predicate.verificationResult", fmt.Errorf("%q is neither %s nor %s", out.Result, VerificationPassed, VerificationFailed))
	}
	return out, nil
}
