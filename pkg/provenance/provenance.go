// Package provenance parses in-toto statements (v0.1 and v1) and the SLSA provenance
// predicates (v0.2 and v1) inside them into the pipeline's evidence types.
package provenance

import (
	"errors"
	"fmt"
	"strings"

	slsa02 "github.com/in-toto/attestation/go/predicates/provenance/v02"
	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrMalformed is the class of every parse error; check with errors.Is.
var ErrMalformed = errors.New("malformed statement")

// Predicate types this package understands.
const (
	PredicateSLSAv02 = "https://slsa.dev/provenance/v0.2"
	PredicateSLSAv1  = "https://slsa.dev/provenance/v1"
)

// MaxStatementSize bounds the statements ParseStatement accepts.
const MaxStatementSize = 16 << 20

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// Statement is a parsed and validated in-toto statement.
type Statement struct {
	st *intoto.Statement
}

// ParseStatement parses an in-toto statement (v0.1 or v1) and validates it: it must have a
// type, at least one subject with a digest, a predicate type and a predicate. Errors wrap
// ErrMalformed.
func ParseStatement(payload []byte) (*Statement, error) {
	if len(payload) > MaxStatementSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(payload), MaxStatementSize)
	}
	var st intoto.Statement
	if err := unmarshal.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &Statement{st: &st}, nil
}

// PredicateType returns the statement's predicate type.
func (s *Statement) PredicateType() string { return s.st.GetPredicateType() }

// SubjectDigests returns the subjects' sha256/sha384/sha512 digests, in order; other algorithms
// and invalid values are skipped.
func (s *Statement) SubjectDigests() []evidence.Digest {
	var out []evidence.Digest
	for _, sub := range s.st.GetSubject() {
		for _, alg := range []string{"sha256", "sha384", "sha512"} {
			hx, ok := sub.GetDigest()[alg]
			if !ok {
				continue
			}
			d := evidence.Digest(alg + ":" + strings.ToLower(hx))
			if d.Validate() == nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// Names the artifact d when one of the subjects has it.
func (s *Statement) Names(d evidence.Digest) bool {
	for _, sd := range s.SubjectDigests() {
		if sd == d {
			return true
		}
	}
	return false
}

// Predicate returns the predicate as JSON.
func (s *Statement) Predicate() ([]byte, error) {
	b, err := protojson.Marshal(s.st.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("%w: re-encoding predicate: %w", ErrMalformed, err)
	}
	return b, nil
}

// Kind classifies the statement by its predicate type.
func (s *Statement) Kind() evidence.Kind {
	return KindOf(s.PredicateType())
}

// KindOf classifies a predicate type: SLSA provenance, an SBOM, or another attestation.
func KindOf(predicateType string) evidence.Kind {
	switch {
	case strings.HasPrefix(predicateType, "https://slsa.dev/provenance/"):
		return evidence.KindProvenance
	case strings.HasPrefix(predicateType, "https://cyclonedx.org/bom"),
		strings.HasPrefix(predicateType, "https://spdx.dev/Document"):
		return evidence.KindSBOM
	default:
		return evidence.KindAttestation
	}
}

// Provenance extracts the builder and source of a SLSA provenance predicate (v0.2 or v1). For
// other predicate types it returns nil and no error. Errors wrap ErrMalformed.
func (s *Statement) Provenance() (*evidence.Provenance, error) {
	raw, err := s.Predicate()
	if err != nil {
		return nil, err
	}
	switch pt := s.PredicateType(); {
	case pt == PredicateSLSAv1 || strings.HasPrefix(pt, PredicateSLSAv1+"."):
		var p slsa1.Provenance
		if err := unmarshal.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%w: SLSA v1 predicate: %w", ErrMalformed, err)
		}
		return fromV1(&p), nil
	case pt == PredicateSLSAv02 || pt == "https://slsa.dev/provenance/v0.1":
		var p slsa02.Provenance
		if err := unmarshal.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%w: SLSA v0.2 predicate: %w", ErrMalformed, err)
		}
		return fromV02(&p), nil
	}
	return nil, nil
}

func fromV1(p *slsa1.Provenance) *evidence.Provenance {
	out := &evidence.Provenance{
		BuildType: p.GetBuildDefinition().GetBuildType(),
		BuilderID: p.GetRunDetails().GetBuilder().GetId(),
	}
	// GitHub's workflow build type names the repository and ref in the external parameters.
	if wf := p.GetBuildDefinition().GetExternalParameters().GetFields()["workflow"].GetStructValue(); wf != nil {
		out.SourceRepository = NormalizeRepository(wf.GetFields()["repository"].GetStringValue())
		out.SourceRef = wf.GetFields()["ref"].GetStringValue()
	}
	for _, dep := range p.GetBuildDefinition().GetResolvedDependencies() {
		repo, ref, ok := gitURI(dep.GetUri())
		if !ok {
			continue
		}
		if out.SourceRepository == "" {
			out.SourceRepository = repo
		}
		if out.SourceRef == "" {
			out.SourceRef = ref
		}
		if repo == out.SourceRepository {
			out.SourceDigest = firstOf(dep.GetDigest(), "gitCommit", "sha1")
		}
		break
	}
	return out
}

func fromV02(p *slsa02.Provenance) *evidence.Provenance {
	out := &evidence.Provenance{
		BuildType: p.GetBuildType(),
		BuilderID: p.GetBuilder().GetId(),
	}
	if cs := p.GetInvocation().GetConfigSource(); cs != nil {
		if repo, ref, ok := gitURI(cs.GetUri()); ok {
			out.SourceRepository, out.SourceRef = repo, ref
			out.SourceDigest = firstOf(cs.GetDigest(), "sha1", "gitCommit")
		}
	}
	if out.SourceRepository == "" {
		for _, m := range p.GetMaterials() {
			if repo, ref, ok := gitURI(m.GetUri()); ok {
				out.SourceRepository, out.SourceRef = repo, ref
				out.SourceDigest = firstOf(m.GetDigest(), "sha1", "gitCommit")
				break
			}
		}
	}
	return out
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// gitURI splits "git+https://github.com/o/r@refs/heads/main" into the repository URL and ref.
func gitURI(uri string) (repo, ref string, ok bool) {
	if !strings.HasPrefix(uri, "git+") {
		return "", "", false
	}
	rest := strings.TrimPrefix(uri, "git+")
	if i := strings.LastIndex(rest, "@"); i > strings.Index(rest, "://")+2 {
		rest, ref = rest[:i], rest[i+1:]
	}
	return NormalizeRepository(rest), ref, true
}

// NormalizeRepository turns the spellings of a repository URL found in provenance
// ("git+https://github.com/o/r.git", "github.com/o/r") into "https://github.com/o/r".
func NormalizeRepository(s string) string {
	if s == "" {
		return ""
	}
	s = strings.TrimPrefix(s, "git+")
	s = strings.TrimSuffix(s, ".git")
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	return strings.TrimSuffix(s, "/")
}
