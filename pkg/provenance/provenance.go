// Package provenance parses in-toto statements (v0.1 and v1), the SLSA provenance predicates
// inside them (v0.1, v0.2 and v1) and SLSA verification summaries (VSA v1) into the pipeline's
// evidence types.
//
// Every parse error is a *MalformedError, which names the offending field and matches
// ErrMalformed with errors.Is. Nothing here panics on any input.
package provenance

import (
	"errors"
	"fmt"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrMalformed is the class of every parse error; check with errors.Is.
var ErrMalformed = errors.New("malformed statement")

// MalformedError says which part of a statement could not be parsed and why. Its Unwrap
// yields ErrMalformed and the cause, so errors.Is matches both.
type MalformedError struct {
	// Field is the path of the offending field in the statement, e.g. "_type",
	// "subject[0].digest" or "predicate.runDetails.metadata.startedOn"; empty when the
	// document as a whole is unreadable (too large, not a JSON object).
	Field string
	Err   error
}

// Error returns "malformed statement: <field>: <cause>".
func (e *MalformedError) Error() string {
	if e.Field == "" {
		return ErrMalformed.Error() + ": " + e.Err.Error()
	}
	return ErrMalformed.Error() + ": " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns ErrMalformed and the cause.
func (e *MalformedError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

func malformed(field string, err error) error { return &MalformedError{Field: field, Err: err} }

// Predicate types this package reads.
const (
	PredicateSLSAv01 = "https://slsa.dev/provenance/v0.1"
	PredicateSLSAv02 = "https://slsa.dev/provenance/v0.2"
	PredicateSLSAv1  = "https://slsa.dev/provenance/v1"
	PredicateVSAv1   = "https://slsa.dev/verification_summary/v1"
)

// MaxStatementSize bounds the statements ParseStatement accepts.
const MaxStatementSize = 16 << 20

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// Statement is a parsed and validated in-toto statement.
type Statement struct {
	st *intoto.Statement
}

// ParseStatement parses an in-toto statement (v0.1 or v1) and validates it: it must have the
// type of an in-toto statement, at least one subject, a digest on every subject, a predicate
// type and a predicate object. Subject digests in unknown algorithms or with malformed values
// are kept (in-toto allows custom algorithms; spec examples abbreviate digests) but never
// match in Names. Errors are *MalformedError.
func ParseStatement(payload []byte) (*Statement, error) {
	if len(payload) > MaxStatementSize {
		return nil, malformed("", fmt.Errorf("%d bytes exceeds the %d byte limit", len(payload), MaxStatementSize))
	}
	var st intoto.Statement
	if err := unmarshal.Unmarshal(payload, &st); err != nil {
		var doc structpb.Struct
		if jerr := unmarshal.Unmarshal(payload, &doc); jerr != nil {
			return nil, malformed("", fmt.Errorf("not a valid JSON object: %w", jerr))
		}
		field, cause := blame(st.ProtoReflect().Type().New(), &doc, "")
		if cause == nil {
			cause = err
		}
		return nil, malformed(field, cause)
	}
	if t := st.GetType(); t != intoto.StatementTypeUri && t != "https://in-toto.io/Statement/v0.1" {
		return nil, malformed("_type", fmt.Errorf("%w: %q", intoto.ErrInvalidStatementType, t))
	}
	if len(st.GetSubject()) == 0 {
		return nil, malformed("subject", intoto.ErrSubjectRequired)
	}
	for i, sub := range st.GetSubject() {
		if len(sub.GetDigest()) == 0 {
			return nil, malformed(fmt.Sprintf("subject[%d].digest", i), intoto.ErrDigestRequired)
		}
	}
	if st.GetPredicateType() == "" {
		return nil, malformed("predicateType", intoto.ErrPredicateTypeRequired)
	}
	if st.GetPredicate() == nil {
		return nil, malformed("predicate", intoto.ErrPredicateRequired)
	}
	return &Statement{st: &st}, nil
}

// PredicateType returns the statement's predicate type.
func (s *Statement) PredicateType() string { return s.st.GetPredicateType() }

// subjectAlgorithms are the digest algorithms artifacts are matched by, in the order
// SubjectDigests lists them.
var subjectAlgorithms = []string{"sha256", "sha384", "sha512"}

// SubjectDigests returns the subjects' sha256, sha384 and sha512 digests with lowercase hex,
// in subject order and without repeats; other algorithms and malformed values are skipped.
func (s *Statement) SubjectDigests() []evidence.Digest {
	var out []evidence.Digest
	seen := map[evidence.Digest]bool{}
	for _, sub := range s.st.GetSubject() {
		for _, alg := range subjectAlgorithms {
			hx, ok := sub.GetDigest()[alg]
			if !ok {
				continue
			}
			d := evidence.Digest(alg + ":" + strings.ToLower(hx))
			if d.Validate() == nil && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// Names reports whether any subject has the artifact digest d under d's algorithm (sha256,
// sha384 or sha512), comparing hex case-insensitively. It is false for a d that is not a
// valid digest.
func (s *Statement) Names(d evidence.Digest) bool {
	d = evidence.Digest(strings.ToLower(string(d)))
	if d.Validate() != nil {
		return false
	}
	alg, hx := d.Algorithm(), d.Hex()
	for _, sub := range s.st.GetSubject() {
		if v, ok := sub.GetDigest()[alg]; ok && strings.EqualFold(v, hx) {
			return true
		}
	}
	return false
}

// Predicate returns the predicate as JSON. Errors are *MalformedError.
func (s *Statement) Predicate() ([]byte, error) {
	b, err := protojson.Marshal(s.st.GetPredicate())
	if err != nil {
		return nil, malformed("predicate", fmt.Errorf("re-encoding: %w", err))
	}
	return b, nil
}

// Kind classifies the statement by its predicate type.
func (s *Statement) Kind() evidence.Kind {
	return KindOf(s.PredicateType())
}

// KindOf classifies a predicate type: SLSA provenance (any version), an SBOM, or another
// attestation (a VSA, a misspelt provenance type, anything else).
func KindOf(predicateType string) evidence.Kind {
	switch {
	case strings.HasPrefix(predicateType, slsaProvenancePrefix):
		return evidence.KindProvenance
	case strings.HasPrefix(predicateType, "https://cyclonedx.org/bom"),
		strings.HasPrefix(predicateType, "https://spdx.dev/Document"):
		return evidence.KindSBOM
	default:
		return evidence.KindAttestation
	}
}
