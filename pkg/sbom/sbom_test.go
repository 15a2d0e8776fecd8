package sbom_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// corpusCase is one file of the corpus's sbom/ directory and what Parse must make of it.
type corpusCase struct {
	file string
	// err is the error class for the deliberately invalid files; want is the summary otherwise.
	err  error
	want evidence.SBOM
	// purls is the number of components with a PURL; licenses and hashes are the numbers of
	// licences and hashes over all components; types counts the components by non-empty type.
	purls, licenses, hashes int
	types                   map[string]int
	// some are components that must be listed, compared in full.
	some []sbom.Component
}

// corpus lists every SBOM of the real-world corpus (TestParseCorpus fails if a file is missing
// from it). The numbers were computed independently of Parse, with python3 (json and
// xml.etree.ElementTree) over each file:
//
//	CycloneDX JSON: walk(cs) = sum(1 + walk(c.get("components")) for c in cs or []) over the
//	    top-level "components"; metadata.component (the SBOM's subject) is not counted.
//	CycloneDX XML:  the same walk over <bom>/<components>/<component>, recursing into each
//	    component's own <components>. SOURCES.md says 168 (dropwizard) and 63 (laravel): those
//	    are counts of every <component> element in the file (`grep -c '<component '` gives the
//	    same), which include the one in <metadata>: dropwizard-parent 1.3.15 and
//	    cyclonedx-php-composer-demo dev-master. Under bom/components there are 167 and 62, and
//	    62 agrees with laravel's JSON rendering, so 167/62 are right and SOURCES.md is off by one.
//	SPDX:           len(doc["packages"]) (files are not components); a PURL is the first
//	    externalRefs entry with referenceType "purl".
//	licenses:  per component, license.id or else license.name or else expression (CycloneDX), or
//	           licenseDeclared then licenseConcluded without NOASSERTION/NONE (SPDX), each once.
//	hashes:    per component, distinct algorithms (CycloneDX hashes, SPDX checksums).
//
// No file in the corpus nests CycloneDX components; TestParseNestedCycloneDX covers that. The
// components in some were printed from the files by the same script.
var corpus = []corpusCase{
	{
		file:  "sbom/cyclonedx/bom-examples/cbom-protocol.cdx-1.6.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: 8},
		types: map[string]int{"cryptographic-asset": 8},
	},
	{
		file:  "sbom/cyclonedx/bom-examples/dropwizard-1.3.15.cdx-1.2.xml",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.2", Components: 167},
		purls: 167, licenses: 164, hashes: 1336, types: map[string]int{"library": 167},
		some: []sbom.Component{{
			Name: "jackson-databind", Version: "2.9.10", PURL: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10?type=jar",
			Type: "library", Licenses: []string{"Apache-2.0"},
			Hashes: map[string]string{
				"md5":      "ff43d79c624b0f7d465542fee6648474",
				"sha1":     "e201bb70b7469ba18dd58ed8268aa44e702fa2f0",
				"sha256":   "49bb71a73fcdcdf59c40a1a01d7245f41d3a8ba96ea6182b720f0c6167241757",
				"sha3-256": "470b46a826c8edeb12852d9cbab9f5ab0c3a0b0989a7f2b0a8756c9a88aae89f",
				"sha3-384": "b5ff2d55727a9738de89c5275200a73cfa2a96814b9c2908854159106092a0e2cec6a14a5d536e1c5b95d72f4330431f",
				"sha3-512": "35616596eff2bafc2e047ce7cbfc4c0b8ce83af277953a2af6b41e43885c74b0809d14dd339290991c2ecb82e82190832b616bca0e3225aa113bfb483fa1b2b8",
				"sha384":   "566b13b88b9fe60d06a5ea57f38dc5b9a390414a8925d2d0f2ed2c200ad1168cc4228596f3bb3f1d0374f326ace610d5",
				"sha512":   "18db8ee61a24498803352c6fc40b83cc1f277033fd4cd743505e3bfa1660c84d8522a70b06401f834b405cbc6e686f6f5c4d54aff034751e9addbf1b4603b2c2",
			},
		}},
	},
	{
		file:  "sbom/cyclonedx/bom-examples/hbom-pcie-sata.cdx-1.4.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 6},
		types: map[string]int{"device": 6},
		some:  []sbom.Component{{Name: "PCIE-098-02-F-D-EMS2", Version: "2.9.10", Type: "device"}},
	},
	{
		file:  "sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 62},
		purls: 62, licenses: 62, types: map[string]int{"library": 62},
		some: []sbom.Component{{Name: "stack-cors", Version: "1.3.0", PURL: "pkg:composer/asm89/stack-cors@1.3.0", Type: "library", Licenses: []string{"MIT"}}},
	},
	{
		file:  "sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.xml",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 62},
		purls: 62, licenses: 62, types: map[string]int{"library": 62},
		some: []sbom.Component{{Name: "stack-cors", Version: "1.3.0", PURL: "pkg:composer/asm89/stack-cors@1.3.0", Type: "library", Licenses: []string{"MIT"}}},
	},
	{
		file:  "sbom/cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.2", Components: 201},
		purls: 201, licenses: 197, hashes: 201, types: map[string]int{"library": 201},
		some: []sbom.Component{{
			// A licence by id and one by name only.
			Name: "github.com/BurntSushi/xgb", Version: "v0.0.0-20160522181843-27f122750802",
			PURL: "pkg:golang/github.com/BurntSushi/xgb@v0.0.0-20160522181843-27f122750802", Type: "library",
			Licenses: []string{"BSD-3-Clause", "GooglePatentClause"},
			Hashes:   map[string]string{"sha256": "d410d3cf4bbd9c2dfffe938231d347f828972556098795103423811bb8db10b7"},
		}},
	},
	// Services only, and a VEX document: valid CycloneDX without components.
	{
		file: "sbom/cyclonedx/bom-examples/saasbom.cdx-1.4.json",
		want: evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 0},
	},
	{
		file:  "sbom/cyclonedx/bom-examples/vex-target-bom.cdx-1.3.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.3", Components: 3},
		purls: 3, licenses: 3, hashes: 24, types: map[string]int{"library": 3},
		some: []sbom.Component{{
			Name: "jackson-databind", Version: "2.10.0", PURL: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar",
			Type: "library", Licenses: []string{"Apache-2.0"},
			Hashes: map[string]string{
				"md5":      "195bfa368ad502b05427d9fb0346735d",
				"sha1":     "1127c9cf62f2bb3121a3a2a0a1351d251a602117",
				"sha256":   "8e6c566c67fc61a96c5dfc4a71d430f2565765778ec9a6ef216c5460a9911b60",
				"sha3-256": "a9b13e669b7d488b319187b9c7ce11928a026412e12dc46e572ade0c7a334a0a",
				"sha3-384": "12d4eb511d20959451f13c2659286bb00c7ad6d78a4fb412295781d144a2317da15f7908ec4cb97635161389c6205368",
				"sha3-512": "7938f4bdea72a5b9e13c221568094829f3cd904bcbb6319e1f2869760420c9646c4c97b511e31be93dfbc2559fc46ed0844e12a4c610e31e095dcf34651b40bd",
				"sha384":   "213c54b716a7bee01af296a6b965e8fcad42ef26dc3ef9a514b9f88e3b2e8547391a07a95696cd74510f3c948c6b4a63",
				"sha512":   "64851a5f6cb9805bade8376046b02050bd3bd377346e8339bc7d3eb4310417e80029f073e873da1ec1e21017e7480683bdf969c680b870153a5e16bcb75b7815",
			},
		}},
	},
	{
		file: "sbom/cyclonedx/bom-examples/vex.cdx-1.4.json",
		want: evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 0},
	},
	{
		file:  "sbom/cyclonedx/chainloop-control-plane.syft.cdx-1.5.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.5", Components: 250},
		purls: 250, licenses: 4, types: map[string]int{"library": 250},
		some: []sbom.Component{{Name: "ariga.io/atlas", Version: "v0.13.3", PURL: "pkg:golang/ariga.io/atlas@v0.13.3", Type: "library"}},
	},
	{
		file:  "sbom/cyclonedx/chainloop-example.cdx-1.6.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: 8},
		types: map[string]int{"cryptographic-asset": 8},
		// A cryptographic asset: neither a version nor a PURL.
		some: []sbom.Component{{Name: "TLSv1.2", Type: "cryptographic-asset"}},
	},
	{
		file:  "sbom/cyclonedx/guac-alpine.syft.cdx-1.4.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 15},
		purls: 14, licenses: 16, types: map[string]int{"library": 14, "operating-system": 1},
		some: []sbom.Component{
			{Name: "alpine", Version: "3.16.2", Type: "operating-system"},
			{
				Name: "alpine-baselayout", Version: "3.2.0-r22", PURL: "pkg:alpine/alpine-baselayout@3.2.0-r22?arch=x86_64&upstream=alpine-baselayout&distro=alpine-3.16.2",
				Type: "library", Licenses: []string{"GPL-2.0-only"},
			},
			{
				Name: "busybox", Version: "1.35.0-r17", PURL: "pkg:alpine/busybox@1.35.0-r17?arch=x86_64&upstream=busybox&distro=alpine-3.16.2",
				Type: "library", Licenses: []string{"GPL-2.0-only"},
			},
		},
	},
	{
		file:  "sbom/cyclonedx/guac-distroless.syft.cdx-1.4.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 3},
		purls: 3, licenses: 1, types: map[string]int{"library": 3},
	},
	{
		file:  "sbom/cyclonedx/guac-mongo.syft.cdx-1.4.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 293},
		purls: 292, licenses: 466, types: map[string]int{"library": 292, "operating-system": 1},
		some: []sbom.Component{{
			Name: "libcurl4", Version: "7.68.0-1ubuntu2.13", PURL: "pkg:deb/ubuntu/libcurl4@7.68.0-1ubuntu2.13?arch=amd64&upstream=curl&distro=ubuntu-20.04",
			Type: "library", Licenses: []string{"BSD-3-Clause", "BSD-4-Clause", "ISC", "curl"},
		}},
	},
	{
		file:  "sbom/cyclonedx/guac-quarkus.maven-plugin.cdx-1.4.json",
		want:  evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: 94},
		purls: 94, licenses: 107, hashes: 752, types: map[string]int{"library": 94},
		some: []sbom.Component{{
			Name: "jakarta.json", Version: "1.1.6", PURL: "pkg:maven/org.glassfish/jakarta.json@1.1.6?type=jar", Type: "library",
			Licenses: []string{"EPL-2.0", "GNU General Public License, version 2 with the GNU Classpath Exception"},
			Hashes: map[string]string{
				"md5":      "929731627c96deeef4e963b247089c3c",
				"sha1":     "a39aba0ef0a70c3f54a44a2c539a4f11c9bb07e8",
				"sha256":   "4e1414edc1d6c7dc0747d187c94b451515ed340a9b735156daa91fcefc6aa1b0",
				"sha3-256": "edbf6f209ffe3b369496fb6766f2dac3ef62e30900eb7ce8619e578f8d0cf7d8",
				"sha3-384": "ae8ae8c8e445bf809ed11f975548fde8110d808866cc2c39384224542821db2bdb6e72349789a5e5643c3b68730814a9",
				"sha3-512": "0b9ffc46c100a5e2a32666b93ba6d2205045c1dbfd9d57dfa506b3d6ac6507d6acec5a802fdf1dd1aaf378f61fa42381470cd35e4652d27a62b38983e020faea",
				"sha384":   "931055c59d6cbf2f994bb09a511d17e5f8f7ce0ef78994f367b15bbca84cd968d15219953495783468d95d711d2af555",
				"sha512":   "2c5cdc4410006e0de4180970de815832ab997ed6e7ede6c153327d589913c221df4d9ffa1d63549f0b428cdc87d9b808db340566111ab0c26981c2fe644876fe",
			},
		}},
	},
	// bomFormat "CDX": JSON, but not CycloneDX.
	{file: "sbom/cyclonedx/invalid/guac-invalid-cyclonedx.json", err: sbom.ErrUnknownFormat},
	// An XML declaration and nothing else: XML without a root element.
	{file: "sbom/cyclonedx/invalid/guac-invalid-cyclonedx.xml", err: sbom.ErrMalformed},
	{
		// Category spelt PACKAGE-MANAGER; the PURL is percent-encoded.
		file:  "sbom/spdx/chainloop-syft-0.73.spdx-2.3.json",
		want:  evidence.SBOM{Format: "spdx", SpecVersion: "2.3", Components: 30},
		purls: 30, licenses: 30,
		some: []sbom.Component{{Name: "@algolia/autocomplete-core", Version: "1.7.4", PURL: "pkg:npm/%40algolia/autocomplete-core@1.7.4", Licenses: []string{"MIT"}}},
	},
	{
		// syft writes the purl after many cpe23Type references (category PACKAGE_MANAGER).
		file:  "sbom/spdx/guac-alpine.syft.spdx-2.2.json",
		want:  evidence.SBOM{Format: "spdx", SpecVersion: "2.2", Components: 14},
		purls: 14, licenses: 14,
		some: []sbom.Component{
			{
				Name: "busybox", Version: "1.35.0-r17", PURL: "pkg:alpine/busybox@1.35.0-r17?arch=x86_64&upstream=busybox&distro=alpine-3.16.2",
				Licenses: []string{"GPL-2.0-only"},
			},
			{
				// An SPDX expression, declared and concluded alike.
				Name: "ca-certificates-bundle", Version: "20220614-r0", PURL: "pkg:alpine/ca-certificates-bundle@20220614-r0?arch=x86_64&upstream=ca-certificates&distro=alpine-3.16.2",
				Licenses: []string{"MPL-2.0 AND MIT"},
			},
		},
	},
	// spdxVersion is the number 2.
	{file: "sbom/spdx/invalid/guac-invalid-spdx.json", err: sbom.ErrMalformed},
	{
		file:     "sbom/spdx/spdx-examples/example10-hello-source.spdx-2.3.json",
		want:     evidence.SBOM{Format: "spdx", SpecVersion: "2.3", Components: 1},
		licenses: 1, types: map[string]int{"library": 1},
		some: []sbom.Component{{Name: "hello", Type: "library", Licenses: []string{"MIT"}}},
	},
	{
		file:  "sbom/spdx/spdx-examples/example11-sbom.spdx-2.3.json",
		want:  evidence.SBOM{Format: "spdx", SpecVersion: "2.3", Components: 4},
		purls: 4, licenses: 4, hashes: 3,
		some: []sbom.Component{
			// licenseDeclared NOASSERTION is left out.
			{
				Name: "tokio", Version: "1.19.2", PURL: "pkg:cargo/tokio@1.19.2", Licenses: []string{"MIT"},
				Hashes: map[string]string{"sha256": "c51a52ed6686dd62c320f9b89299e9dfb46f730c7a48e635c19f21d116cb1439"},
			},
			{
				Name: "pretty_env_logger", Version: "0.4.0", PURL: "pkg:cargo/pretty_env_logger@0.4.0", Licenses: []string{"MIT OR Apache-2.0"},
				Hashes: map[string]string{"sha256": "926d36b9553851b8b0005f1275891b392ee4d2d833852c417ed025477350fb9d"},
			},
		},
	},
	{
		file:     "sbom/spdx/spdx-examples/example14-examplemaven-enriched.spdx-2.3.json",
		want:     evidence.SBOM{Format: "spdx", SpecVersion: "2.3", Components: 6},
		licenses: 2, hashes: 1, types: map[string]int{"library": 1},
		some: []sbom.Component{
			{Name: "JUnit", Version: "3.8.1", Licenses: []string{"CPL-1.0"}},
			{
				Name: "examplemaven", Version: "0.0.1", Type: "library", Licenses: []string{"Apache-2.0"},
				Hashes: map[string]string{"sha1": "b8a7e6c75001e6d78625cfc9a3103bf121abf8b4"},
			},
		},
	},
	{
		file:     "sbom/spdx/spdx-examples/example8-examplemaven.spdx-2.3.json",
		want:     evidence.SBOM{Format: "spdx", SpecVersion: "2.3", Components: 6},
		licenses: 2, hashes: 1, types: map[string]int{"library": 1},
		some: []sbom.Component{{Name: "JUnit", Version: "3.8.1", Licenses: []string{"CPL-1.0"}}},
	},
}

func TestParseCorpus(t *testing.T) {
	t.Run("every file is listed", func(t *testing.T) {
		root := testcorpus.Dir(t)
		var files []string
		err := filepath.WalkDir(filepath.Join(root, "sbom"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, tt := range corpus {
			listed = append(listed, tt.file)
		}
		if diff := cmp.Diff(files, listed, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("corpus files (-on disk +listed):\n%s", diff)
		}
	})
	for _, tt := range corpus {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := sbom.Parse(testcorpus.Read(t, tt.file))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Parse = %+v, %v; want an error wrapping %v", doc, err, tt.err)
				}
				if doc != nil {
					t.Errorf("Parse returned a document with its error: %+v", doc)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkDoc(t, doc, tt.want, tt.some)
			var purls, licenses, hashes int
			var types map[string]int
			for _, c := range doc.Components {
				if c.PURL != "" {
					purls++
					if !strings.HasPrefix(c.PURL, "pkg:") {
						t.Errorf("component %q: PURL %q does not start with pkg:", c.Name, c.PURL)
					}
				}
				licenses += len(c.Licenses)
				hashes += len(c.Hashes)
				if c.Type != "" {
					if types == nil {
						types = make(map[string]int)
					}
					types[c.Type]++
				}
			}
			got := [3]int{purls, licenses, hashes}
			if want := [3]int{tt.purls, tt.licenses, tt.hashes}; got != want {
				t.Errorf("PURLs, licences, hashes = %v, want %v", got, want)
			}
			if diff := cmp.Diff(tt.types, types, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("components by type (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseCycloneDXXMLAsJSON checks that the XML and JSON renderings of one BOM give the same
// components.
func TestParseCycloneDXXMLAsJSON(t *testing.T) {
	fromJSON := mustParse(t, testcorpus.Read(t, "sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.json"))
	fromXML := mustParse(t, testcorpus.Read(t, "sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.xml"))
	if diff := cmp.Diff(fromJSON, fromXML); diff != "" {
		t.Errorf("Parse (-JSON +XML):\n%s", diff)
	}
}

func TestParseCycloneDXXML(t *testing.T) {
	tests := []struct {
		name string
		data string
		want *sbom.Document
	}{
		{
			name: "nested components, licences of each kind, hashes",
			data: `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<bom xmlns="http://cyclonedx.org/schema/bom/1.6" version="1">
  <metadata><component type="application"><name>subject</name></component></metadata>
  <components>
    <component type="application">
      <name> app </name><version>1</version>
      <licenses><expression>MIT OR Apache-2.0</expression></licenses>
      <components>
        <component type="library">
          <name>lib</name><version>2</version><purl>pkg:npm/lib@2</purl>
          <hashes><hash alg="SHA-256">ABCDEF</hash><hash alg="SHA-256">0000</hash><hash alg="SHA3-512">01</hash></hashes>
          <licenses><license><id>MIT</id></license><license><name>Custom</name></license></licenses>
        </component>
      </components>
    </component>
    <component type="container"><name>tail</name></component>
  </components>
</bom>
<!-- trailing comment -->
`,
			want: &sbom.Document{
				Summary: evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: 3},
				Components: []sbom.Component{
					{Name: "app", Version: "1", Type: "application", Licenses: []string{"MIT OR Apache-2.0"}},
					{
						Name: "lib", Version: "2", PURL: "pkg:npm/lib@2", Type: "library", Licenses: []string{"MIT", "Custom"},
						Hashes: map[string]string{"sha256": "abcdef", "sha3-512": "01"},
					},
					{Name: "tail", Type: "container"},
				},
			},
		},
		{
			name: "a namespace prefix, a comment right after the root",
			data: `<cdx:bom xmlns:cdx="http://cyclonedx.org/schema/bom/1.3"><cdx:components><cdx:component type="library"><cdx:name>x</cdx:name></cdx:component></cdx:components></cdx:bom><!-- c --><?pi x?>`,
			want: &sbom.Document{
				Summary:    evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.3", Components: 1},
				Components: []sbom.Component{{Name: "x", Type: "library"}},
			},
		},
		{
			name: "no components",
			data: `<bom xmlns="http://cyclonedx.org/schema/bom/1.5"/>`,
			want: &sbom.Document{Summary: evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.5"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, mustParse(t, []byte(tt.data))); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseComponentFields checks how licences, hashes and types are read and normalised.
func TestParseComponentFields(t *testing.T) {
	tests := []struct {
		name string
		data string
		want sbom.Component
	}{
		{
			name: "CycloneDX licences: id, name and expression, each once",
			data: `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","licenses":[
				{"license":{"id":"MIT","name":"The MIT licence"}},{"license":{"name":"Custom"}},{"expression":"MIT OR GPL-2.0-only"},
				{"license":{"id":"MIT"}},{"license":{"url":"https://example.com"}}]}]}`,
			want: sbom.Component{Name: "x", Type: "library", Licenses: []string{"MIT", "Custom", "MIT OR GPL-2.0-only"}},
		},
		{
			name: "CycloneDX hashes: names and hex lower-cased, the first of a repeated algorithm kept",
			data: `{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"type":"file","name":"x","hashes":[
				{"alg":"SHA-1","content":"AA"},{"alg":"SHA-512","content":"bb"},{"alg":"BLAKE2b-256","content":"cc"},
				{"alg":"SHA-1","content":"dd"},{"alg":"MD5","content":""}]}]}`,
			want: sbom.Component{Name: "x", Type: "file", Hashes: map[string]string{"sha1": "aa", "sha512": "bb", "blake2b-256": "cc"}},
		},
		{
			name: "SPDX declared and concluded licences, checksums, purpose",
			data: `{"spdxVersion":"SPDX-2.3","packages":[{"name":"x","versionInfo":"1","primaryPackagePurpose":"OPERATING_SYSTEM",
				"licenseDeclared":"MIT","licenseConcluded":"MIT AND BSD-3-Clause",
				"checksums":[{"algorithm":"SHA256","checksumValue":"AB"},{"algorithm":"SHA3-256","checksumValue":"cd"},{"algorithm":"MD5","checksumValue":"ef"}]}]}`,
			want: sbom.Component{
				Name: "x", Version: "1", Type: "operating-system", Licenses: []string{"MIT", "MIT AND BSD-3-Clause"},
				Hashes: map[string]string{"sha256": "ab", "sha3-256": "cd", "md5": "ef"},
			},
		},
		{
			name: "SPDX NOASSERTION and NONE are not licences",
			data: `{"spdxVersion":"SPDX-2.2","packages":[{"name":"x","licenseDeclared":"NONE","licenseConcluded":"NOASSERTION"}]}`,
			want: sbom.Component{Name: "x"},
		},
		{
			name: "SPDX the same licence declared and concluded",
			data: `{"spdxVersion":"SPDX-2.3","packages":[{"name":"x","licenseDeclared":"Apache-2.0","licenseConcluded":"Apache-2.0"}]}`,
			want: sbom.Component{Name: "x", Licenses: []string{"Apache-2.0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, []byte(tt.data))
			if diff := cmp.Diff([]sbom.Component{tt.want}, doc.Components); diff != "" {
				t.Errorf("Components (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSPDXPURL(t *testing.T) {
	tests := []struct {
		name string
		refs string
		want string
	}{
		{name: "no references", refs: `[]`, want: ""},
		{name: "only a CPE", refs: `[{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"}]`, want: ""},
		{
			name: "the purl after a CPE",
			refs: `[{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"},` +
				`{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/y@1"}]`,
			want: "pkg:npm/y@1",
		},
		{
			name: "the first of two purls",
			refs: `[{"referenceCategory":"PACKAGE_MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/y@1"},` +
				`{"referenceCategory":"PACKAGE_MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/z@2"}]`,
			want: "pkg:npm/y@1",
		},
		{name: "another package manager type", refs: `[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"maven-central","referenceLocator":"org.x:y:1"}]`, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := `{"spdxVersion":"SPDX-2.3","packages":[{"name":"y","versionInfo":"1","externalRefs":` + tt.refs + `}]}`
			doc := mustParse(t, []byte(data))
			want := []sbom.Component{{Name: "y", Version: "1", PURL: tt.want}}
			if diff := cmp.Diff(want, doc.Components); diff != "" {
				t.Errorf("Components (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseNestedCycloneDX checks that components nested in components are listed, depth
// first, and counted.
func TestParseNestedCycloneDX(t *testing.T) {
	data := `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[
		{"type":"application","name":"app","version":"1","components":[
			{"type":"library","name":"lib-a","version":"2","purl":"pkg:golang/a@2","components":[
				{"type":"library","name":"lib-a-sub","version":"3"}]},
			{"type":"library","name":"lib-b","version":"4"}]},
		{"type":"library","name":"tail","version":"5","components":[]}]}`
	doc := mustParse(t, []byte(data))
	want := &sbom.Document{
		Summary: evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.5", Components: 5},
		Components: []sbom.Component{
			{Name: "app", Version: "1", Type: "application"},
			{Name: "lib-a", Version: "2", PURL: "pkg:golang/a@2", Type: "library"},
			{Name: "lib-a-sub", Version: "3", Type: "library"},
			{Name: "lib-b", Version: "4", Type: "library"},
			{Name: "tail", Version: "5", Type: "library"},
		},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

// TestParseByteOrderMark checks that a UTF-8 byte order mark before a document is ignored.
func TestParseByteOrderMark(t *testing.T) {
	for _, data := range []string{
		"\xef\xbb\xbf" + `{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"type":"library","name":"a"}]}`,
		"\xef\xbb\xbf" + `<bom xmlns="http://cyclonedx.org/schema/bom/1.4"><components><component type="library"><name>a</name></component></components></bom>`,
	} {
		doc := mustParse(t, []byte(data))
		want := []sbom.Component{{Name: "a", Type: "library"}}
		if diff := cmp.Diff(want, doc.Components); diff != "" {
			t.Errorf("Parse(%.20q…) components (-want +got):\n%s", data, diff)
		}
	}
}

func TestParseNotSBOM(t *testing.T) {
	tests := []struct {
		name string
		data string
		want error
	}{
		{"an in-toto statement", `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`, sbom.ErrUnknownFormat},
		{"an empty object", `{}`, sbom.ErrUnknownFormat},
		{"null", `null`, sbom.ErrUnknownFormat},
		{"an array", `[{"bomFormat":"CycloneDX"}]`, sbom.ErrUnknownFormat},
		{"a string", `"CycloneDX"`, sbom.ErrUnknownFormat},
		{"a number", `1.4`, sbom.ErrUnknownFormat},
		{"another bomFormat", `{"bomFormat":"cyclonedx","specVersion":"1.4"}`, sbom.ErrUnknownFormat},
		{"an SPDX version without the prefix", `{"spdxVersion":"2.3","packages":[]}`, sbom.ErrUnknownFormat},
		{"SPDX 3 JSON-LD", `{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[]}`, sbom.ErrUnknownFormat},
		{"SPDX tag-value", "## a comment\n\nSPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n", sbom.ErrUnknownFormat},
		{"SPDX RDF/XML", `<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>`, sbom.ErrUnknownFormat},
		{"HTML", `<html><body>bom</body></html>`, sbom.ErrUnknownFormat},
		{"bom in no namespace", `<bom version="1"><components/></bom>`, sbom.ErrUnknownFormat},
		{"bom in another namespace", `<bom xmlns="http://example.com/schema/bom/1.4"/>`, sbom.ErrUnknownFormat},
		{"empty input", ``, sbom.ErrMalformed},
		{"only white space", " \n\t", sbom.ErrMalformed},
		{"not JSON nor XML", `hello`, sbom.ErrMalformed},
		{"truncated", `{"bomFormat":"CycloneDX","components":[`, sbom.ErrMalformed},
		{"trailing garbage", `{"bomFormat":"CycloneDX","specVersion":"1.4"} x`, sbom.ErrMalformed},
		{"bomFormat not a string", `{"bomFormat":1}`, sbom.ErrMalformed},
		{"CycloneDX without specVersion", `{"bomFormat":"CycloneDX","components":[{"name":"a"}]}`, sbom.ErrMalformed},
		{"CycloneDX with an empty specVersion", `{"bomFormat":"CycloneDX","specVersion":"","components":[]}`, sbom.ErrMalformed},
		{"unknown CycloneDX version", `{"bomFormat":"CycloneDX","specVersion":"9.9","components":[]}`, sbom.ErrMalformed},
		{"CycloneDX components not a list", `{"bomFormat":"CycloneDX","specVersion":"1.4","components":{}}`, sbom.ErrMalformed},
		{"CycloneDX hashes not a list", `{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"name":"a","hashes":"x"}]}`, sbom.ErrMalformed},
		{"SPDX packages not a list", `{"spdxVersion":"SPDX-2.3","packages":"none"}`, sbom.ErrMalformed},
		{"SPDX 2.1, which has no JSON form", `{"spdxVersion":"SPDX-2.1","packages":[]}`, sbom.ErrMalformed},
		{"SPDX 3.0 in spdxVersion", `{"spdxVersion":"SPDX-3.0","packages":[]}`, sbom.ErrMalformed},
		{"SPDX package SPDXID without its prefix", `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","SPDXID":"a"}]}`, sbom.ErrMalformed},
		// tools-golang dereferences the nil package (v0.5.7, SPDX 2.2 and 2.3); Parse recovers.
		{"SPDX 2.3 package null", `{"spdxVersion":"SPDX-2.3","packages":[null]}`, sbom.ErrMalformed},
		{"SPDX 2.2 package null", `{"spdxVersion":"SPDX-2.2","packages":[{"name":"a"},null]}`, sbom.ErrMalformed},
		{"SPDX checksums not a list", `{"spdxVersion":"SPDX-2.2","packages":[{"name":"a","checksums":{}}]}`, sbom.ErrMalformed},
		{"an XML declaration only", `<?xml version="1.0" encoding="UTF-8"?>`, sbom.ErrMalformed},
		{"truncated XML", `<bom xmlns="http://cyclonedx.org/schema/bom/1.4"><components><component>`, sbom.ErrMalformed},
		{"mismatched XML tags", `<bom xmlns="http://cyclonedx.org/schema/bom/1.4"><components></component></bom>`, sbom.ErrMalformed},
		{"unknown CycloneDX XML version", `<bom xmlns="http://cyclonedx.org/schema/bom/9.9"/>`, sbom.ErrMalformed},
		{"text before the XML root", `x<bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>`, sbom.ErrMalformed},
		{"an element after the XML root", `<bom xmlns="http://cyclonedx.org/schema/bom/1.4"/><bom/>`, sbom.ErrMalformed},
		{"text after the XML root", `<bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>x`, sbom.ErrMalformed},
		{"XML in an encoding other than UTF-8", `<?xml version="1.0" encoding="ISO-8859-1"?><bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>`, sbom.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := sbom.Parse([]byte(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want an error wrapping %v", doc, err, tt.want)
			}
			if doc != nil {
				t.Errorf("Parse returned a document with its error: %+v", doc)
			}
		})
	}
}

// TestParseErrorNamesTheProblem checks that errors say what was wrong, not only their class.
func TestParseErrorNamesTheProblem(t *testing.T) {
	tests := []struct {
		data string
		want string
	}{
		{`{"bomFormat":"CDX","specVersion":"1"}`, `bomFormat "CDX"`},
		{`{"bomFormat":"CycloneDX","specVersion":"9.9"}`, "CycloneDX JSON"},
		{`{"spdxVersion":"SPDX-3.0"}`, `spdxVersion "SPDX-3.0"`},
		{"SPDXVersion: SPDX-2.3\n", "tag-value"},
		{`<?xml version="1.0"?>`, "no root element"},
		{`<bom xmlns="http://cyclonedx.org/schema/bom/9.9"/>`, `namespace "http://cyclonedx.org/schema/bom/9.9"`},
		{`<project xmlns="http://maven.apache.org/POM/4.0.0"/>`, `"project"`},
		{`[1]`, "array"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := sbom.Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %v, want one that mentions %s", tt.data, err, tt.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	// Valid JSON up to the limit, so that only the size can be wrong.
	data := bytes.Repeat([]byte(" "), sbom.MaxSize+1)
	copy(data, `{"bomFormat":"CycloneDX","specVersion":"1.4"}`)
	doc, err := sbom.Parse(data)
	if !errors.Is(err, sbom.ErrMalformed) || doc != nil {
		t.Fatalf("Parse(%d bytes) = %v, %v; want an error wrapping ErrMalformed", len(data), doc, err)
	}
	if _, err := sbom.Parse(data[:sbom.MaxSize]); err != nil {
		t.Errorf("Parse(MaxSize bytes): %v", err)
	}
}

func mustParse(t *testing.T, data []byte) *sbom.Document {
	t.Helper()
	doc, err := sbom.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

// checkDoc checks doc's summary, that it lists as many components as the summary says, and
// that it lists each of some.
func checkDoc(t *testing.T, doc *sbom.Document, want evidence.SBOM, some []sbom.Component) {
	t.Helper()
	if diff := cmp.Diff(want, doc.Summary); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
	if len(doc.Components) != want.Components {
		t.Errorf("len(Components) = %d, want %d", len(doc.Components), want.Components)
	}
	for _, c := range some {
		mustContain(t, doc.Components, c)
	}
}

// mustContain checks that cs holds want; if not, it shows how the components with that name
// differ from it.
func mustContain(t *testing.T, cs []sbom.Component, want sbom.Component) {
	t.Helper()
	var diffs []string
	for _, c := range cs {
		diff := cmp.Diff(want, c)
		if diff == "" {
			return
		}
		if c.Name == want.Name {
			diffs = append(diffs, diff)
		}
	}
	t.Errorf("no component %+v; those with its name (-want +got):\n%s", want, strings.Join(diffs, "\n"))
}

func ExampleParse() {
	doc, err := sbom.Parse([]byte(`{
		"spdxVersion": "SPDX-2.3",
		"packages": [{
			"name": "tokio",
			"versionInfo": "1.19.2",
			"licenseConcluded": "MIT",
			"checksums": [{"algorithm": "SHA256", "checksumValue": "c51a52ed6686dd62c320f9b89299e9dfb46f730c7a48e635c19f21d116cb1439"}],
			"externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:cargo/tokio@1.19.2"}]
		}]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Summary.Format, doc.Summary.SpecVersion, doc.Summary.Components)
	c := doc.Components[0]
	fmt.Println(c.PURL, c.Licenses, c.Hashes["sha256"][:12])

	_, err = sbom.Parse([]byte(`{"_type": "https://in-toto.io/Statement/v1"}`))
	fmt.Println(errors.Is(err, sbom.ErrUnknownFormat))
	// Output:
	// spdx 2.3 1
	// pkg:cargo/tokio@1.19.2 [MIT] c51a52ed6686
	// true
}
