package sbom_test

import (
	"testing"

	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// BenchmarkParse parses the largest real SBOM of the corpus (guac-mongo, a 590 kB syft
// CycloneDX JSON with 293 components; SOURCES.md calls the dropwizard XML the largest, but it is
// 412 kB) and, for comparison, the largest of each other kind.
func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct{ name, file string }{
		{"largest/cyclonedx-json", "sbom/cyclonedx/guac-mongo.syft.cdx-1.4.json"},
		{"cyclonedx-xml", "sbom/cyclonedx/bom-examples/dropwizard-1.3.15.cdx-1.2.xml"},
		{"spdx-json", "sbom/spdx/chainloop-syft-0.73.spdx-2.3.json"},
	} {
		data := testcorpus.Read(b, bm.file)
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sbom.Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
