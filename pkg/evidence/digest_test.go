package evidence_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// hexOf returns n hex characters, cycling through all sixteen digits.
func hexOf(n int) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := range n {
		b.WriteByte(digits[i%16])
	}
	return b.String()
}

func TestParseDigest(t *testing.T) {
	type parts struct {
		Algorithm string
		Hex       string
		Bytes     int
	}
	tests := []struct {
		name string
		in   string
		want parts // checked only when the digest is valid
		ok   bool
	}{
		{name: "sha256", in: "sha256:" + hexOf(64), want: parts{"sha256", hexOf(64), 32}, ok: true},
		{name: "sha384", in: "sha384:" + hexOf(96), want: parts{"sha384", hexOf(96), 48}, ok: true},
		{name: "sha512", in: "sha512:" + hexOf(128), want: parts{"sha512", hexOf(128), 64}, ok: true},
		{name: "uppercase hex", in: "sha256:" + strings.ToUpper(hexOf(64))},
		{name: "one uppercase digit", in: "sha256:" + hexOf(63) + "F"},
		{name: "uppercase algorithm", in: "SHA256:" + hexOf(64)},
		{name: "too short", in: "sha256:" + hexOf(63)},
		{name: "too long", in: "sha256:" + hexOf(65)},
		{name: "sha512 length under sha256", in: "sha256:" + hexOf(128)},
		{name: "sha256 length under sha512", in: "sha512:" + hexOf(64)},
		{name: "not hex", in: "sha256:" + hexOf(62) + "zz"},
		{name: "missing colon", in: "sha256" + hexOf(64)},
		{name: "bare hex", in: hexOf(64)},
		{name: "unknown algorithm", in: "md5:" + hexOf(32)},
		{name: "sha1 is not accepted", in: "sha1:" + hexOf(40)},
		{name: "empty hex", in: "sha256:"},
		{name: "empty", in: ""},
		{name: "surrounding space", in: " sha256:" + hexOf(64)},
		{name: "trailing newline", in: "sha256:" + hexOf(64) + "\n"},
		{name: "two colons", in: "sha256:sha256:" + hexOf(57)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := evidence.ParseDigest(tt.in)
			if verr := evidence.Digest(tt.in).Validate(); (verr == nil) != (err == nil) {
				t.Errorf("ParseDigest error %v, but Validate error %v", err, verr)
			}
			if !tt.ok {
				if !errors.Is(err, evidence.ErrInvalid) {
					t.Fatalf("ParseDigest(%q) error = %v, want one wrapping ErrInvalid", tt.in, err)
				}
				if d != "" {
					t.Errorf("ParseDigest(%q) = %q with an error, want \"\"", tt.in, d)
				}
				if b := evidence.Digest(tt.in).Bytes(); b != nil {
					t.Errorf("Bytes of invalid %q = %x, want nil", tt.in, b)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDigest(%q): %v", tt.in, err)
			}
			if d.String() != tt.in {
				t.Errorf("String() = %q, want %q", d.String(), tt.in)
			}
			got := parts{d.Algorithm(), d.Hex(), len(d.Bytes())}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parts of %q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDigestBytes(t *testing.T) {
	d := evidence.Digest("sha256:" + strings.Repeat("00", 31) + "ff")
	want := make([]byte, 32)
	want[31] = 0xff
	if diff := cmp.Diff(want, d.Bytes()); diff != "" {
		t.Errorf("Bytes() (-want +got):\n%s", diff)
	}
}

func TestDigestPartsWithoutColon(t *testing.T) {
	d := evidence.Digest("sha256" + hexOf(64))
	got := []string{d.Algorithm(), d.Hex()}
	if diff := cmp.Diff([]string{"", ""}, got); diff != "" {
		t.Errorf("Algorithm, Hex of a digest without a colon (-want +got):\n%s", diff)
	}
}

func ExampleParseDigest() {
	d, err := evidence.ParseDigest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Algorithm(), len(d.Bytes()))

	_, err = evidence.ParseDigest("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
	fmt.Println(errors.Is(err, evidence.ErrInvalid))
	// Output:
	// sha256 32
	// true
}
