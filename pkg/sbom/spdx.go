package sbom

import (
	"bytes"
	"fmt"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// parseSPDXJSON reads an SPDX 2.2 or 2.3 JSON document whose spdxVersion field is version.
// tools-golang converts both to its 2.3 model, and with it the version, so the summary takes
// the version from the document itself.
func parseSPDXJSON(data []byte, version string) (*Document, error) {
	v := strings.TrimPrefix(version, "SPDX-")
	if v != "2.2" && v != "2.3" {
		return nil, fmt.Errorf("%w: SPDX JSON: unsupported spdxVersion %q (want SPDX-2.2 or SPDX-2.3)", ErrMalformed, version)
	}
	var d *spdx.Document
	err := guard(func() error {
		var err error
		d, err = spdxjson.Read(bytes.NewReader(data))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: SPDX JSON: %w", ErrMalformed, err)
	}
	doc := &Document{Summary: evidence.SBOM{Format: "spdx", SpecVersion: v}}
	for _, p := range d.Packages {
		if p == nil {
			continue
		}
		doc.Components = append(doc.Components, fromSPDX(p))
	}
	doc.Summary.Components = len(doc.Components)
	return doc, nil
}

func fromSPDX(p *spdx.Package) Component {
	c := Component{
		Name:    strings.TrimSpace(p.PackageName),
		Version: strings.TrimSpace(p.PackageVersion),
		Type:    strings.ReplaceAll(strings.ToLower(strings.TrimSpace(p.PrimaryPackagePurpose)), "_", "-"),
	}
	for _, r := range p.PackageExternalReferences {
		if r != nil && strings.TrimSpace(r.RefType) == spdx.PackageManagerPURL {
			c.PURL = strings.TrimSpace(r.Locator)
			break
		}
	}
	for _, l := range []string{p.PackageLicenseDeclared, p.PackageLicenseConcluded} {
		if l = strings.TrimSpace(l); l != "NOASSERTION" && l != "NONE" {
			c.Licenses = addLicense(c.Licenses, l)
		}
	}
	for _, h := range p.PackageChecksums {
		c.Hashes = addHash(c.Hashes, string(h.Algorithm), h.Value)
	}
	return c
}
