package dsse_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/dsse"
)

// TestDepthBombRefused: deeply nested JSON, alone or in an envelope field, is refused as
// malformed without exhausting the stack.
func TestDepthBombRefused(t *testing.T) {
	const n = 1 << 20
	for name, data := range map[string]string{
		"arrays":         strings.Repeat("[", n) + strings.Repeat("]", n),
		"in signatures":  `{"payloadType":"x","payload":"e30=","signatures":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`,
		"as a JSON line": "{\"payloadType\":\"x\",\"payload\":\"e30=\",\"signatures\":[{\"sig\":\"AA==\"}]}\n" + strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n),
	} {
		if _, err := dsse.Parse([]byte(data)); !errors.Is(err, dsse.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
