package vsa

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// Annotations of the referrer manifests Push writes. The predicate type one is what cosign
// and GitHub set on Sigstore bundle referrers (and what ingest classifies by); the others say
// which evaluation the VSA records, so that it is issued once. They are not signed: Verify
// reads only the signed statement.
const (
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
	AnnotationEnvironment   = "dev.aspm.vsa.environment"
	AnnotationPolicyVersion = "dev.aspm.vsa.policy-version"
	AnnotationLevel         = "dev.aspm.vsa.level"
)

// Registry is the registry access Push, Issued and Find need.
type Registry interface {
	Attach(ctx context.Context, img evidence.ImageRef, artifactType, layerMediaType string, data []byte, annotations map[string]string) (evidence.Digest, error)
	Referrers(ctx context.Context, img evidence.ImageRef, artifactType string) ([]oci.Attachment, error)
	Blob(ctx context.Context, repo string, l oci.Layer) ([]byte, error)
}

var _ Registry = (*oci.Client)(nil)

// Annotations returns the referrer annotations of the VSA for s.
func Annotations(s Summary) map[string]string {
	return map[string]string{
		AnnotationPredicateType: PredicateType,
		AnnotationEnvironment:   s.Environment,
		AnnotationPolicyVersion: s.PolicyVersion,
		AnnotationLevel:         strconv.Itoa(int(s.Level)),
	}
}

// Push attaches the signed VSA bundle for s to s.Image as an OCI 1.1 referrer (artifactType
// BundleMediaType, one layer). On a registry without the referrers API, the referrer is also
// listed under the referrers tag schema. It returns the referrer manifest's digest.
func Push(ctx context.Context, reg Registry, s Summary, bundle []byte) (evidence.Digest, error) {
	d, err := reg.Attach(ctx, s.Image, BundleMediaType, BundleMediaType, bundle, Annotations(s))
	if err != nil {
		return "", fmt.Errorf("pushing VSA for %s: %w", s.Image, err)
	}
	return d, nil
}

// Issued reports whether a VSA for the same environment, policy version and level as s is
// already attached to s.Image, by the referrers' annotations.
func Issued(ctx context.Context, reg Registry, s Summary) (bool, error) {
	atts, err := reg.Referrers(ctx, s.Image, BundleMediaType)
	if err != nil {
		return false, fmt.Errorf("listing VSAs of %s: %w", s.Image, err)
	}
	want := Annotations(s)
	for _, a := range atts {
		same := true
		for k, v := range want {
			if a.Annotations[k] != v {
				same = false
			}
		}
		if same {
			return true, nil
		}
	}
	return false, nil
}

// Attached is a Sigstore bundle referrer of an artifact that may be a VSA, read from the
// registry, or why it could not be read.
type Attached struct {
	Attachment oci.Attachment
	Bundle     []byte
	Err        error
}

// Find lists the referrers of img that may be VSAs — Sigstore bundles whose predicate type
// annotation is the VSA's, or is missing — and reads each bundle (under the registry client's
// read limit). A bundle that cannot be read is returned with its error; only a failure to list
// the referrers is an error.
func Find(ctx context.Context, reg Registry, img evidence.ImageRef) ([]Attached, error) {
	atts, err := reg.Referrers(ctx, img, BundleMediaType)
	if err != nil {
		return nil, fmt.Errorf("listing VSAs of %s: %w", img, err)
	}
	var out []Attached
	for _, a := range atts {
		if pt, ok := a.Annotations[AnnotationPredicateType]; ok && pt != PredicateType {
			continue
		}
		at := Attached{Attachment: a}
		if len(a.Layers) != 1 {
			at.Err = fmt.Errorf("referrer %s has %d layers, want 1", a.Digest, len(a.Layers))
		} else if a.Layers[0].Size > MaxBundleSize {
			at.Err = fmt.Errorf("referrer %s: bundle of %d bytes exceeds %d", a.Digest, a.Layers[0].Size, MaxBundleSize)
		} else {
			at.Bundle, at.Err = reg.Blob(ctx, img.Repository, a.Layers[0])
		}
		out = append(out, at)
	}
	return out, nil
}
