package sbom_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/sbom"
)

// TestDepthBombRefused: deeply nested JSON and XML documents are refused as malformed without
// exhausting the stack.
func TestDepthBombRefused(t *testing.T) {
	const n = 200_000
	for name, data := range map[string]string{
		"JSON arrays":          strings.Repeat("[", n) + strings.Repeat("]", n),
		"CycloneDX components": `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[` + strings.Repeat(`{"name":"a","components":[`, n) + strings.Repeat("]}", n) + `]}`,
		"SPDX packages":        `{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}]}`,
		"CycloneDX XML":        `<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.5"><components>` + strings.Repeat("<component><components>", n) + strings.Repeat("</components></component>", n) + `</components></bom>`,
	} {
		if _, err := sbom.Parse([]byte(data)); !errors.Is(err, sbom.ErrMalformed) {
			t.Errorf("%s (%d bytes): err = %v, want ErrMalformed", name, len(data), err)
		}
	}
}
