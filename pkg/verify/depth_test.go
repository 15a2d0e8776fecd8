package verify_test

import (
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/verify"
)

// TestDepthBombRefused: deeply nested JSON, as a document or inside a bundle field, is refused
// without exhausting the stack.
func TestDepthBombRefused(t *testing.T) {
	const n = 1 << 20
	for name, data := range map[string]string{
		"arrays":       strings.Repeat("[", n) + strings.Repeat("]", n),
		"in a bundle":  `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":` + strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) + `}`,
		"in an array":  `[` + strings.Repeat(`{"x":[`, n) + strings.Repeat("]}", n) + `]`,
		"as JSON line": "{}\n" + strings.Repeat("[", n),
	} {
		entries, err := verify.ParseBundles([]byte(data))
		if err == nil {
			for _, e := range entries {
				if e.Err == nil {
					t.Errorf("%s: parsed a bundle from a depth bomb", name)
				}
			}
		}
	}
}
