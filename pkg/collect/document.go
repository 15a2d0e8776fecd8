package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/aspmhq/aspm/pkg/dsse"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/verify"
)

// FromDocument turns a document given as a file into evidence about img: a Sigstore bundle, a
// list of them (JSON lines, npm's attestations response), a raw DSSE envelope (or JSON lines,
// or Cloud Build's provenance summary), an unsigned in-toto statement, or an SBOM. img.Digest
// may be empty, in which case every statement's subjects count as the artifact. Every
// document yields at least one piece of evidence; what cannot be read is reported with the
// reason, never dropped.
func (c *Collector) FromDocument(ctx context.Context, data []byte, img evidence.ImageRef, opts verify.Options) []evidence.Evidence {
	var targets about
	if img.Digest != "" {
		targets = about{img.Digest}
	}
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
			c.verifyBundle(ctx, &ev, targets, e.Bundle, opts)
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
			c.fromEnvelope(ctx, &e, targets, env)
			out = append(out, e)
		}
		return out
	case !errors.Is(derr, dsse.ErrNotEnvelope) && bytes.Contains(data, []byte(`"payloadType"`)):
		// Meant as a DSSE envelope, but broken: say what is wrong with it.
		ev.Malformed = derr.Error()
		return []evidence.Evidence{ev}
	}
	if _, serr := provenance.ParseStatement(data); serr == nil {
		c.fromStatement(ctx, &ev, targets, data)
		return []evidence.Evidence{ev}
	}
	if _, serr := sbom.Parse(data); serr == nil {
		c.fromSBOM(ctx, &ev, data)
		return []evidence.Evidence{ev}
	}
	ev.Malformed = "not a Sigstore bundle, DSSE envelope, in-toto statement or SBOM: " + err.Error()
	return []evidence.Evidence{ev}
}

// fromEnvelope verifies a raw DSSE envelope — with the keys, or, when it carries a Fulcio
// certificate, against the roots (which cannot prove when it was signed, so it is reported
// with the signer it names but not as verified) — and fills ev from its statement.
func (c *Collector) fromEnvelope(ctx context.Context, ev *evidence.Evidence, targets about, env dsse.Envelope) {
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
	c.fromStatement(ctx, ev, targets, env.Payload)
}

func hasCert(env dsse.Envelope) bool {
	for _, s := range env.Signatures {
		if s.Cert != "" {
			return true
		}
	}
	return false
}
