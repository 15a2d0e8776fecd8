// Package verify checks Sigstore bundles with sigstore-go: keyless bundles against trusted roots
// (Fulcio certificate chains checked at the signing time a transparency log or timestamp
// authority vouches for, never at "now"), and keyed bundles against configured public keys. It
// reports who signed, as evidence.Verification, and hands back the signed payload for parsing.
package verify

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// ErrNoTrustedMaterial is returned by New when there is neither a trusted root nor a key.
var ErrNoTrustedMaterial = errors.New("no trusted roots or keys configured")

// TrustedKey is a public key trusted to sign evidence, known by a name that policies refer to
// (e.g. "tekton-chains"). The zero ValidFrom/ValidUntil mean unbounded.
type TrustedKey struct {
	Name       string
	PublicKey  crypto.PublicKey
	ValidFrom  time.Time
	ValidUntil time.Time
}

// ParseTrustedKey parses a PEM public key named name.
func ParseTrustedKey(name string, pemBytes []byte) (TrustedKey, error) {
	if name == "" {
		return TrustedKey{}, errors.New("trusted key: a name is required")
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("parsing public key %s: %w", name, err)
	}
	return TrustedKey{Name: name, PublicKey: pub}, nil
}

// LoadTrustedKey reads a PEM public key from path.
func LoadTrustedKey(name, path string) (TrustedKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("reading public key %s: %w", name, err)
	}
	return ParseTrustedKey(name, b)
}

// LoadTrustedRoot reads a Sigstore trusted_root.json.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("loading trusted root %s: %w", path, err)
	}
	return tr, nil
}

// Verifier verifies bundles against fixed trusted material. It is safe for concurrent use.
type Verifier struct {
	roots root.TrustedMaterialCollection
	keys  []keyMaterial
}

type keyMaterial struct {
	name     string
	material root.TrustedMaterial
}

// New returns a Verifier trusting roots (for keyless bundles and for the timestamps and log
// entries of keyed ones) and keys. It fails with ErrNoTrustedMaterial when both are empty.
func New(roots []root.TrustedMaterial, keys []TrustedKey) (*Verifier, error) {
	if len(roots) == 0 && len(keys) == 0 {
		return nil, ErrNoTrustedMaterial
	}
	v := &Verifier{roots: root.TrustedMaterialCollection(roots)}
	for _, k := range keys {
		sv, err := signature.LoadDefaultVerifier(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("loading key %s: %w", k.Name, err)
		}
		until := k.ValidUntil
		if until.IsZero() {
			until = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		ek := root.NewExpiringKey(sv, k.ValidFrom, until)
		km := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
		mat := append(root.TrustedMaterialCollection{km}, roots...)
		v.keys = append(v.keys, keyMaterial{name: k.Name, material: mat})
	}
	return v, nil
}

// Result is what verifying a bundle established.
type Result struct {
	evidence.Verification
	// PayloadType and Payload are the DSSE envelope's, whether or not the signature verified;
	// both are empty for a message-signature bundle.
	PayloadType string
	Payload     []byte
}

// VerifyBundle checks b's signature, certificate chain, transparency log entries and
// timestamps. It never returns an error for a bad signature: Result.Verified is false and
// Result.Error says why. It returns an error only when b has no usable content at all.
func (v *Verifier) VerifyBundle(b *bundle.Bundle) (Result, error) {
	var res Result
	if env, err := b.Envelope(); err == nil {
		raw := env.RawEnvelope()
		payload, err := base64.StdEncoding.DecodeString(raw.Payload)
		if err != nil {
			return res, fmt.Errorf("decoding DSSE payload: %w", err)
		}
		res.PayloadType, res.Payload = raw.PayloadType, payload
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return res, fmt.Errorf("reading verification material: %w", err)
	}
	entries, err := b.TlogEntries()
	if err != nil {
		return res, fmt.Errorf("reading transparency log entries: %w", err)
	}
	opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1)}
	if len(entries) > 0 {
		opts = append(opts, sgverify.WithTransparencyLog(1))
	}
	policy := sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithoutIdentitiesUnsafe())

	if vc.Certificate() != nil {
		if len(v.roots) == 0 {
			res.Error = "keyless bundle but no trusted root is configured"
			return res, nil
		}
		r, err := verifyWith(v.roots, b, opts, policy)
		if err != nil {
			res.Error = err.Error()
			return res, nil
		}
		res.fill(r)
		return res, nil
	}

	if len(v.keys) == 0 {
		res.Error = "key-signed bundle but no trusted key is configured"
		return res, nil
	}
	keyPolicy := sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithKey())
	var errs []error
	for _, k := range v.keys {
		r, err := verifyWith(k.material, b, opts, keyPolicy)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", k.name, err))
			continue
		}
		res.fill(r)
		res.Signer = &evidence.Signer{Type: evidence.SignatureKey, Identity: k.name}
		return res, nil
	}
	res.Error = "no trusted key verifies the signature: " + errors.Join(errs...).Error()
	return res, nil
}

func verifyWith(tm root.TrustedMaterial, b *bundle.Bundle, opts []sgverify.VerifierOption, policy sgverify.PolicyBuilder) (*sgverify.VerificationResult, error) {
	sv, err := sgverify.NewVerifier(tm, opts...)
	if err != nil {
		return nil, fmt.Errorf("configuring verifier: %w", err)
	}
	return sv.Verify(b, policy)
}

func (res *Result) fill(r *sgverify.VerificationResult) {
	res.Verified = true
	for _, ts := range r.VerifiedTimestamps {
		switch ts.Type {
		case "Tlog":
			res.TlogEntries++
		case "TimestampAuthority":
			res.Timestamps++
		}
		if res.SignedAt.IsZero() || ts.Timestamp.Before(res.SignedAt) {
			res.SignedAt = ts.Timestamp.UTC()
		}
	}
	if r.Signature != nil && r.Signature.Certificate != nil {
		c := r.Signature.Certificate
		res.Signer = &evidence.Signer{
			Type:              evidence.SignatureKeyless,
			Issuer:            c.Issuer,
			Identity:          c.SubjectAlternativeName,
			SourceRepository:  c.SourceRepositoryURI,
			SourceRef:         c.SourceRepositoryRef,
			SourceDigest:      c.SourceRepositoryDigest,
			BuildSignerURI:    c.BuildSignerURI,
			BuildConfigURI:    c.BuildConfigURI,
			RunnerEnvironment: c.RunnerEnvironment,
		}
	}
}
