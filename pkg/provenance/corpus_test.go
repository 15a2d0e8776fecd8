package provenance_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// MustStatements returns every in-toto statement in the corpus file rel, in file order: the
// DSSE payloads of Sigstore bundles, raw DSSE envelopes (one per JSON line), npm registry
// attestation responses ({"attestations":[{"bundle":…}]}) and gcloud describe output
// (provenance_summary.provenance[].envelope), or the file itself when it is a bare statement.
func MustStatements(tb testing.TB, rel string) [][]byte {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(testcorpus.Read(tb, rel)))
	var out [][]byte
	for {
		var doc struct {
			Type         string        `json:"_type"`
			Payload      string        `json:"payload"`
			DSSEEnvelope *envelope     `json:"dsseEnvelope"`
			Attestations []attestation `json:"attestations"`
			Summary      *summary      `json:"provenance_summary"`
		}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("%s: %v", rel, err)
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			tb.Fatalf("%s: %v", rel, err)
		}
		switch {
		case doc.Type != "":
			out = append(out, raw)
		case doc.DSSEEnvelope != nil:
			out = append(out, mustBase64(tb, doc.DSSEEnvelope.Payload))
		case doc.Payload != "":
			out = append(out, mustBase64(tb, doc.Payload))
		case doc.Attestations != nil:
			for _, a := range doc.Attestations {
				out = append(out, mustBase64(tb, a.Bundle.DSSEEnvelope.Payload))
			}
		case doc.Summary != nil:
			for _, p := range doc.Summary.Provenance {
				out = append(out, mustBase64(tb, p.Envelope.Payload))
			}
		default:
			tb.Fatalf("%s: no statement found", rel)
		}
	}
	return out
}

type envelope struct {
	Payload string `json:"payload"`
}

type attestation struct {
	Bundle struct {
		DSSEEnvelope envelope `json:"dsseEnvelope"`
	} `json:"bundle"`
}

type summary struct {
	Provenance []struct {
		Envelope envelope `json:"envelope"`
	} `json:"provenance"`
}

// mustBase64 decodes standard or URL-safe base64, padded or not (Cloud Build uses both).
func mustBase64(tb testing.TB, s string) []byte {
	tb.Helper()
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	tb.Fatalf("payload is not base64: %.40q…", s)
	return nil
}

// MustStatement returns the i-th statement in the corpus file rel.
func MustStatement(tb testing.TB, rel string, i int) []byte {
	tb.Helper()
	all := MustStatements(tb, rel)
	if i >= len(all) {
		tb.Fatalf("%s has %d statements, want #%d", rel, len(all), i)
	}
	return all[i]
}

// at parses an RFC 3339 time for expectations.
func at(tb testing.TB, s string) *time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	t = t.UTC()
	return &t
}
