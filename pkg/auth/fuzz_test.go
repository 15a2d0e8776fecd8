package auth_test

import (
	"errors"
	"testing"

	"github.com/aspmhq/aspm/pkg/auth"
)

// FuzzParseScope parses arbitrary scope names (API request bodies carry them): only the three
// scopes are accepted, every other string fails with ErrInvalid.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"read", "write", "admin", "ADMIN", "", "read ", "root"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := auth.ParseScope(s)
		switch s {
		case "read", "write", "admin":
			if err != nil || string(got) != s {
				t.Fatalf("ParseScope(%q) = %q, %v", s, got, err)
			}
		default:
			if !errors.Is(err, auth.ErrInvalid) {
				t.Fatalf("ParseScope(%q) = %q, %v; want ErrInvalid", s, got, err)
			}
		}
	})
}
