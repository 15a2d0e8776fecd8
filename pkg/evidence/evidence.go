package evidence

import "time"

// Kind says what a document is evidence of.
type Kind string

// The kinds of evidence the pipeline collects.
const (
	KindProvenance  Kind = "provenance"  // an in-toto statement with a SLSA provenance predicate
	KindSBOM        Kind = "sbom"        // a CycloneDX or SPDX document, bare or as a predicate
	KindSignature   Kind = "signature"   // a signature over the image itself
	KindAttestation Kind = "attestation" // any other in-toto predicate (VSA, vuln scan, …)
	KindUnknown     Kind = "unknown"     // found attached but not understood
)

// SignatureType says how a document was signed.
type SignatureType string

// The signature types.
const (
	SignatureNone    SignatureType = "none"    // not signed
	SignatureKeyless SignatureType = "keyless" // Sigstore keyless: a Fulcio certificate
	SignatureKey     SignatureType = "key"     // a configured public key
)

// Signer is who signed a document, as the verified certificate or key says.
type Signer struct {
	Type SignatureType `json:"type"`
	// Issuer is the OIDC issuer of a keyless certificate.
	Issuer string `json:"issuer,omitempty"`
	// Identity is the certificate's subject alternative name (keyless) or the name of the
	// configured key that verified the signature (key).
	Identity string `json:"identity,omitempty"`
	// The GitHub workflow claims of a Fulcio certificate, when present.
	SourceRepository  string `json:"source_repository,omitempty"`
	SourceRef         string `json:"source_ref,omitempty"`
	SourceDigest      string `json:"source_digest,omitempty"`
	BuildSignerURI    string `json:"build_signer_uri,omitempty"`
	BuildConfigURI    string `json:"build_config_uri,omitempty"`
	RunnerEnvironment string `json:"runner_environment,omitempty"`
}

// Verification is the outcome of checking a document's signature.
type Verification struct {
	// Verified is true only when the signature checked out against trusted material.
	Verified bool `json:"verified"`
	// Error says why verification failed; empty when Verified or unsigned.
	Error string `json:"error,omitempty"`
	// IdentityMismatch is true when the signature verified cryptographically but the signer
	// is not an identity the organisation expects; Verified is then false.
	IdentityMismatch bool    `json:"identity_mismatch,omitempty"`
	Signer           *Signer `json:"signer,omitempty"`
	// TlogEntries counts verified transparency log entries; Timestamps verified RFC 3161 ones.
	TlogEntries int       `json:"tlog_entries"`
	Timestamps  int       `json:"timestamps"`
	SignedAt    time.Time `json:"signed_at,omitempty"`
}

// Provenance is what a SLSA provenance predicate (v0.1, v0.2 or v1) says about how an artifact
// was built, normalised across the predicate versions and builders. Fields the provenance does
// not state are left empty.
type Provenance struct {
	BuildType string `json:"build_type,omitempty"`
	BuilderID string `json:"builder_id,omitempty"`
	// SourceRepository is the repository built from, as a URL without "git+" or ".git"
	// ("https://github.com/o/r"); SourceRef the git ref ("refs/tags/v1"); SourceDigest the
	// commit.
	SourceRepository string `json:"source_repository,omitempty"`
	SourceRef        string `json:"source_ref,omitempty"`
	SourceDigest     string `json:"source_digest,omitempty"`
	// PredicateVersion is the SLSA provenance version read: "v0.1", "v0.2" or "v1".
	PredicateVersion string `json:"predicate_version,omitempty"`
	// Workflow is the build definition the builder ran: a GitHub workflow's path in the source
	// repository (".github/workflows/release.yml"), or its full workflow ref when it lives in
	// another repository, or a Cloud Build config file ("cloudbuild.yaml").
	Workflow string `json:"workflow,omitempty"`
	// EventName is the CI event that started the build, e.g. GitHub's "push" or "release".
	EventName string `json:"event_name,omitempty"`
	// RunnerEnvironment is "github-hosted" or "self-hosted" when the provenance says which.
	RunnerEnvironment string `json:"runner_environment,omitempty"`
	// InvocationID identifies the build run, e.g. a GitHub Actions run attempt URL.
	InvocationID string     `json:"invocation_id,omitempty"`
	StartedOn    *time.Time `json:"started_on,omitempty"`
	FinishedOn   *time.Time `json:"finished_on,omitempty"`
	// ResolvedDependencies are the build's inputs (SLSA v1 resolvedDependencies, v0.x
	// materials), in order; parsers may cap how many they keep.
	ResolvedDependencies []Dependency `json:"resolved_dependencies,omitempty"`
}

// Dependency is one input of a build: where it came from and its digests by algorithm
// (e.g. "gitCommit", "sha256"), exactly as the provenance states them.
type Dependency struct {
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// SBOM describes a software bill of materials document; the raw document itself is kept
// elsewhere and named by Ref.
type SBOM struct {
	Format      string `json:"format"` // "cyclonedx" or "spdx"
	SpecVersion string `json:"spec_version,omitempty"`
	Components  int    `json:"components"`
	// Ref names the stored raw document (its digest), when it was kept.
	Ref string `json:"ref,omitempty"`
}

// Evidence is one document found for an artifact, with what was learnt from it.
type Evidence struct {
	// ID is the digest of the document's raw bytes.
	ID        Digest `json:"id"`
	Kind      Kind   `json:"kind"`
	MediaType string `json:"media_type,omitempty"`
	// Source says where the document was found, e.g. "oci-referrers" or "cosign-tag".
	Source        string `json:"source"`
	PredicateType string `json:"predicate_type,omitempty"`
	// Subjects are the digests the document's statement names.
	Subjects []Digest `json:"subjects,omitempty"`
	// SubjectMatch is true when one of Subjects is the artifact's digest.
	SubjectMatch bool         `json:"subject_match"`
	Signed       bool         `json:"signed"`
	Verification Verification `json:"verification"`
	Provenance   *Provenance  `json:"provenance,omitempty"`
	SBOM         *SBOM        `json:"sbom,omitempty"`
	// Malformed says why the document could not be parsed; empty when it was.
	Malformed string `json:"malformed,omitempty"`
}

// Validate reports whether e has an ID, a kind and a source.
func (e Evidence) Validate() error {
	if err := e.ID.Validate(); err != nil {
		return err
	}
	if e.Kind == "" || e.Source == "" {
		return invalidf("evidence %s: kind and source are required", e.ID)
	}
	return nil
}

// ArtifactEvidence is the complete evidence set collected for one artifact at one time,
// including what failed to verify or parse.
type ArtifactEvidence struct {
	Image       ImageRef   `json:"image"`
	CollectedAt time.Time  `json:"collected_at"`
	Evidence    []Evidence `json:"evidence"`
	// Errors are problems met while collecting (registry errors, oversized documents); the
	// evidence that could be collected is still listed.
	Errors []string `json:"errors,omitempty"`
}

// Validate reports whether a is about a valid image and every piece of evidence is valid.
func (a ArtifactEvidence) Validate() error {
	if err := a.Image.Validate(); err != nil {
		return err
	}
	for _, e := range a.Evidence {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// HasVerifiedProvenance reports whether any provenance for the artifact's digest verified.
func (a ArtifactEvidence) HasVerifiedProvenance() bool {
	for _, e := range a.Evidence {
		if e.Kind == KindProvenance && e.SubjectMatch && e.Verification.Verified {
			return true
		}
	}
	return false
}
