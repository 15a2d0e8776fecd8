// Package collect turns attached documents into evidence: it gathers every document attached
// to an artifact in its registry (or reads one given as a file), verifies the signed ones and
// parses them into one evidence set. Ingest and `aspm verify` share it.
package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/aspmhq/aspm/pkg/dsse"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/verify"
)

// Sources of evidence.
const (
	// SourceReferrers names evidence found through the OCI 1.1 referrers API (or its tag schema).
	SourceReferrers = "oci-referrers"
	// SourceFile names evidence read from a file given by the user.
	SourceFile = "file"
)

// Registry is the registry access Collector needs.
type Registry interface {
	Referrers(ctx context.Context, img evidence.ImageRef) ([]oci.Attachment, error)
	Blob(ctx context.Context, repo string, l oci.Layer) ([]byte, error)
}

// Verifier checks Sigstore bundles.
type Verifier interface {
	Verify(b *bundle.Bundle, opts verify.Options) (verify.Result, error)
}

var (
	_ Registry = (*oci.Client)(nil)
	_ Verifier = (*verify.Verifier)(nil)
)

// Collector builds evidence sets. It is safe for concurrent use.
type Collector struct {
	reg  Registry
	ver  Verifier
	dsse EnvelopeTrust
	now  func() time.Time
}

// EnvelopeTrust is what raw DSSE envelopes (not Sigstore bundles) are checked against: named
// keys — Cloud Build's regional keys sign the raw payload, so RawPayloadKeys names those
// allowed to — and, for envelopes carrying a Fulcio certificate, the trusted roots.
type EnvelopeTrust struct {
	Keys           []verify.TrustedKey
	RawPayloadKeys []string
	Roots          []verify.NamedRoot
}

// New returns a Collector reading from reg, verifying bundles with ver and raw DSSE envelopes
// with env.
func New(reg Registry, ver Verifier, env EnvelopeTrust) *Collector {
	return &Collector{reg: reg, ver: ver, dsse: env, now: time.Now}
}

// Collect lists img's attachments and turns each into evidence, verifying signatures with
// opts (the roots and identities the deploying organisation trusts). A document that cannot be
// read because it is too large, or cannot be parsed or verified, is still listed, with the
// reason. An error is returned only when the registry could not be asked (retry later).
func (c *Collector) Collect(ctx context.Context, img evidence.ImageRef, opts verify.Options) (evidence.ArtifactEvidence, error) {
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
			ev, err := c.layer(ctx, img, a, l, opts)
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

func isDSSE(mt string) bool { return mt == dsse.MediaType }

func isSBOM(mt string) bool {
	return strings.HasPrefix(mt, sbom.MediaTypeCycloneDX) || strings.HasPrefix(mt, sbom.MediaTypeCycloneDXXML) ||
		strings.HasPrefix(mt, sbom.MediaTypeSPDX) ||
		mt == "text/spdx+json"
}

// layer turns one attached blob into evidence. Only a failure to reach the registry is an error.
func (c *Collector) layer(ctx context.Context, img evidence.ImageRef, a oci.Attachment, l oci.Layer, opts verify.Options) (evidence.Evidence, error) {
	ev := evidence.Evidence{ID: l.Digest, MediaType: l.MediaType, Source: SourceReferrers, Kind: evidence.KindUnknown}
	if pt := a.Annotations["dev.sigstore.bundle.predicateType"]; pt != "" {
		ev.PredicateType = pt
		ev.Kind = provenance.KindOf(pt)
	}
	mt := l.MediaType
	if isSBOM(mt) {
		ev.Kind = evidence.KindSBOM
	}
	if !isBundle(mt) && !isInToto(mt) && !isSBOM(mt) && !isDSSE(mt) {
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
		c.fromBundle(&ev, img, data, opts)
	case isInToto(mt):
		fromStatement(&ev, img, data)
	case isDSSE(mt):
		envs, err := dsse.Parse(data)
		if err != nil || len(envs) != 1 {
			ev.Malformed = fmt.Sprintf("reading DSSE envelope: %v (%d envelopes)", err, len(envs))
			return ev, nil
		}
		c.fromEnvelope(&ev, img, envs[0])
	default:
		fromSBOM(&ev, data)
	}
	return ev, nil
}

func digestOf(b []byte) evidence.Digest {
	h := sha256.Sum256(b)
	return evidence.Digest("sha256:" + hex.EncodeToString(h[:]))
}

func (c *Collector) fromBundle(ev *evidence.Evidence, img evidence.ImageRef, data []byte, opts verify.Options) {
	ev.Signed = true
	var b bundle.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		ev.Malformed = "parsing Sigstore bundle: " + err.Error()
		return
	}
	c.verifyBundle(ev, img, &b, opts)
}

// verifyBundle verifies b and fills ev from the result and the signed statement. An artifact
// in opts binds only message signatures: for a statement, whether it names the artifact is
// reported as SubjectMatch (a subject.mismatch), not as a failed signature.
func (c *Collector) verifyBundle(ev *evidence.Evidence, img evidence.ImageRef, b *bundle.Bundle, opts verify.Options) {
	ev.Signed = true
	ms := b.GetMessageSignature()
	if ms == nil {
		opts.Artifact, opts.ArtifactDigest = nil, ""
	}
	res, err := c.ver.Verify(b, opts)
	if err != nil {
		ev.Malformed = "reading Sigstore bundle: " + err.Error()
		return
	}
	ev.Verification = res.Verification
	if ms != nil {
		// A message signature over the artifact itself.
		ev.Kind = evidence.KindSignature
		if d := messageDigest(ms.GetMessageDigest().GetAlgorithm().String(), ms.GetMessageDigest().GetDigest()); d != "" {
			ev.Subjects = []evidence.Digest{d}
			ev.SubjectMatch = img.Digest == "" || img.Digest == d
		}
		return
	}
	fromStatement(ev, img, res.Payload)
}

// messageDigest turns a bundle's message digest ("SHA2_256", bytes) into a Digest, or "".
func messageDigest(alg string, sum []byte) evidence.Digest {
	name := map[string]string{"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}[alg]
	if name == "" || len(sum) == 0 {
		return ""
	}
	d := evidence.Digest(name + ":" + hex.EncodeToString(sum))
	if d.Validate() != nil {
		return ""
	}
	return d
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
	// Without an artifact digest (verifying a file on its own), the statement's subjects are
	// the artifact.
	ev.SubjectMatch = img.Digest == "" || st.Names(img.Digest)
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

// FromDocument turns a document given as a file into evidence about img: a Sigstore bundle, a
// list of them (JSON lines, npm's attestations response), an unsigned in-toto statement, or an
// SBOM. img.Digest may be empty, in which case every statement's subjects count as the
// artifact. Every document yields at least one piece of evidence; what cannot be read is
// reported with the reason, never dropped.
func (c *Collector) FromDocument(data []byte, img evidence.ImageRef, opts verify.Options) []evidence.Evidence {
	id := digestOf(data)
	entries, err := verify.ParseBundles(data)
	if err == nil {
		out := make([]evidence.Evidence, 0, len(entries))
		for i, e := range entries {
			ev := evidence.Evidence{ID: id, Source: SourceFile, Kind: evidence.KindUnknown, PredicateType: e.PredicateType, Signed: true}
			if len(entries) > 1 {
				if raw, err := e.Bundle.MarshalJSON(); e.Err == nil && err == nil {
					ev.ID = digestOf(raw)
				}
			}
			if e.PredicateType != "" {
				ev.Kind = provenance.KindOf(e.PredicateType)
			}
			if e.Err != nil {
				ev.Malformed = fmt.Sprintf("entry %d: %v", i, e.Err)
				out = append(out, ev)
				continue
			}
			c.verifyBundle(&ev, img, e.Bundle, opts)
			out = append(out, ev)
		}
		return out
	}
	ev := evidence.Evidence{ID: id, Source: SourceFile, Kind: evidence.KindUnknown}
	envs, derr := dsse.Parse(data)
	switch {
	case derr == nil:
		out := make([]evidence.Evidence, 0, len(envs))
		for _, env := range envs {
			e := ev
			c.fromEnvelope(&e, img, env)
			out = append(out, e)
		}
		return out
	case !errors.Is(derr, dsse.ErrNotEnvelope) && bytes.Contains(data, []byte(`"payloadType"`)):
		// Meant as a DSSE envelope, but broken: say what is wrong with it.
		ev.Malformed = derr.Error()
		return []evidence.Evidence{ev}
	}
	if _, serr := provenance.ParseStatement(data); serr == nil {
		fromStatement(&ev, img, data)
		return []evidence.Evidence{ev}
	}
	if doc, serr := sbom.Parse(data); serr == nil {
		ev.Kind, ev.SubjectMatch, ev.SBOM = evidence.KindSBOM, true, &doc.Summary
		return []evidence.Evidence{ev}
	}
	ev.Malformed = "not a Sigstore bundle, DSSE envelope, in-toto statement or SBOM: " + err.Error()
	return []evidence.Evidence{ev}
}

// fromEnvelope verifies a raw DSSE envelope — with the keys, or, when it carries a Fulcio
// certificate, against the roots (which cannot prove when it was signed, so it is reported
// with the signer it names but not as verified) — and fills ev from its statement.
func (c *Collector) fromEnvelope(ev *evidence.Evidence, img evidence.ImageRef, env dsse.Envelope) {
	ev.Signed = len(env.Signatures) > 0
	var res verify.Result
	if hasCert(env) {
		roots := make([]root.TrustedMaterial, len(c.dsse.Roots))
		for i, r := range c.dsse.Roots {
			roots[i] = r.Material
		}
		res, _ = dsse.VerifyWithEmbeddedCert(env, roots)
	} else {
		res = dsse.VerifyWithKeys(env, c.dsse.Keys, dsse.AllowRawPayload(c.dsse.RawPayloadKeys...))
	}
	ev.Verification = res.Verification
	if env.PayloadType != dsse.PayloadTypeInToto {
		ev.Malformed = fmt.Sprintf("DSSE payload type %q is not an in-toto statement", env.PayloadType)
		return
	}
	fromStatement(ev, img, env.Payload)
}

func hasCert(env dsse.Envelope) bool {
	for _, s := range env.Signatures {
		if s.Cert != "" {
			return true
		}
	}
	return false
}
