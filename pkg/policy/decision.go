package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// severities are the gap severities a decision may use.
var severities = map[string]bool{"critical": true, "high": true, "medium": true, "low": true}

// wireDecision is the decision as the policy must produce it; pointers tell missing fields
// from zero values.
type wireDecision struct {
	Level              *evidence.Level `json:"level"`
	VerifiedProvenance *bool           `json:"verified_provenance"`
	Gaps               *[]wireGap      `json:"gaps"`
	Risk               *int            `json:"risk"`
	Explanation        *[]string       `json:"explanation"`
}

type wireGap struct {
	Code     *string `json:"code"`
	Severity *string `json:"severity"`
	Message  *string `json:"message"`
	Rule     *string `json:"rule"`
}

// decode checks that rs holds exactly one decision of the right shape and returns it; the
// error wraps ErrInvalidDecision.
func decode(rs rego.ResultSet) (Decision, error) {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{}, fmt.Errorf("%w: %s is undefined for this input (is a rule it depends on undefined?)", ErrInvalidDecision, Query)
	}
	if len(rs) > 1 || len(rs[0].Expressions) > 1 {
		return Decision{}, fmt.Errorf("%w: %s has %d results, want one", ErrInvalidDecision, Query, len(rs))
	}
	raw, err := json.Marshal(rs[0].Expressions[0].Value)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: encoding the result: %w", ErrInvalidDecision, err)
	}
	var w wireDecision
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Decision{}, fmt.Errorf("%w: %s must be an object with level, verified_provenance, gaps, risk and explanation: %w", ErrInvalidDecision, Query, err)
	}
	var missing []string
	for name, absent := range map[string]bool{
		"level":               w.Level == nil,
		"verified_provenance": w.VerifiedProvenance == nil,
		"gaps":                w.Gaps == nil,
		"risk":                w.Risk == nil,
		"explanation":         w.Explanation == nil,
	} {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Decision{}, fmt.Errorf("%w: %s lacks %s", ErrInvalidDecision, Query, strings.Join(missing, ", "))
	}
	if err := w.Level.Validate(); err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrInvalidDecision, err)
	}
	if *w.Risk < 0 || *w.Risk > 100 {
		return Decision{}, fmt.Errorf("%w: risk %d: want 0 to 100", ErrInvalidDecision, *w.Risk)
	}
	d := Decision{
		Level:              *w.Level,
		VerifiedProvenance: *w.VerifiedProvenance,
		Gaps:               make([]evidence.Gap, 0, len(*w.Gaps)),
		Risk:               *w.Risk,
		Explanation:        *w.Explanation,
	}
	for i, g := range *w.Gaps {
		gap, err := g.gap()
		if err != nil {
			return Decision{}, fmt.Errorf("%w: gaps[%d]: %w", ErrInvalidDecision, i, err)
		}
		d.Gaps = append(d.Gaps, gap)
	}
	return d, nil
}

func (g wireGap) gap() (evidence.Gap, error) {
	for _, f := range []struct {
		name  string
		value *string
	}{{"code", g.Code}, {"severity", g.Severity}, {"message", g.Message}, {"rule", g.Rule}} {
		if f.value == nil || *f.value == "" {
			return evidence.Gap{}, fmt.Errorf("%s is required", f.name)
		}
	}
	if !severities[*g.Severity] {
		return evidence.Gap{}, fmt.Errorf("%s: severity %q: want critical, high, medium or low (is the code in data.aspm.gap_catalogue?)", *g.Code, *g.Severity)
	}
	return evidence.Gap{Code: *g.Code, Severity: *g.Severity, Message: *g.Message, Rule: *g.Rule}, nil
}
