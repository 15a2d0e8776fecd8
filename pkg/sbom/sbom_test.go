package sbom_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// The expected component counts were computed independently of Parse, with python3's json
// module over each corpus file:
//
//	CycloneDX: walk(cs) = sum(1 + walk(c.get("components")) for c in cs or []) applied to the
//	           top-level "components" (nested components count; metadata.component does not).
//	           No JSON file in the corpus nests components, so the totals equal the top-level
//	           counts listed in SOURCES.md.
//	SPDX:      len(doc["packages"]), and for PURLs the packages with an externalRefs entry whose
//	           referenceType is "purl".
func TestParseRealCycloneDX(t *testing.T) {
	tests := []struct {
		file        string
		specVersion string
		components  int
		// some are components that must be listed, compared in full.
		some []sbom.Component
	}{
		{
			file: "sbom/cyclonedx/guac-alpine.syft.cdx-1.4.json", specVersion: "1.4", components: 15,
			some: []sbom.Component{
				{Name: "alpine-baselayout", Version: "3.2.0-r22", PURL: "pkg:alpine/alpine-baselayout@3.2.0-r22?arch=x86_64&upstream=alpine-baselayout&distro=alpine-3.16.2"},
				{Name: "busybox", Version: "1.35.0-r17", PURL: "pkg:alpine/busybox@1.35.0-r17?arch=x86_64&upstream=busybox&distro=alpine-3.16.2"},
			},
		},
		{
			file: "sbom/cyclonedx/guac-distroless.syft.cdx-1.4.json", specVersion: "1.4", components: 3,
			some: []sbom.Component{
				{Name: "base-files", Version: "11.1+deb11u5", PURL: "pkg:deb/debian/base-files@11.1+deb11u5?arch=amd64&distro=debian-11"},
			},
		},
		{file: "sbom/cyclonedx/guac-mongo.syft.cdx-1.4.json", specVersion: "1.4", components: 293,
			some: []sbom.Component{
				{Name: "adduser", Version: "3.118ubuntu2", PURL: "pkg:deb/ubuntu/adduser@3.118ubuntu2?arch=all&distro=ubuntu-20.04"},
			},
		},
		{
			file: "sbom/cyclonedx/guac-quarkus.maven-plugin.cdx-1.4.json", specVersion: "1.4", components: 94,
			some: []sbom.Component{
				{Name: "quarkus-resteasy-reactive", Version: "2.13.4.Final", PURL: "pkg:maven/io.quarkus/quarkus-resteasy-reactive@2.13.4.Final?type=jar"},
			},
		},
		{
			file: "sbom/cyclonedx/chainloop-control-plane.syft.cdx-1.5.json", specVersion: "1.5", components: 250,
			some: []sbom.Component{
				{Name: "ariga.io/atlas", Version: "v0.13.3", PURL: "pkg:golang/ariga.io/atlas@v0.13.3"},
			},
		},
		{
			file: "sbom/cyclonedx/chainloop-example.cdx-1.6.json", specVersion: "1.6", components: 8,
			// A cryptographic asset: neither a version nor a PURL.
			some: []sbom.Component{{Name: "TLSv1.2"}},
		},
		{file: "sbom/cyclonedx/bom-examples/cbom-protocol.cdx-1.6.json", specVersion: "1.6", components: 8},
		{
			file: "sbom/cyclonedx/bom-examples/hbom-pcie-sata.cdx-1.4.json", specVersion: "1.4", components: 6,
			some: []sbom.Component{{Name: "PCIE-098-02-F-D-EMS2", Version: "2.9.10"}},
		},
		{
			file: "sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.json", specVersion: "1.4", components: 62,
			some: []sbom.Component{{Name: "stack-cors", Version: "1.3.0", PURL: "pkg:composer/asm89/stack-cors@1.3.0"}},
		},
		{
			file: "sbom/cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json", specVersion: "1.2", components: 201,
			some: []sbom.Component{{
				Name:    "github.com/0xAX/notificator",
				Version: "v0.0.0-20191016112426-3962a5ea8da1",
				PURL:    "pkg:golang/github.com/0xAX/notificator@v0.0.0-20191016112426-3962a5ea8da1",
			}},
		},
		{
			file: "sbom/cyclonedx/bom-examples/vex-target-bom.cdx-1.3.json", specVersion: "1.3", components: 3,
			some: []sbom.Component{{Name: "jackson-databind", Version: "2.10.0", PURL: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar"}},
		},
		// Services only, and a VEX document: valid CycloneDX without components.
		{file: "sbom/cyclonedx/bom-examples/saasbom.cdx-1.4.json", specVersion: "1.4", components: 0},
		{file: "sbom/cyclonedx/bom-examples/vex.cdx-1.4.json", specVersion: "1.4", components: 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc := mustParse(t, testcorpus.Read(t, tt.file))
			checkDoc(t, doc, evidence.SBOM{Format: "cyclonedx", SpecVersion: tt.specVersion, Components: tt.components}, tt.some)
		})
	}
}

func TestParseRealSPDX(t *testing.T) {
	tests := []struct {
		file        string
		specVersion string
		components  int
		withPURL    int
		some        []sbom.Component
	}{
		{
			// syft writes the purl after many cpe23Type references (category PACKAGE_MANAGER).
			file: "sbom/spdx/guac-alpine.syft.spdx-2.2.json", specVersion: "2.2", components: 14, withPURL: 14,
			some: []sbom.Component{
				{Name: "alpine-baselayout", Version: "3.2.0-r22", PURL: "pkg:alpine/alpine-baselayout@3.2.0-r22?arch=x86_64&upstream=alpine-baselayout&distro=alpine-3.16.2"},
				{Name: "busybox", Version: "1.35.0-r17", PURL: "pkg:alpine/busybox@1.35.0-r17?arch=x86_64&upstream=busybox&distro=alpine-3.16.2"},
			},
		},
		{
			// Category spelt PACKAGE-MANAGER; the PURL is percent-encoded.
			file: "sbom/spdx/chainloop-syft-0.73.spdx-2.3.json", specVersion: "2.3", components: 30, withPURL: 30,
			some: []sbom.Component{
				{Name: "@algolia/autocomplete-core", Version: "1.7.4", PURL: "pkg:npm/%40algolia/autocomplete-core@1.7.4"},
			},
		},
		{
			file: "sbom/spdx/spdx-examples/example11-sbom.spdx-2.3.json", specVersion: "2.3", components: 4, withPURL: 4,
			some: []sbom.Component{
				{Name: "tokio", Version: "1.19.2", PURL: "pkg:cargo/tokio@1.19.2"},
				{Name: "hyper", Version: "0.14", PURL: "pkg:cargo/hyper@0.14"},
			},
		},
		{
			file: "sbom/spdx/spdx-examples/example10-hello-source.spdx-2.3.json", specVersion: "2.3", components: 1,
			some: []sbom.Component{{Name: "hello"}},
		},
		{
			file: "sbom/spdx/spdx-examples/example8-examplemaven.spdx-2.3.json", specVersion: "2.3", components: 6,
			some: []sbom.Component{{Name: "JUnit", Version: "3.8.1"}, {Name: "examplemaven", Version: "0.0.1"}},
		},
		{
			file: "sbom/spdx/spdx-examples/example14-examplemaven-enriched.spdx-2.3.json", specVersion: "2.3", components: 6,
			some: []sbom.Component{{Name: "JUnit", Version: "3.8.1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc := mustParse(t, testcorpus.Read(t, tt.file))
			checkDoc(t, doc, evidence.SBOM{Format: "spdx", SpecVersion: tt.specVersion, Components: tt.components}, tt.some)
			withPURL := 0
			for _, c := range doc.Components {
				if c.PURL != "" {
					withPURL++
					if !strings.HasPrefix(c.PURL, "pkg:") {
						t.Errorf("component %q: PURL %q does not start with pkg:", c.Name, c.PURL)
					}
				}
			}
			if withPURL != tt.withPURL {
				t.Errorf("%d components have a PURL, want %d", withPURL, tt.withPURL)
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
			{Name: "app", Version: "1"},
			{Name: "lib-a", Version: "2", PURL: "pkg:golang/a@2"},
			{Name: "lib-a-sub", Version: "3"},
			{Name: "lib-b", Version: "4"},
			{Name: "tail", Version: "5"},
		},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseRealInvalid(t *testing.T) {
	tests := []struct {
		file string
		want error
	}{
		// bomFormat "CDX": JSON, but not CycloneDX.
		{"sbom/cyclonedx/invalid/guac-invalid-cyclonedx.json", sbom.ErrUnknownFormat},
		// An XML declaration and nothing else: not JSON.
		{"sbom/cyclonedx/invalid/guac-invalid-cyclonedx.xml", sbom.ErrMalformed},
		// spdxVersion is the number 2.
		{"sbom/spdx/invalid/guac-invalid-spdx.json", sbom.ErrMalformed},
		// Valid CycloneDX, but XML: Parse reads JSON only.
		{"sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.xml", sbom.ErrMalformed},
		{"sbom/cyclonedx/bom-examples/dropwizard-1.3.15.cdx-1.2.xml", sbom.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := sbom.Parse(testcorpus.Read(t, tt.file))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want an error wrapping %v", doc, err, tt.want)
			}
			if doc != nil {
				t.Errorf("Parse returned a document with its error: %+v", doc)
			}
		})
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
		{"empty input", ``, sbom.ErrMalformed},
		{"truncated", `{"bomFormat":"CycloneDX","components":[`, sbom.ErrMalformed},
		{"trailing garbage", `{"bomFormat":"CycloneDX","specVersion":"1.4"} x`, sbom.ErrMalformed},
		{"bomFormat not a string", `{"bomFormat":1}`, sbom.ErrMalformed},
		{"CycloneDX without specVersion", `{"bomFormat":"CycloneDX","components":[{"name":"a"}]}`, sbom.ErrMalformed},
		{"CycloneDX with an empty specVersion", `{"bomFormat":"CycloneDX","specVersion":"","components":[]}`, sbom.ErrMalformed},
		{"unknown CycloneDX version", `{"bomFormat":"CycloneDX","specVersion":"9.9","components":[]}`, sbom.ErrMalformed},
		{"CycloneDX components not a list", `{"bomFormat":"CycloneDX","specVersion":"1.4","components":{}}`, sbom.ErrMalformed},
		{"SPDX packages not a list", `{"spdxVersion":"SPDX-2.3","packages":"none"}`, sbom.ErrMalformed},
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

func mustContain(t *testing.T, cs []sbom.Component, want sbom.Component) {
	t.Helper()
	var sameName []sbom.Component
	for _, c := range cs {
		if c == want {
			return
		}
		if c.Name == want.Name {
			sameName = append(sameName, c)
		}
	}
	t.Errorf("no component %+v; with that name: %+v", want, sameName)
}

func ExampleParse() {
	doc, err := sbom.Parse([]byte(`{
		"spdxVersion": "SPDX-2.3",
		"packages": [{
			"name": "tokio",
			"versionInfo": "1.19.2",
			"externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:cargo/tokio@1.19.2"}]
		}]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Summary.Format, doc.Summary.SpecVersion, doc.Summary.Components)
	fmt.Println(doc.Components[0].PURL)

	_, err = sbom.Parse([]byte(`{"_type": "https://in-toto.io/Statement/v1"}`))
	fmt.Println(errors.Is(err, sbom.ErrUnknownFormat))
	// Output:
	// spdx 2.3 1
	// pkg:cargo/tokio@1.19.2
	// true
}
