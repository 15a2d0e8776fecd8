// Package evidence holds the domain types of the pipeline: artifacts and their digests, where
// they are deployed, the evidence collected for them (provenance, SBOMs, signatures) and the
// scores and gaps the policy assigns. The types do no I/O; each has a Validate method.
package evidence

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is the class of every validation error in this package; check with errors.Is.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Digest is a content digest in OCI form, "<algorithm>:<lowercase hex>", e.g. "sha256:ab…".
type Digest string

var digestHexLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// ParseDigest returns s as a Digest, or an error wrapping ErrInvalid when s is not a sha256,
// sha384 or sha512 digest with lowercase hex of the right length.
func ParseDigest(s string) (Digest, error) {
	d := Digest(s)
	if err := d.Validate(); err != nil {
		return "", err
	}
	return d, nil
}

// Validate reports whether d is well formed; the error wraps ErrInvalid.
func (d Digest) Validate() error {
	alg, hx, ok := strings.Cut(string(d), ":")
	if !ok {
		return invalidf("digest %q: want <algorithm>:<hex>", string(d))
	}
	n, known := digestHexLen[alg]
	if !known {
		return invalidf("digest %q: unsupported algorithm %q", string(d), alg)
	}
	if len(hx) != n || strings.ToLower(hx) != hx {
		return invalidf("digest %q: want %d lowercase hex characters", string(d), n)
	}
	if _, err := hex.DecodeString(hx); err != nil {
		return invalidf("digest %q: not hex", string(d))
	}
	return nil
}

// Algorithm returns the part before the colon ("sha256"), or "" when d has none.
func (d Digest) Algorithm() string {
	alg, _, ok := strings.Cut(string(d), ":")
	if !ok {
		return ""
	}
	return alg
}

// Hex returns the part after the colon, or "" when d has none.
func (d Digest) Hex() string {
	_, hx, _ := strings.Cut(string(d), ":")
	return hx
}

// Bytes returns the decoded hex part; it is nil when d is not valid.
func (d Digest) Bytes() []byte {
	if d.Validate() != nil {
		return nil
	}
	b, err := hex.DecodeString(d.Hex())
	if err != nil {
		return nil
	}
	return b
}

// String returns d as text.
func (d Digest) String() string { return string(d) }
