package evidence_test

import (
	"testing"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// FuzzParseDigest parses arbitrary strings as digests (they come from registries, events and
// API requests): what it accepts must be valid and print back as itself.
func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:0000000000000000000000000000000000000000000000000000000000000000")
	f.Add("sha512:" + string(make([]byte, 128)))
	f.Add("sha256:ABCDEF")
	f.Add("md5:")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := evidence.ParseDigest(s)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("ParseDigest(%q) = %q, which does not validate: %v", s, d, err)
		}
		if again, err := evidence.ParseDigest(d.String()); err != nil || again != d {
			t.Fatalf("round trip of %q: %q, %v", d, again, err)
		}
		if len(d.Bytes()) == 0 || d.Algorithm() == "" || d.Hex() == "" {
			t.Fatalf("accepted digest %q has an empty part", d)
		}
	})
}

// FuzzParseImageRef parses arbitrary strings as REPOSITORY@DIGEST references: what it accepts
// must be valid and print back as itself.
func FuzzParseImageRef(f *testing.F) {
	f.Add("registry.example/acme/app@sha256:0000000000000000000000000000000000000000000000000000000000000000")
	f.Add("localhost:5000/a@sha256:00")
	f.Add("@sha256:0000000000000000000000000000000000000000000000000000000000000000")
	f.Add("a@b@sha256:0000000000000000000000000000000000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := evidence.ParseImageRef(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseImageRef(%q) = %+v, which does not validate: %v", s, r, err)
		}
		if again, err := evidence.ParseImageRef(r.String()); err != nil || again != r {
			t.Fatalf("round trip of %q: %+v, %v", r, again, err)
		}
	})
}
