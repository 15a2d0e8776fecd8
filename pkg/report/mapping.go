package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/aspmhq/aspm/pkg/evidence"
)

//go:embed mapping.json
var mappingJSON []byte

// The frameworks a report assesses.
const (
	SSDF    = "ssdf"    // NIST SP 800-218 v1.1 tasks
	FedRAMP = "fedramp" // NIST SP 800-53 Rev. 5 controls with their FedRAMP Rev. 5 baselines
)

// The evidence rules an item may require besides the absence of its gap codes.
const (
	// RuleSBOMInventory holds when an SBOM listing at least one component is attached.
	RuleSBOMInventory = "sbom_inventory"
	// RuleVerifiedProvenance holds when a provenance document naming the artifact verified.
	RuleVerifiedProvenance = "verified_provenance"
	// RulePolicyEvaluated holds when the policy scored the artifact in every environment it runs in.
	RulePolicyEvaluated = "policy_evaluated"
)

// Rule is an evidence rule: what it asks, and the gap code whose acceptance also accepts its
// failure ("" when none does).
type Rule struct {
	Text       string `json:"text"`
	AcceptedBy string `json:"accepted_by,omitempty"`
}

// Requirement is one SSDF task or SP 800-53 control and what in this system evidences it.
type Requirement struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Baselines are the FedRAMP Rev. 5 baselines (low, moderate, high) that include a control;
	// empty for SSDF tasks and for controls in no FedRAMP baseline.
	Baselines []string `json:"baselines,omitempty"`
	// Codes are the gap codes whose absence (or acceptance) the requirement needs: those the gap
	// catalogue maps to it, and any the mapping table adds.
	Codes []string `json:"codes"`
	// Rules are evidence rules the requirement needs besides (see the Rule constants).
	Rules []string `json:"rules,omitempty"`
	// Kinds are the evidence kinds counted as its evidence.
	Kinds []evidence.Kind `json:"kinds"`
}

// Mapping is the table a report is built from: the requirements of each framework, the rules
// they use, the gap catalogue, and the sources of the table.
type Mapping struct {
	Sources   map[string]string     `json:"sources"`
	Rules     map[string]Rule       `json:"rules"`
	SSDF      []Requirement         `json:"ssdf"`
	SP80053   []Requirement         `json:"sp800_53"`
	Catalogue map[string]GapSummary `json:"-"`
}

// GapSummary is a gap code's entry in the policy's gap catalogue.
type GapSummary struct {
	Severity    string   `json:"severity"`
	Title       string   `json:"title"`
	Explanation string   `json:"explanation"`
	Remediation string   `json:"remediation"`
	SSDF        []string `json:"ssdf"`
	SP80053     []string `json:"sp800_53"`
}

// Requirements returns the requirements of framework (SSDF or FedRAMP), or nil for another.
func (m *Mapping) Requirements(framework string) []Requirement {
	switch framework {
	case SSDF:
		return m.SSDF
	case FedRAMP:
		return m.SP80053
	}
	return nil
}

// LoadMapping reads the gap catalogue from data/gap_catalogue.json in policyFS (policies.FS or
// a policy directory) and joins it with the embedded mapping table: each requirement takes the
// codes of the catalogue entries that name it. The error says what is wrong with the
// catalogue or the table.
func LoadMapping(policyFS fs.FS) (*Mapping, error) {
	var m Mapping
	if err := json.Unmarshal(mappingJSON, &m); err != nil {
		return nil, fmt.Errorf("reading the mapping table: %w", err)
	}
	b, err := fs.ReadFile(policyFS, "data/gap_catalogue.json")
	if err != nil {
		return nil, fmt.Errorf("reading the gap catalogue: %w", err)
	}
	var doc struct {
		ASPM struct {
			Catalogue map[string]GapSummary `json:"gap_catalogue"`
		} `json:"aspm"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("reading the gap catalogue: %w", err)
	}
	if len(doc.ASPM.Catalogue) == 0 {
		return nil, fmt.Errorf("reading the gap catalogue: no aspm.gap_catalogue entries")
	}
	m.Catalogue = doc.ASPM.Catalogue
	join := func(reqs []Requirement, names func(GapSummary) []string) error {
		for i := range reqs {
			r := &reqs[i]
			for code, g := range m.Catalogue {
				if slices.Contains(names(g), r.ID) {
					r.Codes = append(r.Codes, code)
				}
			}
			slices.Sort(r.Codes)
			r.Codes = slices.Compact(r.Codes)
			for _, c := range r.Codes {
				if _, ok := m.Catalogue[c]; !ok {
					return fmt.Errorf("mapping table: %s names gap code %q, which is not in the catalogue", r.ID, c)
				}
			}
			for _, rule := range r.Rules {
				if _, ok := m.Rules[rule]; !ok {
					return fmt.Errorf("mapping table: %s names rule %q, which is not defined", r.ID, rule)
				}
			}
			if len(r.Codes) == 0 && len(r.Rules) == 0 {
				return fmt.Errorf("mapping table: nothing evidences %s: no gap code in the catalogue names it and it has no rule", r.ID)
			}
			if r.Codes == nil {
				r.Codes = []string{}
			}
		}
		return nil
	}
	if err := join(m.SSDF, func(g GapSummary) []string { return g.SSDF }); err != nil {
		return nil, err
	}
	if err := join(m.SP80053, func(g GapSummary) []string { return g.SP80053 }); err != nil {
		return nil, err
	}
	return &m, nil
}

// controlIDOf returns the OSCAL control ID of an SP 800-53 control ("SR-4(1)" → "sr-4.1");
// SSDF task IDs are kept as they are.
func controlIDOf(framework, id string) string {
	if framework != FedRAMP {
		return id
	}
	id = strings.ToLower(id)
	id = strings.ReplaceAll(id, "(", ".")
	return strings.ReplaceAll(id, ")", "")
}
