package provenance_test

import (
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/provenance"
)

// TestDepthBombRefused: an in-toto statement nested a million levels deep, at the top or in
// its predicate, is refused without exhausting the stack.
func TestDepthBombRefused(t *testing.T) {
	const n = 1 << 20
	for name, data := range map[string]string{
		"arrays":       strings.Repeat("[", n) + strings.Repeat("]", n),
		"in predicate": `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":` + strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) + `}`,
	} {
		if st, err := provenance.ParseStatement([]byte(data)); err == nil {
			t.Errorf("%s: parsed statement %+v", name, st)
		}
	}
}
