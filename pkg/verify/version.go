package verify

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// TrustVersion identifies trusted material: a SHA-256 over each root's name and content and
// each key's name, public key and validity. Caches of verification results key on it, so a
// rotated root or key invalidates what was verified against the old one. Material that cannot
// be serialized (neither a JSON marshaler nor a known type) is identified by its address,
// which is stable for the life of the process and changes with a reload.
func TrustVersion(roots []NamedRoot, keys []TrustedKey) string {
	h := sha256.New()
	for _, r := range roots {
		fmt.Fprintf(h, "root %q\n", r.Name)
		if m, ok := r.Material.(json.Marshaler); ok {
			if b, err := m.MarshalJSON(); err == nil {
				h.Write(b)
				h.Write([]byte{'\n'})
				continue
			}
		}
		fmt.Fprintf(h, "%p\n", r.Material)
	}
	for _, k := range keys {
		fmt.Fprintf(h, "key %q %s %s\n", k.Name, k.ValidFrom.Format(time.RFC3339Nano), k.ValidUntil.Format(time.RFC3339Nano))
		if der, err := x509.MarshalPKIXPublicKey(k.PublicKey); err == nil {
			h.Write(der)
		} else {
			fmt.Fprintf(h, "%v", k.PublicKey)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Version is TrustVersion of the material v was made with.
func (v *Verifier) Version() string { return v.version }
