// Package collect gathers every document attached to an artifact in its registry, verifies
// the signed ones and parses them into one evidence set.
package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/verify"
)

// SourceReferrers names evidence found through the OCI 1.1 referrers API (or its tag schema).
const SourceReferrers = "oci-referrers"

// Registry is the registry access Collector needs.
type Registry interface {
	Referrers(ctx context.Context, img evidence.ImageRef) ([]oci.Attachment, error)
	Blob(ctx context.Context, repo string, l oci.Layer) ([]byte, error)
}

// Verifier checks Sigstore bundles.
type Verifier interface {
	VerifyBundle(b *bundle.Bundle) (verify.Result, error)
}

var (
	_ Registry = (*oci.Client)(nil)
	_ Verifier = (*verify.Verifier)(nil)
)

// Collector builds evidence sets. It is safe for concurrent use.
type Collector struct {
	reg Registry
	ver Verifier
	now func() time.Time
}

// New returns a Collector reading from reg and verifying with ver.
func New(reg Registry, ver Verifier) *Collector {
	return &Collector{reg: reg, ver: ver, now: time.Now}
}

// Collect lists img's attachments and turns each into evidence. A document that cannot be
// read because it is too large, or cannot be parsed or verified, is still listed, with the
// reason. An error is returned only when the registry could not be asked (retry later).
func (c *Collector) Collect(ctx context.Context, img evidence.ImageRef) (evidence.ArtifactEvidence, error) {
	out := evidence.ArtifactEvidence{Image: img, CollectedAt: c.now().UTC(), Evidence: []evidence.Evidence{}}
	atts, err := c.reg.Referrers(ctx, img)
	if err != nil {
		if !errors.Is(err, oci.ErrTooLarge) {
			return out, fmt.Errorf("collecting evidence for %s: %w", img, err)
		}
		out.Errors = append(out.Errors, err.Error())
	}
	for _, a := range atts {
		for _, l := range a.Layers {
			ev, err := c.layer(ctx, img, a, l)
			if err != nil {
				return out, err
			}
			out.Evidence = append(out.Evidence, ev)
		}
	}
	return out, nil
}

func isBundle(mt string) bool { return strings.HasPrefix(mt, "application/vnd.dev.sigstore.bundle") }

func isInToto(mt string) bool {
	return mt == "application/vnd.in-toto+json" || strings.HasPrefix(mt, "application/vnd.in-toto.")
}

func isSBOM(mt string) bool {
	return strings.HasPrefix(mt, sbom.MediaTypeCycloneDX) || strings.HasPrefix(mt, sbom.MediaTypeSPDX) ||
		mt == "text/spdx+json"
}

// layer turns one attached blob into evidence. Only a failure to reach the registry is an error.
func (c *Collector) layer(ctx context.Context, img evidence.ImageRef, a oci.Attachment, l oci.Layer) (evidence.Evidence, error) {
	ev := evidence.Evidence{ID: l.Digest, MediaType: l.MediaType, Source: SourceReferrers, Kind: evidence.KindUnknown}
	if pt := a.Annotations["dev.sigstore.bundle.predicateType"]; pt != "" {
		ev.PredicateType = pt
		ev.Kind = provenance.KindOf(pt)
	}
	mt := l.MediaType
	if isSBOM(mt) {
		ev.Kind = evidence.KindSBOM
	}
	if !isBundle(mt) && !isInToto(mt) && !isSBOM(mt) {
		ev.Malformed = fmt.Sprintf("unsupported attachment: artifact type %q, media type %q", a.ArtifactType, mt)
		return ev, nil
	}
	data, err := c.reg.Blob(ctx, img.Repository, l)
	if errors.Is(err, oci.ErrTooLarge) {
		ev.Malformed = err.Error()
		return ev, nil
	}
	if err != nil {
		return ev, fmt.Errorf("collecting evidence for %s: %w", img, err)
	}
	ev.ID = digestOf(data)
	switch {
	case isBundle(mt):
		c.fromBundle(&ev, img, data)
	case isInToto(mt):
		fromStatement(&ev, img, data)
	default:
		fromSBOM(&ev, data)
	}
	return ev, nil
}

func digestOf(b []byte) evidence.Digest {
	h := sha256.Sum256(b)
	return evidence.Digest("sha256:" + hex.EncodeToString(h[:]))
}

func (c *Collector) fromBundle(ev *evidence.Evidence, img evidence.ImageRef, data []byte) {
	ev.Signed = true
	var b bundle.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		ev.Malformed = "parsing Sigstore bundle: " + err.Error()
		return
	}
	res, err := c.ver.VerifyBundle(&b)
	if err != nil {
		ev.Malformed = "reading Sigstore bundle: " + err.Error()
		return
	}
	ev.Verification = res.Verification
	if res.Payload == nil {
		// A message signature over the artifact itself.
		ev.Kind = evidence.KindSignature
		return
	}
	fromStatement(ev, img, res.Payload)
}

// fromStatement fills ev from an in-toto statement.
func fromStatement(ev *evidence.Evidence, img evidence.ImageRef, payload []byte) {
	st, err := provenance.ParseStatement(payload)
	if err != nil {
		ev.Malformed = err.Error()
		return
	}
	ev.PredicateType = st.PredicateType()
	ev.Kind = st.Kind()
	ev.Subjects = st.SubjectDigests()
	ev.SubjectMatch = st.Names(img.Digest)
	switch ev.Kind {
	case evidence.KindProvenance:
		p, err := st.Provenance()
		if err != nil {
			ev.Malformed = err.Error()
			return
		}
		ev.Provenance = p
	case evidence.KindSBOM:
		pred, err := st.Predicate()
		if err != nil {
			ev.Malformed = err.Error()
			return
		}
		doc, err := sbom.Parse(pred)
		if err != nil {
			ev.Malformed = err.Error()
			return
		}
		ev.SBOM = &doc.Summary
	}
}

// fromSBOM fills ev from a bare SBOM attached to the artifact; being attached to it is what
// makes it about the artifact.
func fromSBOM(ev *evidence.Evidence, data []byte) {
	ev.Kind = evidence.KindSBOM
	ev.SubjectMatch = true
	doc, err := sbom.Parse(data)
	if err != nil {
		ev.Malformed = err.Error()
		return
	}
	ev.SBOM = &doc.Summary
}
