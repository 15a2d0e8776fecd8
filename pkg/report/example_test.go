package report_test

import (
	"fmt"

	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/policies"
)

// The mapping table joins each requirement with the gap codes the policy's catalogue maps to
// it, and gives each control its FedRAMP baselines.
func ExampleLoadMapping() {
	m, err := report.LoadMapping(policies.FS)
	if err != nil {
		panic(err)
	}
	for _, r := range m.Requirements(report.SSDF) {
		if r.ID == "PS.1.1" || r.ID == "RV.1.1" {
			fmt.Println(r.ID, r.Codes, r.Rules)
		}
	}
	for _, r := range m.Requirements(report.FedRAMP) {
		if r.ID == "SI-7(15)" || r.ID == "SR-4" {
			fmt.Println(r.ID, r.Baselines, r.Codes)
		}
	}
	// Output:
	// PS.1.1 [source.not_allowed source.unpinned] []
	// RV.1.1 [] [sbom_inventory]
	// SR-4 [] [evidence.malformed provenance.missing sbom.missing source.not_allowed]
	// SI-7(15) [high] [provenance.unsigned signature.invalid signer.identity_mismatch tlog.missing]
}
