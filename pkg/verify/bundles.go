package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// MaxDocumentSize bounds the documents ParseBundles reads.
const MaxDocumentSize = 32 << 20

// Errors from ParseBundles.
var (
	// ErrNotBundle says the document is JSON but holds no Sigstore bundle (e.g. a raw DSSE
	// envelope, which package dsse reads).
	ErrNotBundle = errors.New("not a Sigstore bundle document")
	// ErrMalformedDocument says the document is not JSON or JSON lines.
	ErrMalformedDocument = errors.New("malformed bundle document")
)

// Entry is one bundle found in a document, or why it could not be read.
type Entry struct {
	Bundle *bundle.Bundle
	// PredicateType is the predicate type the document declares for this bundle (npm's
	// attestations list does), if any.
	PredicateType string
	// Err says why the entry is not a valid bundle; Bundle is nil then.
	Err error
}

// ParseBundles reads every Sigstore bundle in a document as found in the wild: one bundle
// (v0.1 to v0.3, as written by cosign, gh, sigstore-python, slsa-github-generator), JSON lines
// of bundles (gh's .jsonl), or npm's attestations response
// ({"attestations":[{"predicateType":…,"bundle":{…}}]}). An entry that is not a valid bundle
// is returned with its error so the others are not lost. The error is ErrMalformedDocument
// when data is not JSON, ErrNotBundle when it is JSON of another kind.
func ParseBundles(data []byte) ([]Entry, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformedDocument, len(data), MaxDocumentSize)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: want a JSON object or JSON lines", ErrMalformedDocument)
	}
	var probe struct {
		MediaType    *string           `json:"mediaType"`
		Attestations []json.RawMessage `json:"attestations"`
		PayloadType  *string           `json:"payloadType"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		// Not one JSON value: try JSON lines.
		return parseLines(data)
	}
	switch {
	case probe.Attestations != nil:
		out := make([]Entry, 0, len(probe.Attestations))
		for i, raw := range probe.Attestations {
			var a struct {
				PredicateType string          `json:"predicateType"`
				Bundle        json.RawMessage `json:"bundle"`
			}
			e := Entry{}
			if err := json.Unmarshal(raw, &a); err != nil {
				e.Err = fmt.Errorf("attestation %d: %w", i, err)
			} else {
				e = parseOne(a.Bundle)
				e.PredicateType = a.PredicateType
				if e.Err != nil {
					e.Err = fmt.Errorf("attestation %d: %w", i, e.Err)
				}
			}
			out = append(out, e)
		}
		return out, nil
	case probe.MediaType != nil:
		return []Entry{parseOne(data)}, nil
	case probe.PayloadType != nil:
		return nil, fmt.Errorf("%w: a raw DSSE envelope", ErrNotBundle)
	}
	return nil, fmt.Errorf("%w: no mediaType, attestations or payloadType", ErrNotBundle)
}

func parseLines(data []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxDocumentSize)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		var probe struct {
			MediaType   *string `json:"mediaType"`
			PayloadType *string `json:"payloadType"`
		}
		if err := json.Unmarshal(l, &probe); err != nil {
			return nil, fmt.Errorf("%w: line %d is not a JSON object", ErrMalformedDocument, line)
		}
		if probe.MediaType == nil && probe.PayloadType != nil {
			return nil, fmt.Errorf("%w: line %d is a raw DSSE envelope", ErrNotBundle, line)
		}
		e := parseOne(l)
		if e.Err != nil {
			e.Err = fmt.Errorf("line %d: %w", line, e.Err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedDocument, err)
	}
	return out, nil
}

func parseOne(raw []byte) Entry {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return Entry{Err: fmt.Errorf("parsing bundle: %w", err)}
	}
	return Entry{Bundle: &b}
}
