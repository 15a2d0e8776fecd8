package event_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/event"
)

// TestDepthBombRefused: deeply nested JSON (a million arrays, or objects, at the top or inside
// a field) is refused as malformed without exhausting the stack.
func TestDepthBombRefused(t *testing.T) {
	const n = 1 << 20
	for name, data := range map[string]string{
		"arrays":         strings.Repeat("[", n) + strings.Repeat("]", n),
		"objects":        strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n),
		"inside a field": `{"schema":"` + event.SchemaScoreComputed + `","id":"x","score":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`,
	} {
		var v event.ScoreComputed
		if err := event.Decode([]byte(data), event.SchemaScoreComputed, &v); !errors.Is(err, event.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
