// Package collect turns attached documents into evidence: it gathers every document attached
// to an artifact in its registry (OCI 1.1 referrers, the referrers tag schema, cosign's
// legacy tags, for an image index and each of its platform manifests) or reads one given as a
// file, verifies the signed ones and parses them into one evidence set. Ingest and the CLI
// share it.
package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/aspmhq/aspm/pkg/cosign"
	"github.com/aspmhq/aspm/pkg/dsse"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/github"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/verify"
)

// SourceFile names evidence read from a file given by the user; evidence from registries is
// named by oci.Source* constants.
const SourceFile = "file"

// Registry is the registry access Collector needs.
type Registry interface {
	Discover(ctx context.Context, img evidence.ImageRef) (oci.Discovery, error)
	Blob(ctx context.Context, repo string, l oci.Layer) ([]byte, error)
}

// Verifier checks Sigstore bundles.
type Verifier interface {
	Verify(b *bundle.Bundle, opts verify.Options) (verify.Result, error)
}

// Documents keeps raw documents out of events (claim-check): SBOMs are stored under their
// digest and evidence carries the reference.
type Documents interface {
	PutDocument(ctx context.Context, d evidence.Digest, data []byte) error
}

var (
	_ Registry = (*oci.Client)(nil)
	_ Verifier = (*verify.Verifier)(nil)
)

// EnvelopeTrust is what raw DSSE envelopes (not Sigstore bundles) are checked against: named
// keys — Cloud Build's regional keys sign the raw payload, so RawPayloadKeys names those
// allowed to — and, for envelopes carrying a Fulcio certificate, the trusted roots.
type EnvelopeTrust struct {
	Keys           []verify.TrustedKey
	RawPayloadKeys []string
	Roots          []verify.NamedRoot
	// version is set by Versioned.
	version string
}

// Versioned returns t with its version (what a Cache keys on) computed once, for a process
// that makes many Collectors with the same trust; New computes it otherwise, for each.
func (t EnvelopeTrust) Versioned() EnvelopeTrust {
	t.version = t.computeVersion()
	return t
}

func (t EnvelopeTrust) computeVersion() string {
	return verify.TrustVersion(t.Roots, t.Keys) + "/" + strings.Join(t.RawPayloadKeys, ",")
}

// Attestations is GitHub's attestations API.
type Attestations interface {
	OrgAttestations(ctx context.Context, org string, d evidence.Digest, predicateType string) ([]github.Attestation, error)
}

var _ Attestations = (*github.Client)(nil)

// SourceGitHub names evidence found through GitHub's attestations API.
const SourceGitHub = "github-attestations"

// Collector builds evidence sets. It is safe for concurrent use.
type Collector struct {
	reg    Registry
	ver    Verifier
	dsse   EnvelopeTrust
	docs   Documents
	gh     Attestations
	ghOrgs []string
	now    func() time.Time
	// cache keeps documents' evidence (WithCache); trust versions the material it was
	// verified with.
	cache *Cache
	trust string
}

// Option configures a Collector.
type Option func(*Collector)

// WithDocuments stores every SBOM read in docs and records the reference in the evidence.
func WithDocuments(docs Documents) Option { return func(c *Collector) { c.docs = docs } }

// WithGitHub also asks GitHub's attestations API of each org for every artifact's digest.
func WithGitHub(api Attestations, orgs ...string) Option {
	return func(c *Collector) { c.gh, c.ghOrgs = api, orgs }
}

// New returns a Collector reading from reg, verifying bundles with ver and raw DSSE envelopes
// with env.
func New(reg Registry, ver Verifier, env EnvelopeTrust, opts ...Option) *Collector {
	c := &Collector{reg: reg, ver: ver, dsse: env, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	c.trust = trustVersion(ver, env, c.cache != nil)
	return c
}

// about is the set of digests that count as the artifact: its own and, for an image index,
// its platform manifests'. Empty means any subject counts (a file verified on its own).
type about []evidence.Digest

func (a about) names(d evidence.Digest) bool {
	for _, x := range a {
		if x == d {
			return true
		}
	}
	return false
}

func (a about) statement(st *provenance.Statement) bool {
	if len(a) == 0 {
		return true
	}
	for _, d := range a {
		if st.Names(d) {
			return true
		}
	}
	return false
}

// Collect discovers img's attachments and turns each into evidence, verifying signatures
// with opts (the roots and identities the deploying organisation trusts). A document that is
// too large, missing, malformed or unsupported is still listed, with the reason; problems
// that stop a whole attachment are listed in Errors; the rest of the evidence still counts.
// An error is returned only when the registry could not be asked at all (retry later).
func (c *Collector) Collect(ctx context.Context, img evidence.ImageRef, opts verify.Options) (evidence.ArtifactEvidence, error) {
	out := evidence.ArtifactEvidence{Image: img, CollectedAt: c.now().UTC(), Evidence: []evidence.Evidence{}}
	disc, err := c.reg.Discover(ctx, img)
	if err != nil {
		return out, fmt.Errorf("collecting evidence for %s: %w", img, err)
	}
	out.Errors = append(out.Errors, disc.Problems...)
	targets := append(about{img.Digest}, disc.Children...)
	for _, a := range disc.Attachments {
		for i, l := range a.Layers {
			ev, err := c.layer(ctx, img, targets, a, i, l, opts)
			if err != nil {
				return out, err
			}
			out.Evidence = append(out.Evidence, ev)
		}
	}
	for _, org := range c.ghOrgs {
		evs, err := c.fromGitHub(ctx, org, targets, opts)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			// GitHub being down or rate limited must not hide the registry's evidence.
			out.Errors = append(out.Errors, fmt.Sprintf("GitHub attestations of %s in org %s: %v", img.Digest, org, err))
		}
		out.Evidence = append(out.Evidence, evs...)
	}
	return out, nil
}

// fromGitHub lists org's attestations for the artifact's digests and verifies each.
func (c *Collector) fromGitHub(ctx context.Context, org string, targets about, opts verify.Options) ([]evidence.Evidence, error) {
	var out []evidence.Evidence
	for _, d := range targets {
		atts, err := c.gh.OrgAttestations(ctx, org, d, "")
		if err != nil {
			return out, err
		}
		for _, a := range atts {
			ev := evidence.Evidence{Source: SourceGitHub, Kind: evidence.KindUnknown, Signed: true, ID: digestOf([]byte(a.BundleURL))}
			if a.Err != nil {
				ev.Malformed = a.Err.Error()
				out = append(out, ev)
				continue
			}
			ev.ID = digestOf(a.Bundle)
			c.fromBundle(ctx, &ev, targets, a.Bundle, opts)
			out = append(out, ev)
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
		strings.HasPrefix(mt, sbom.MediaTypeSPDX) || mt == "text/spdx+json" || mt == "text/spdx"
}

// isCosignSigned reports whether a is a cosign .sig or .att tag, whose layers carry their
// signature material in annotations.
func isCosignSigned(a oci.Attachment) bool {
	return a.Source == oci.SourceCosignTag && (a.ArtifactType == "sig" || a.ArtifactType == "att")
}

// Reasons recorded on evidence for failures that may pass (see transient).
const (
	blobMissing   = "blob missing from the registry: "
	sbomNotStored = "storing SBOM "
)

// layer turns one attached blob into evidence, or takes it from the cache. Only a failure to
// reach the registry is an error; a missing or oversized blob is recorded on the evidence.
func (c *Collector) layer(ctx context.Context, img evidence.ImageRef, targets about, a oci.Attachment, i int, l oci.Layer, opts verify.Options) (evidence.Evidence, error) {
	key, cacheable := c.cacheKey(targets, a, l, opts)
	if cacheable {
		if ev, ok := c.cache.lru.Get(key); ok {
			return ev, nil
		}
	}
	ev, err := c.readLayer(ctx, img, targets, a, i, l, opts)
	if err == nil && cacheable && !transient(ev) {
		c.cache.lru.Add(key, ev)
	}
	return ev, err
}

// readLayer downloads one attached blob and turns it into evidence.
func (c *Collector) readLayer(ctx context.Context, img evidence.ImageRef, targets about, a oci.Attachment, i int, l oci.Layer, opts verify.Options) (evidence.Evidence, error) {
	ev := evidence.Evidence{ID: l.Digest, MediaType: l.MediaType, Source: a.Source, Kind: evidence.KindUnknown}
	pt := a.Annotations["dev.sigstore.bundle.predicateType"]
	if pt == "" {
		pt = l.Annotations["predicateType"] // cosign .att layers
	}
	if pt != "" {
		ev.PredicateType = pt
		ev.Kind = provenance.KindOf(pt)
	}
	mt := l.MediaType
	if isSBOM(mt) {
		ev.Kind = evidence.KindSBOM
	}
	if !isCosignSigned(a) && !isBundle(mt) && !isInToto(mt) && !isSBOM(mt) && !isDSSE(mt) {
		ev.Malformed = fmt.Sprintf("unsupported attachment: artifact type %q, media type %q (%s %s, layer %d)", a.ArtifactType, mt, a.Source, a.Digest, i)
		return ev, nil
	}
	data, err := c.reg.Blob(ctx, img.Repository, l)
	switch {
	case errors.Is(err, oci.ErrTooLarge):
		ev.Malformed = err.Error()
		return ev, nil
	case err != nil && oci.IsNotFound(err):
		ev.Malformed = fmt.Sprintf("%sblob %s of attachment %s", blobMissing, l.Digest, a.Digest)
		return ev, nil
	case err != nil:
		return ev, fmt.Errorf("collecting evidence for %s: %w", img, err)
	}
	ev.ID = digestOf(data)
	switch {
	case isCosignSigned(a):
		c.fromCosign(ctx, &ev, targets, a, l, data, opts)
	case isBundle(mt):
		c.fromBundle(ctx, &ev, targets, data, opts)
	case isInToto(mt):
		c.fromStatement(ctx, &ev, targets, data)
	case isDSSE(mt):
		envs, err := dsse.Parse(data)
		if err != nil || len(envs) != 1 {
			ev.Malformed = fmt.Sprintf("reading DSSE envelope: %v (%d envelopes)", err, len(envs))
			return ev, nil
		}
		c.fromEnvelope(ctx, &ev, targets, envs[0])
	default:
		// A bare SBOM: being attached to the artifact is what makes it about the artifact.
		c.fromSBOM(ctx, &ev, data)
	}
	return ev, nil
}

// fromCosign turns a cosign .sig or .att layer into a bundle and verifies it. A .sig layer is
// a simple-signing payload whose signature is over the layer itself, naming the image digest
// it signs.
func (c *Collector) fromCosign(ctx context.Context, ev *evidence.Evidence, targets about, a oci.Attachment, l oci.Layer, data []byte, opts verify.Options) {
	ev.Signed = true
	b, err := cosign.BundleFromAttachment(l.MediaType, data, l.Annotations)
	if err != nil {
		ev.Malformed = fmt.Sprintf("cosign %s layer: %v", a.ArtifactType, err)
		return
	}
	if b.GetMessageSignature() == nil {
		c.verifyBundle(ctx, ev, targets, b, opts)
		return
	}
	opts.Artifact, opts.ArtifactDigest = bytes.NewReader(data), ""
	res, err := c.ver.Verify(b, opts)
	if err != nil {
		ev.Malformed = "reading cosign signature: " + err.Error()
		return
	}
	ev.Verification = res.Verification
	ev.Kind = evidence.KindSignature
	signed, err := cosign.SignedImageDigest(data)
	if err != nil {
		ev.Malformed = err.Error()
		return
	}
	ev.Subjects = []evidence.Digest{signed}
	ev.SubjectMatch = targets.names(signed)
}

func (c *Collector) fromBundle(ctx context.Context, ev *evidence.Evidence, targets about, data []byte, opts verify.Options) {
	ev.Signed = true
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		ev.Malformed = "parsing Sigstore bundle: " + err.Error()
		return
	}
	c.verifyBundle(ctx, ev, targets, &b, opts)
}

func digestOf(b []byte) evidence.Digest {
	h := sha256.Sum256(b)
	return evidence.Digest("sha256:" + hex.EncodeToString(h[:]))
}
