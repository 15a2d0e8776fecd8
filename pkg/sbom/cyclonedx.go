package sbom

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// cycloneDXNamespace is the XML namespace of CycloneDX documents, less the spec version.
const cycloneDXNamespace = "http://cyclonedx.org/schema/bom/"

func parseCycloneDXJSON(data []byte) (*Document, error) {
	var bom cdx.BOM
	err := guard(func() error {
		return cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: CycloneDX JSON: %w", ErrMalformed, err)
	}
	if bom.SpecVersion == 0 {
		// Required by the specification; the decoder leaves it unset when it is missing.
		return nil, fmt.Errorf("%w: CycloneDX JSON: no specVersion", ErrMalformed)
	}
	return fromCycloneDX(&bom, bom.SpecVersion), nil
}

// parseXML reads a CycloneDX XML document: its root element must be bom in a CycloneDX
// namespace, which also gives the spec version.
func parseXML(data []byte) (*Document, error) {
	root, err := rootElement(data)
	if err != nil {
		return nil, err
	}
	ns := root.Name.Space
	if root.Name.Local != "bom" || !strings.HasPrefix(ns, cycloneDXNamespace) {
		return nil, fmt.Errorf("%w: XML root element %q in namespace %q, not a CycloneDX bom", ErrUnknownFormat, root.Name.Local, ns)
	}
	sv := specVersionOf(strings.TrimPrefix(ns, cycloneDXNamespace))
	if sv == 0 {
		return nil, fmt.Errorf("%w: CycloneDX XML: unknown namespace %q", ErrMalformed, ns)
	}
	// A bytes.Reader is an io.ByteReader, so the XML decoder reads it without buffering ahead
	// and r is left just after the root element.
	r := bytes.NewReader(data)
	var bom cdx.BOM
	if err := guard(func() error { return cdx.NewBOMDecoder(r, cdx.BOMFileFormatXML).Decode(&bom) }); err != nil {
		return nil, fmt.Errorf("%w: CycloneDX XML: %w", ErrMalformed, err)
	}
	if err := onlyMisc(r); err != nil {
		return nil, fmt.Errorf("%w: CycloneDX XML: after the root element: %w", ErrMalformed, err)
	}
	return fromCycloneDX(&bom, sv), nil
}

// rootElement returns the first element of the XML document data. Errors wrap ErrMalformed.
func rootElement(data []byte) (xml.StartElement, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, fmt.Errorf("%w: XML: no root element", ErrMalformed)
		}
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("%w: XML: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, fmt.Errorf("%w: XML: text before the root element", ErrMalformed)
			}
		}
	}
}

// onlyMisc checks that what r holds is what XML allows after the root element: white space,
// comments and processing instructions.
func onlyMisc(r io.Reader) error {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text")
			}
		case xml.StartElement:
			return fmt.Errorf("another element, <%s>", t.Name.Local)
		default:
			return fmt.Errorf("unexpected %T", t)
		}
	}
}

// specVersionOf returns the CycloneDX version named v ("1.4"), or 0 if there is none.
func specVersionOf(v string) cdx.SpecVersion {
	for sv := cdx.SpecVersion1_0; sv <= cdx.SpecVersion1_7; sv++ {
		if sv.String() == v {
			return sv
		}
	}
	return 0
}

func fromCycloneDX(bom *cdx.BOM, sv cdx.SpecVersion) *Document {
	doc := &Document{Summary: evidence.SBOM{Format: "cyclonedx", SpecVersion: sv.String()}}
	doc.Components = appendCycloneDX(doc.Components, bom.Components)
	doc.Summary.Components = len(doc.Components)
	return doc
}

// appendCycloneDX appends the components cs and those nested in them, depth first, to out.
func appendCycloneDX(out []Component, cs *[]cdx.Component) []Component {
	if cs == nil {
		return out
	}
	for i := range *cs {
		c := &(*cs)[i]
		comp := Component{
			Name:    strings.TrimSpace(c.Name),
			Version: strings.TrimSpace(c.Version),
			PURL:    strings.TrimSpace(c.PackageURL),
			Type:    strings.TrimSpace(string(c.Type)),
		}
		if c.Licenses != nil {
			for _, l := range *c.Licenses {
				switch {
				case l.License != nil && strings.TrimSpace(l.License.ID) != "":
					comp.Licenses = addLicense(comp.Licenses, l.License.ID)
				case l.License != nil:
					comp.Licenses = addLicense(comp.Licenses, l.License.Name)
				default:
					comp.Licenses = addLicense(comp.Licenses, l.Expression)
				}
			}
		}
		if c.Hashes != nil {
			for _, h := range *c.Hashes {
				comp.Hashes = addHash(comp.Hashes, string(h.Algorithm), h.Value)
			}
		}
		out = append(out, comp)
		out = appendCycloneDX(out, c.Components)
	}
	return out
}

// cdxJSON is the part of a CycloneDX JSON document that Parse keeps, with the specification's
// field names and shapes (which are cyclonedx-go's): decoding only these is several times
// faster than decoding the whole document with cyclonedx-go, which for SBOMs of thousands of
// components is most of what collecting and indexing them costs. It decodes the JSON format
// probe too, so a document is read once.
type cdxJSON struct {
	BOMFormat   string         `json:"bomFormat"`
	SPDXVersion string         `json:"spdxVersion"`
	SpecVersion *string        `json:"specVersion"`
	Components  []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	Version    string         `json:"version"`
	PURL       string         `json:"purl"`
	Licenses   []cdxLicense   `json:"licenses"`
	Hashes     []cdxHash      `json:"hashes"`
	Components []cdxComponent `json:"components"`
}

// cdxLicense is a license choice: a license by id or name, or an SPDX expression.
type cdxLicense struct {
	License *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"license"`
	Expression string `json:"expression"`
}

type cdxHash struct {
	Algorithm string `json:"alg"`
	Value     string `json:"content"`
}

// document is the Document of b; ok is false when b's spec version is missing or unknown (the
// slow path then says so).
func (b *cdxJSON) document() (*Document, bool) {
	if b.SpecVersion == nil {
		return nil, false
	}
	sv := specVersionOf(*b.SpecVersion)
	if sv == 0 {
		return nil, false
	}
	doc := &Document{Summary: evidence.SBOM{Format: "cyclonedx", SpecVersion: sv.String()}}
	doc.Components = appendCDXJSON(doc.Components, b.Components)
	doc.Summary.Components = len(doc.Components)
	return doc, true
}

// appendCDXJSON is appendCycloneDX for cdxComponent: the components cs and those nested in
// them, depth first.
func appendCDXJSON(out []Component, cs []cdxComponent) []Component {
	for i := range cs {
		c := &cs[i]
		comp := Component{
			Name:    strings.TrimSpace(c.Name),
			Version: strings.TrimSpace(c.Version),
			PURL:    strings.TrimSpace(c.PURL),
			Type:    strings.TrimSpace(c.Type),
		}
		for _, l := range c.Licenses {
			switch {
			case l.License != nil && strings.TrimSpace(l.License.ID) != "":
				comp.Licenses = addLicense(comp.Licenses, l.License.ID)
			case l.License != nil:
				comp.Licenses = addLicense(comp.Licenses, l.License.Name)
			default:
				comp.Licenses = addLicense(comp.Licenses, l.Expression)
			}
		}
		for _, h := range c.Hashes {
			comp.Hashes = addHash(comp.Hashes, h.Algorithm, h.Value)
		}
		out = append(out, comp)
		out = appendCDXJSON(out, c.Components)
	}
	return out
}
