package inventory_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/services/ingest/internal/inventory"
)

// billionLaughs is a YAML alias bomb: nine levels of nine aliases, 9^9 strings once expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString(n + ": &" + n + " [")
		for i := range 9 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = n
	}
	return b.String()
}

// FuzzParse parses arbitrary inventory files: it must not panic, must fail only with
// evidence.ErrInvalid, and what it accepts must validate.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/inventory.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("environments:\n  prod:\n    workloads:\n    - name: a\n      org: acme\n      images: [\"r.example/a:1\"]\n"))
	f.Add([]byte(billionLaughs()))
	f.Add([]byte(strings.Repeat("- ", 5000) + "x"))
	f.Add([]byte(strings.Repeat("[", 5000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := inventory.Parse(data)
		if err != nil {
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("error %v does not wrap evidence.ErrInvalid", err)
			}
			return
		}
		if err := inv.Validate(); err != nil {
			t.Fatalf("Parse accepted a file that does not validate: %v", err)
		}
	})
}

// TestParseRefusesAliasBomb: a billion-laughs document is refused with an error, quickly,
// instead of being expanded.
func TestParseRefusesAliasBomb(t *testing.T) {
	_, err := inventory.Parse([]byte(billionLaughs()))
	if !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("alias bomb: err = %v, want evidence.ErrInvalid for excessive aliasing", err)
	}
}
