// Package sbom parses software bills of materials — CycloneDX (with cyclonedx-go) and SPDX JSON
// — into a summary and the list of components they name.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrMalformed is the class of every parse error; ErrUnknownFormat is returned for JSON that is
// neither CycloneDX nor SPDX.
var (
	ErrMalformed     = errors.New("malformed SBOM")
	ErrUnknownFormat = errors.New("not a CycloneDX or SPDX JSON document")
)

// Media types of SBOM documents.
const (
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
	MediaTypeSPDX      = "application/spdx+json"
)

// Component is one package an SBOM lists.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
}

// Document is a parsed SBOM.
type Document struct {
	Summary    evidence.SBOM
	Components []Component
}

// Parse reads a CycloneDX or SPDX JSON document. Errors wrap ErrMalformed or ErrUnknownFormat.
func Parse(data []byte) (*Document, error) {
	var probe struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		// JSON that is not an object (an array, a string, …) is JSON of another kind.
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field == "" {
			return nil, ErrUnknownFormat
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case probe.BOMFormat == "CycloneDX":
		return parseCycloneDX(data)
	case strings.HasPrefix(probe.SPDXVersion, "SPDX-"):
		return parseSPDX(data)
	}
	return nil, ErrUnknownFormat
}

func parseCycloneDX(data []byte) (*Document, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%w: CycloneDX: %w", ErrMalformed, err)
	}
	if bom.SpecVersion == 0 {
		// Required by the specification; the decoder leaves it unset when it is missing.
		return nil, fmt.Errorf("%w: CycloneDX: no specVersion", ErrMalformed)
	}
	doc := &Document{Summary: evidence.SBOM{Format: "cyclonedx", SpecVersion: bom.SpecVersion.String()}}
	var walk func(cs *[]cdx.Component)
	walk = func(cs *[]cdx.Component) {
		if cs == nil {
			return
		}
		for _, c := range *cs {
			doc.Components = append(doc.Components, Component{Name: c.Name, Version: c.Version, PURL: c.PackageURL})
			walk(c.Components)
		}
	}
	walk(bom.Components)
	doc.Summary.Components = len(doc.Components)
	return doc, nil
}

func parseSPDX(data []byte) (*Document, error) {
	var d struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				ReferenceType    string `json:"referenceType"`
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%w: SPDX: %w", ErrMalformed, err)
	}
	doc := &Document{Summary: evidence.SBOM{Format: "spdx", SpecVersion: strings.TrimPrefix(d.SPDXVersion, "SPDX-")}}
	for _, p := range d.Packages {
		c := Component{Name: p.Name, Version: p.VersionInfo}
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" {
				c.PURL = r.ReferenceLocator
				break
			}
		}
		doc.Components = append(doc.Components, c)
	}
	doc.Summary.Components = len(doc.Components)
	return doc, nil
}
