package collect

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/verify"
)

// verifyBundle verifies b and fills ev from the result and the signed statement. An artifact
// in opts binds only message signatures: for a statement, whether it names the artifact is
// reported as SubjectMatch (a subject.mismatch), not as a failed signature.
func (c *Collector) verifyBundle(ctx context.Context, ev *evidence.Evidence, targets about, b *bundle.Bundle, opts verify.Options) {
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
			ev.SubjectMatch = len(targets) == 0 || targets.names(d)
		}
		return
	}
	c.fromStatement(ctx, ev, targets, res.Payload)
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
func (c *Collector) fromStatement(ctx context.Context, ev *evidence.Evidence, targets about, payload []byte) {
	st, err := provenance.ParseStatement(payload)
	if err != nil {
		ev.Malformed = err.Error()
		return
	}
	ev.PredicateType = st.PredicateType()
	ev.Kind = st.Kind()
	ev.Subjects = st.SubjectDigests()
	ev.SubjectMatch = targets.statement(st)
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
		c.parseSBOM(ctx, ev, pred)
	}
}

// fromSBOM fills ev from a bare SBOM attached to the artifact.
func (c *Collector) fromSBOM(ctx context.Context, ev *evidence.Evidence, data []byte) {
	ev.Kind = evidence.KindSBOM
	ev.SubjectMatch = true
	c.parseSBOM(ctx, ev, data)
}

// parseSBOM summarises an SBOM into ev and, with a document store, keeps the raw document
// there so that events carry only its reference.
func (c *Collector) parseSBOM(ctx context.Context, ev *evidence.Evidence, data []byte) {
	doc, err := sbom.Parse(data)
	if err != nil {
		ev.Malformed = err.Error()
		return
	}
	// A copy: a pointer into doc would keep all its components alive as long as ev (which the
	// evidence cache keeps).
	summary := doc.Summary
	ev.SBOM = &summary
	if c.docs == nil {
		return
	}
	ref := digestOf(data)
	if err := c.docs.PutDocument(ctx, ref, data); err != nil {
		// The summary still counts; the raw document is what is missing.
		ev.Malformed = fmt.Sprintf("%s%s: %v", sbomNotStored, ref, err)
		return
	}
	ev.SBOM.Ref = string(ref)
}
