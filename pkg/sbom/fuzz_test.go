package sbom_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// FuzzParse parses arbitrary bytes. Parse must not panic, must fail only with ErrMalformed or
// ErrUnknownFormat, and a document it returns must be consistent. The seeds are the small real
// SBOMs of the corpus (the largest are left out to keep each execution fast), the deliberately
// invalid ones, and small hand-written CycloneDX XML, SPDX and tag-value documents (the corpus's
// XML SBOMs are over 100 kB).
func FuzzParse(f *testing.F) {
	for _, rel := range []string{
		"sbom/cyclonedx/guac-distroless.syft.cdx-1.4.json",             // 5.5 kB, syft
		"sbom/cyclonedx/chainloop-example.cdx-1.6.json",                // 5.8 kB, 1.6
		"sbom/cyclonedx/bom-examples/hbom-pcie-sata.cdx-1.4.json",      // 5.5 kB, hardware
		"sbom/cyclonedx/bom-examples/vex.cdx-1.4.json",                 // 4.3 kB, no components
		"sbom/cyclonedx/bom-examples/saasbom.cdx-1.4.json",             // 5.1 kB, services
		"sbom/cyclonedx/invalid/guac-invalid-cyclonedx.json",           // bomFormat "CDX"
		"sbom/cyclonedx/invalid/guac-invalid-cyclonedx.xml",            // an XML declaration
		"sbom/spdx/invalid/guac-invalid-spdx.json",                     // spdxVersion 2
		"sbom/spdx/spdx-examples/example10-hello-source.spdx-2.3.json", // 3.3 kB, files
		"sbom/spdx/spdx-examples/example11-sbom.spdx-2.3.json",         // 4.8 kB, purls
	} {
		f.Add(testcorpus.Read(f, rel))
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"a","components":[{"name":"b","components":[]}]}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"y","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:npm/y@1"}]}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1"><metadata><component type="application"><name>m</name></component></metadata>` +
		`<components><component type="library"><name>a</name><version>1</version><purl>pkg:npm/a@1</purl>` +
		`<hashes><hash alg="SHA-256">ab</hash></hashes><licenses><license><id>MIT</id></license><expression>MIT OR 0BSD</expression></licenses>` +
		`<components><component type="file"><name>b</name></component></components></component></components></bom>`))
	f.Add([]byte(`<cdx:bom xmlns:cdx="http://cyclonedx.org/schema/bom/1.6"><cdx:components><cdx:component type="library"><cdx:name>x</cdx:name></cdx:component></cdx:components></cdx:bom><!-- c -->`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.2","SPDXID":"SPDXRef-DOCUMENT","packages":[{"name":"y","SPDXID":"SPDXRef-y","primaryPackagePurpose":"LIBRARY",` +
		`"licenseDeclared":"MIT","licenseConcluded":"NOASSERTION","checksums":[{"algorithm":"SHA1","checksumValue":"AB"}],"hasFiles":["SPDXRef-f"]}],` +
		`"files":[{"fileName":"f","SPDXID":"SPDXRef-f"}],"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relatedSpdxElement":"SPDXRef-y","relationshipType":"DESCRIBES"}]}`))
	f.Add([]byte("SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := sbom.Parse(data)
		if err != nil {
			if !errors.Is(err, sbom.ErrMalformed) && !errors.Is(err, sbom.ErrUnknownFormat) {
				t.Fatalf("Parse error %v wraps neither ErrMalformed nor ErrUnknownFormat", err)
			}
			if doc != nil {
				t.Fatalf("Parse returned a document with its error %v", err)
			}
			return
		}
		if doc == nil {
			t.Fatal("Parse returned neither a document nor an error")
		}
		if f := doc.Summary.Format; f != "cyclonedx" && f != "spdx" {
			t.Errorf("Summary.Format = %q", f)
		}
		if doc.Summary.Components != len(doc.Components) {
			t.Errorf("Summary.Components = %d, but %d components", doc.Summary.Components, len(doc.Components))
		}
		for _, c := range doc.Components {
			for _, l := range c.Licenses {
				if l == "" || l != strings.TrimSpace(l) || l == "NOASSERTION" || l == "NONE" {
					t.Errorf("component %q: licence %q", c.Name, l)
				}
			}
			for alg, v := range c.Hashes {
				if alg == "" || v == "" || alg != strings.ToLower(alg) || v != strings.ToLower(v) || strings.HasPrefix(alg, "sha-") {
					t.Errorf("component %q: hash %q: %q not normalised", c.Name, alg, v)
				}
			}
		}
	})
}
