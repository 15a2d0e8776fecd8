// Package dsse reads raw DSSE envelopes as they are found in the wild, outside Sigstore
// bundles, and verifies their signatures: envelopes signed with a configured public key
// (Google Cloud Build's KMS-signed provenance, Google's verification summary attestations) and
// envelopes that carry their Fulcio signing certificate inside the signature (provenance from
// slsa-github-generator before v2.1.0, the `.intoto.jsonl` files). Such envelopes carry no
// transparency log entry or timestamp, so no signing time can be proven; see VerifyWithKeys and
// VerifyWithEmbeddedCert for what that means for each.
package dsse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxDocumentSize bounds the documents Parse reads.
const MaxDocumentSize = 32 << 20

// Errors from Parse.
var (
	// ErrMalformed says the document is not JSON or JSON lines, or holds an envelope that
	// is not valid (a field missing or of the wrong type, a value that is not base64).
	ErrMalformed = errors.New("malformed DSSE document")
	// ErrNotEnvelope says the document is JSON of another kind: a Sigstore bundle (which
	// verify.ParseBundles reads) or an object with no envelope in it.
	ErrNotEnvelope = errors.New("not a raw DSSE envelope document")
)

// Media and payload types.
const (
	// MediaType is the OCI layer media type of a DSSE envelope (cosign's .att layers, in-toto
	// attachments).
	MediaType = "application/vnd.dsse.envelope.v1+json"
	// PayloadTypeInToto is the payload type of an in-toto statement.
	PayloadTypeInToto = "application/vnd.in-toto+json"
)

// Envelope is a DSSE envelope with its payload and signatures decoded.
type Envelope struct {
	PayloadType string
	Payload     []byte
	Signatures  []Signature
}

// Signature is one signature of an envelope.
type Signature struct {
	// KeyID is the signer's unauthenticated hint about the key; it is never used for trust.
	KeyID string
	Sig   []byte
	// Cert is the PEM signing certificate, when the signer embedded one (slsa-github-generator
	// before v2.1.0 did).
	Cert string
}

// wireSignature and wireEnvelope are the JSON forms. Pointers tell a missing field from an
// empty one.
type wireSignature struct {
	KeyID string  `json:"keyid"`
	Sig   *string `json:"sig"`
	Cert  string  `json:"cert"`
}

type wireEnvelope struct {
	PayloadType *string          `json:"payloadType"`
	Payload     *string          `json:"payload"`
	Signatures  *[]wireSignature `json:"signatures"`
}

// document is any one JSON value Parse accepts: an envelope, a gcloud provenance description,
// or (to name it in the error) a Sigstore bundle.
type document struct {
	wireEnvelope
	MediaType         *string `json:"mediaType"`
	ProvenanceSummary *struct {
		Provenance []struct {
			Envelope *wireEnvelope `json:"envelope"`
		} `json:"provenance"`
	} `json:"provenance_summary"`
}

// Parse reads the raw DSSE envelopes in data, in the three shapes they are published in: one
// envelope as a JSON object; JSON lines with one envelope per line (slsa-github-generator's
// `.intoto.jsonl`); and the output of `gcloud artifacts docker images describe
// --show-provenance` ({"image_summary":…,"provenance_summary":{"provenance":[{…,"envelope":
// {…}}]}}), one envelope per provenance entry, in order. Payloads and signatures may be
// standard or URL-safe base64, padded or not (Cloud Build uses URL-safe).
//
// An envelope must have a payloadType and a payload; it may have no signatures (verification
// then reports it unsigned). Parse returns at least one envelope or an error: ErrMalformed,
// saying where ("malformed DSSE document: line 2: provenance 0: signature 1 is not base64"), when data is larger than
// MaxDocumentSize, is not JSON, or holds an invalid envelope; ErrNotEnvelope when it is JSON
// of another kind, such as a Sigstore bundle.
func Parse(data []byte) ([]Envelope, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(data), MaxDocumentSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Envelope
	lines := lineCounter{data: data}
	for {
		start := int64(len(data)) - int64(len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")))
		var doc document
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		line := lines.at(start)
		if err != nil {
			var syn *json.SyntaxError
			switch {
			case errors.As(err, &syn):
				line = lines.at(syn.Offset)
			case errors.Is(err, io.ErrUnexpectedEOF):
				line = lines.at(int64(len(data)))
				err = errors.New("unexpected end of input")
			}
			return nil, fmt.Errorf("%w: line %d: %w", ErrMalformed, line, err)
		}
		envs, isEnvelope, err := doc.envelopes()
		switch {
		case !isEnvelope:
			return nil, fmt.Errorf("%w: line %d: %w", ErrNotEnvelope, line, err)
		case err != nil:
			return nil, fmt.Errorf("%w: line %d: %w", ErrMalformed, line, err)
		}
		out = append(out, envs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no envelope found", ErrMalformed)
	}
	return out, nil
}

// envelopes returns the envelopes d holds, or why it holds none: isEnvelope is false when d is
// not an envelope document at all, and err then says what it is.
func (d *document) envelopes() (envs []Envelope, isEnvelope bool, err error) {
	switch {
	case d.ProvenanceSummary != nil:
		if len(d.ProvenanceSummary.Provenance) == 0 {
			return nil, true, errors.New("provenance_summary lists no provenance")
		}
		out := make([]Envelope, 0, len(d.ProvenanceSummary.Provenance))
		for i, p := range d.ProvenanceSummary.Provenance {
			if p.Envelope == nil {
				return nil, true, fmt.Errorf("provenance %d has no envelope", i)
			}
			env, err := p.Envelope.decode()
			if err != nil {
				return nil, true, fmt.Errorf("provenance %d: %w", i, err)
			}
			out = append(out, env)
		}
		return out, true, nil
	case d.PayloadType != nil || d.Payload != nil || d.Signatures != nil:
		env, err := d.wireEnvelope.decode()
		if err != nil {
			return nil, true, err
		}
		return []Envelope{env}, true, nil
	case d.MediaType != nil && strings.HasPrefix(*d.MediaType, "application/vnd.dev.sigstore.bundle"):
		return nil, false, fmt.Errorf("a Sigstore bundle (%s)", *d.MediaType)
	default:
		return nil, false, errors.New("no payloadType, payload, signatures or provenance_summary")
	}
}

func (w *wireEnvelope) decode() (Envelope, error) {
	if w.PayloadType == nil || *w.PayloadType == "" {
		return Envelope{}, errors.New("envelope has no payloadType")
	}
	if w.Payload == nil {
		return Envelope{}, errors.New("envelope has no payload")
	}
	payload, err := decodeBase64(*w.Payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("payload is not base64: %w", err)
	}
	env := Envelope{PayloadType: *w.PayloadType, Payload: payload}
	if w.Signatures == nil {
		return env, nil
	}
	env.Signatures = make([]Signature, 0, len(*w.Signatures))
	for i, s := range *w.Signatures {
		if s.Sig == nil {
			return Envelope{}, fmt.Errorf("signature %d has no sig", i)
		}
		sig, err := decodeBase64(*s.Sig)
		if err != nil {
			return Envelope{}, fmt.Errorf("signature %d is not base64: %w", i, err)
		}
		env.Signatures = append(env.Signatures, Signature{KeyID: s.KeyID, Sig: sig, Cert: s.Cert})
	}
	return env, nil
}

// decodeBase64 decodes standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

// lineCounter maps byte offsets to 1-based line numbers, for offsets that only grow (as
// Parse's do) in linear time overall; a smaller offset restarts the count.
type lineCounter struct {
	data       []byte
	off, lines int
}

func (c *lineCounter) at(off int64) int {
	o := int(min(max(off, 0), int64(len(c.data))))
	if o < c.off {
		c.off, c.lines = 0, 0
	}
	c.lines += bytes.Count(c.data[c.off:o], []byte{'\n'})
	c.off = o
	return c.lines + 1
}
