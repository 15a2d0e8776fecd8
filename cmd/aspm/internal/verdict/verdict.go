// Package verdict is what `aspm verify` reports: the evidence found for an artifact, how each
// piece verified, and the policy's level, gaps and risk, as JSON for automation or text for
// people, and whether a CI gate (minimum level, denied gaps) is met.
package verdict

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
)

// Artifact identifies what was verified.
type Artifact struct {
	Digest     evidence.Digest `json:"digest,omitempty"`
	Repository string          `json:"repository,omitempty"`
	// Subjects are the digests the statements name, when no artifact digest was given.
	Subjects []evidence.Digest `json:"subjects,omitempty"`
}

// Signer is who signed a document.
type Signer struct {
	Issuer   string `json:"issuer,omitempty"`
	Identity string `json:"identity"`
}

// Evidence is one document, flattened for reports.
type Evidence struct {
	// Kind is "provenance", "sbom", "vsa" or "other".
	Kind string `json:"kind"`
	// Source says where the document was found: oci-referrers, oci-referrers-tag,
	// cosign-tag, github-attestations or file.
	Source            string  `json:"source"`
	PredicateType     string  `json:"predicate_type,omitempty"`
	Verified          bool    `json:"verified"`
	Error             string  `json:"error,omitempty"`
	Signer            *Signer `json:"signer,omitempty"`
	BuilderID         string  `json:"builder_id,omitempty"`
	SourceURI         string  `json:"source_uri,omitempty"`
	SourceDigest      string  `json:"source_digest,omitempty"`
	RunnerEnvironment string  `json:"runner_environment,omitempty"`
	Format            string  `json:"format,omitempty"`
	Components        *int    `json:"components,omitempty"`
	SubjectMatch      bool    `json:"subject_match"`
}

// Gap is a gap with its explanation.
type Gap struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Verdict is the whole report.
type Verdict struct {
	// Image is REPO@DIGEST for artifacts found in registries (aspm scan).
	Image       string     `json:"image,omitempty"`
	Artifact    Artifact   `json:"artifact"`
	Evidence    []Evidence `json:"evidence"`
	SLSALevel   int        `json:"slsa_level"`
	Gaps        []string   `json:"gaps"`
	Risk        int        `json:"risk"`
	Environment string     `json:"environment"`
	GapDetails  []Gap      `json:"gap_details"`
	Explanation []string   `json:"explanation"`
}

// New builds the verdict for art from its evidence and the policy decision.
func New(art Artifact, env string, evs []evidence.Evidence, d policy.Decision) Verdict {
	v := Verdict{Artifact: art, Evidence: []Evidence{}, SLSALevel: int(d.Level), Gaps: []string{}, Risk: d.Risk,
		Environment: env, GapDetails: []Gap{}, Explanation: d.Explanation}
	if art.Digest == "" {
		seen := map[evidence.Digest]bool{}
		for _, e := range evs {
			for _, s := range e.Subjects {
				if !seen[s] {
					seen[s] = true
					v.Artifact.Subjects = append(v.Artifact.Subjects, s)
				}
			}
		}
	}
	for _, e := range evs {
		v.Evidence = append(v.Evidence, flatten(e))
	}
	for _, g := range d.Gaps {
		if !slices.Contains(v.Gaps, g.Code) {
			v.Gaps = append(v.Gaps, g.Code)
		}
		v.GapDetails = append(v.GapDetails, Gap{Code: g.Code, Severity: g.Severity, Message: g.Message})
	}
	return v
}

func kindOf(e evidence.Evidence) string {
	switch {
	case e.Kind == evidence.KindProvenance, e.Kind == evidence.KindSBOM:
		return string(e.Kind)
	case strings.HasPrefix(e.PredicateType, "https://slsa.dev/verification_summary/"):
		return "vsa"
	}
	return "other"
}

func flatten(e evidence.Evidence) Evidence {
	out := Evidence{
		Kind: kindOf(e), Source: e.Source, PredicateType: e.PredicateType, Verified: e.Verification.Verified,
		Error: e.Verification.Error, SubjectMatch: e.SubjectMatch,
	}
	if e.Malformed != "" {
		out.Error = strings.TrimPrefix(strings.Join([]string{out.Error, e.Malformed}, "; "), "; ")
	}
	if !e.Signed && e.Malformed == "" && e.Kind != evidence.KindSBOM {
		out.Error = "not signed"
	}
	if s := e.Verification.Signer; s != nil {
		out.Signer = &Signer{Issuer: s.Issuer, Identity: s.Identity}
		out.RunnerEnvironment = s.RunnerEnvironment
	}
	if p := e.Provenance; p != nil {
		out.BuilderID, out.SourceURI, out.SourceDigest = p.BuilderID, p.SourceRepository, p.SourceDigest
		if out.SourceURI == "" && e.Verification.Signer != nil {
			out.SourceURI = e.Verification.Signer.SourceRepository
		}
		if out.SourceDigest == "" && e.Verification.Signer != nil {
			out.SourceDigest = e.Verification.Signer.SourceDigest
		}
	}
	if s := e.SBOM; s != nil {
		n := s.Components
		out.Format, out.Components = s.Format, &n
	}
	return out
}

// Gate is a CI gate: a minimum level and gap codes that must not be present.
type Gate struct {
	MinLevel int
	DenyGaps []string
}

// Check returns the reasons v fails g; none when it passes.
func (g Gate) Check(v Verdict) []string {
	var why []string
	if v.SLSALevel < g.MinLevel {
		why = append(why, fmt.Sprintf("SLSA level L%d is below the required L%d", v.SLSALevel, g.MinLevel))
	}
	for _, code := range g.DenyGaps {
		if slices.Contains(v.Gaps, code) {
			why = append(why, "denied gap "+code+" is present")
		}
	}
	return why
}

// WriteJSON writes v as one indented JSON object.
func WriteJSON(w io.Writer, v Verdict) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteText writes v for people.
func WriteText(w io.Writer, v Verdict) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch {
	case v.Artifact.Digest != "":
		name := string(v.Artifact.Digest)
		if v.Artifact.Repository != "" {
			name = v.Artifact.Repository + "@" + name
		}
		fmt.Fprintf(tw, "artifact\t%s\n", name)
	default:
		for _, s := range v.Artifact.Subjects {
			fmt.Fprintf(tw, "subject\t%s\n", s)
		}
	}
	for i, e := range v.Evidence {
		status := "verified"
		if !e.Verified {
			status = "NOT verified"
			if e.Error != "" {
				status += ": " + e.Error
			}
		}
		fmt.Fprintf(tw, "\nevidence %d\t%s %s (%s)\n", i+1, e.Kind, e.PredicateType, e.Source)
		fmt.Fprintf(tw, "  signature\t%s\n", status)
		if e.Signer != nil {
			fmt.Fprintf(tw, "  signer\t%s (%s)\n", e.Signer.Identity, e.Signer.Issuer)
		}
		if e.BuilderID != "" {
			fmt.Fprintf(tw, "  builder\t%s\n", e.BuilderID)
		}
		if e.SourceURI != "" {
			src := e.SourceURI
			if e.SourceDigest != "" {
				src += " @ " + e.SourceDigest
			}
			fmt.Fprintf(tw, "  source\t%s\n", src)
		}
		if e.RunnerEnvironment != "" {
			fmt.Fprintf(tw, "  runner\t%s\n", e.RunnerEnvironment)
		}
		if e.Components != nil {
			fmt.Fprintf(tw, "  sbom\t%s, %d components\n", e.Format, *e.Components)
		}
		if !e.SubjectMatch && v.Artifact.Digest != "" {
			fmt.Fprintf(tw, "  subject\tdoes not name the artifact\n")
		}
	}
	fmt.Fprintf(tw, "\nSLSA level\tL%d (in %s)\n", v.SLSALevel, v.Environment)
	fmt.Fprintf(tw, "risk\t%d/100\n", v.Risk)
	if len(v.GapDetails) == 0 {
		fmt.Fprintf(tw, "gaps\tnone\n")
	}
	for i, g := range v.GapDetails {
		label := ""
		if i == 0 {
			label = "gaps"
		}
		fmt.Fprintf(tw, "%s\t%s (%s): %s\n", label, g.Code, g.Severity, g.Message)
	}
	return tw.Flush()
}

// WriteJSONArray writes vs as one JSON array (empty, not null, when there are none).
func WriteJSONArray(w io.Writer, vs []Verdict) error {
	if vs == nil {
		vs = []Verdict{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(vs)
}

// WriteTable writes one line per verdict: image, level, risk, evidence kinds and gaps.
func WriteTable(w io.Writer, vs []Verdict) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tLEVEL\tRISK\tEVIDENCE\tGAPS")
	for _, v := range vs {
		kinds := map[string]int{}
		var order []string
		for _, e := range v.Evidence {
			if kinds[e.Kind] == 0 {
				order = append(order, e.Kind)
			}
			kinds[e.Kind]++
		}
		var ev []string
		for _, k := range order {
			ev = append(ev, fmt.Sprintf("%d %s", kinds[k], k))
		}
		gaps := strings.Join(v.Gaps, ",")
		if gaps == "" {
			gaps = "-"
		}
		evs := strings.Join(ev, ", ")
		if evs == "" {
			evs = "-"
		}
		fmt.Fprintf(tw, "%s\tL%d\t%d\t%s\t%s\n", v.Image, v.SLSALevel, v.Risk, evs, gaps)
	}
	if len(vs) == 0 {
		fmt.Fprintln(tw, "(no artifacts found)")
	}
	return tw.Flush()
}
