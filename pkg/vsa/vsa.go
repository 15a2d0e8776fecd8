// Package vsa issues and checks SLSA verification summary attestations (VSA v1): an in-toto
// statement saying that a verifier checked an artifact against a policy and at which SLSA
// level it passed, signed with a configured key as a Sigstore bundle (DSSE, no Fulcio or Rekor)
// and attached to the artifact in its registry as an OCI referrer, so that an admission
// controller can enforce one small attestation instead of re-verifying all the evidence.
package vsa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	vsa1 "github.com/in-toto/attestation/go/predicates/vsa/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
)

// PredicateType is the SLSA verification summary v1 predicate type.
const PredicateType = provenance.PredicateVSAv1

// Defaults.
const (
	// DefaultVerifierID is the verifier.id of VSAs the scorer issues unless configured.
	DefaultVerifierID = "https://github.com/aspmhq/aspm/scorer"
	// DefaultPolicyURI is the policy.uri base of VSAs issued with the built-in policies.
	DefaultPolicyURI = "https://github.com/aspmhq/aspm/policies"
	// PolicyDigestAlgorithm names the policy version in policy.digest: the first 12 hex digits
	// of the SHA-256 over the policy files (policy.Engine.Version). It is not a full sha256,
	// so it is a custom DigestSet algorithm, which the in-toto spec allows.
	PolicyDigestAlgorithm = "aspmPolicyVersion"
	// SLSAVersion is the SLSA specification version the levels refer to.
	SLSAVersion = "1.0"
)

// The verification results.
const (
	Passed = provenance.VerificationPassed
	Failed = provenance.VerificationFailed
)

// MaxInputAttestations bounds the input attestations a VSA lists.
const MaxInputAttestations = 64

// ErrInvalid is wrapped by the errors of Summary.Validate and Statement.
var ErrInvalid = errors.New("invalid verification summary")

// Summary is what one VSA says: Verifier checked Image against the policy (PolicyURI at
// PolicyVersion, for Environment) at TimeVerified, reading InputAttestations, and the artifact
// passed at build level Level.
type Summary struct {
	Image        evidence.ImageRef
	VerifierID   string
	TimeVerified time.Time
	// PolicyURI is the policy's base URI; the environment is added as the "env" query
	// parameter, so that the signed statement says which environment's requirements held.
	PolicyURI     string
	PolicyVersion string
	Environment   string
	// InputAttestations are the documents the decision read, by digest.
	InputAttestations []evidence.Digest
	Result            string
	Level             evidence.Level
}

// Validate reports whether s can be issued; errors wrap ErrInvalid.
func (s Summary) Validate() error {
	var errs []error
	if err := s.Image.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.VerifierID == "" {
		errs = append(errs, errors.New("verifier id is required"))
	}
	if s.TimeVerified.IsZero() {
		errs = append(errs, errors.New("time verified is required"))
	}
	if s.PolicyURI == "" || s.PolicyVersion == "" || s.Environment == "" {
		errs = append(errs, errors.New("policy uri, version and environment are required"))
	}
	if s.Result != Passed && s.Result != Failed {
		errs = append(errs, fmt.Errorf("result %q: want %s or %s", s.Result, Passed, Failed))
	}
	if err := s.Level.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(s.InputAttestations) > MaxInputAttestations {
		errs = append(errs, fmt.Errorf("%d input attestations: at most %d", len(s.InputAttestations), MaxInputAttestations))
	}
	for _, d := range s.InputAttestations {
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("input attestation: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// LevelName is the verifiedLevels entry for build level l, e.g. "SLSA_BUILD_LEVEL_3".
func LevelName(l evidence.Level) string { return "SLSA_BUILD_LEVEL_" + strconv.Itoa(int(l)) }

// ParseLevel reads a verifiedLevels entry of the build track; ok is false for other entries.
func ParseLevel(s string) (evidence.Level, bool) {
	n, found := strings.CutPrefix(s, "SLSA_BUILD_LEVEL_")
	if !found {
		return 0, false
	}
	l, err := strconv.Atoi(n)
	if err != nil || evidence.Level(l).Validate() != nil {
		return 0, false
	}
	return evidence.Level(l), true
}

// PolicyURIFor returns base with the environment as its "env" query parameter.
func PolicyURIFor(base, env string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "env=" + env
}

// EnvironmentOf returns the "env" query parameter of a policy URI made by PolicyURIFor.
func EnvironmentOf(policyURI string) string {
	_, q, ok := strings.Cut(policyURI, "?")
	if !ok {
		return ""
	}
	for _, kv := range strings.Split(q, "&") {
		if v, ok := strings.CutPrefix(kv, "env="); ok {
			return v
		}
	}
	return ""
}

// Statement returns s as an in-toto v1 statement whose subject is the image digest: compact
// JSON, the statement's fields in the in-toto order and the predicate's sorted, so the same
// summary always yields the same bytes. The
// verified levels list the one build-track level reached, since each level implies those
// below it; dependencyLevels are omitted. Errors wrap ErrInvalid.
func Statement(s Summary) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	pred := &vsa1.VerificationSummary{
		Verifier:     &vsa1.VerificationSummary_Verifier{Id: s.VerifierID},
		TimeVerified: timestamppb.New(s.TimeVerified.UTC().Truncate(time.Second)),
		ResourceUri:  s.Image.String(),
		Policy: &vsa1.VerificationSummary_Policy{
			Uri:    PolicyURIFor(s.PolicyURI, s.Environment),
			Digest: map[string]string{PolicyDigestAlgorithm: s.PolicyVersion},
		},
		VerificationResult: s.Result,
		VerifiedLevels:     []string{LevelName(s.Level)},
		SlsaVersion:        SLSAVersion,
	}
	if s.Result == Failed {
		pred.VerifiedLevels = []string{Failed}
	}
	inputs := slices.Clone(s.InputAttestations)
	slices.Sort(inputs)
	for _, d := range slices.Compact(inputs) {
		pred.InputAttestations = append(pred.InputAttestations, &vsa1.VerificationSummary_InputAttestation{
			Digest: map[string]string{d.Algorithm(): d.Hex()},
		})
	}
	raw, err := protojson.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("encoding VSA predicate: %w", err)
	}
	ps := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, ps); err != nil {
		return nil, fmt.Errorf("encoding VSA predicate: %w", err)
	}
	st := &intoto.Statement{
		Type: intoto.StatementTypeUri,
		Subject: []*intoto.ResourceDescriptor{{
			Name:   s.Image.Repository,
			Digest: map[string]string{s.Image.Digest.Algorithm(): s.Image.Digest.Hex()},
		}},
		PredicateType: PredicateType,
		Predicate:     ps,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	// protojson varies its whitespace on purpose; compact it so the bytes are stable.
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	return buf.Bytes(), nil
}
