// Package verify checks Sigstore bundles with sigstore-go: keyless bundles against named
// trusted roots (the Fulcio certificate chain checked at the signing time a transparency log
// or timestamp authority vouches for — never at "now" — with SCTs required when the root lists
// CT logs), and keyed bundles against named public keys with validity windows. It can bind the
// signature to an artifact and hold the signer to an identity policy, and it reports who
// signed as evidence.Verification, handing back the signed payload for parsing.
package verify

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Errors.
var (
	// ErrNoTrustedMaterial is returned by New when there is neither a trusted root nor a key.
	ErrNoTrustedMaterial = errors.New("no trusted roots or keys configured")
	// ErrUnknownRoot is returned by Verify when Options.Roots names a root the Verifier lacks.
	ErrUnknownRoot = errors.New("unknown trusted root")
)

// TrustedKey is a public key trusted to sign evidence, known by a name that policies refer to
// (e.g. "tekton-chains"). A signature counts only when a timestamp or log entry proves it was
// made within [ValidFrom, ValidUntil]; zero values mean unbounded.
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

// NamedRoot is trusted material known by a name (e.g. "public-good", "staging", "acme"), so
// that organisations can choose which roots they trust.
type NamedRoot struct {
	Name     string
	Material root.TrustedMaterial
}

// Verifier verifies bundles against fixed trusted material. It is safe for concurrent use.
type Verifier struct {
	roots []rootVerifiers
	keys  []keyVerifiers
	// all is every root's material, for the timestamps and log entries of keyed bundles.
	all root.TrustedMaterialCollection
	// version is TrustVersion(roots, keys).
	version string
}

// rootVerifiers holds the sigstore-go verifiers for one root, built once: with and without
// the transparency-log requirement (bundles signed with only an RFC 3161 timestamp have none).
type rootVerifiers struct {
	name           string
	withTlog, bare *sgverify.Verifier
}

type keyVerifiers struct {
	name           string
	withTlog, bare *sgverify.Verifier
}

// New returns a Verifier trusting roots (for keyless bundles, and for the timestamps and log
// entries of keyed ones) and keys. It fails with ErrNoTrustedMaterial when both are empty, and
// when a root name repeats.
func New(roots []NamedRoot, keys []TrustedKey) (*Verifier, error) {
	if len(roots) == 0 && len(keys) == 0 {
		return nil, ErrNoTrustedMaterial
	}
	v := &Verifier{version: TrustVersion(roots, keys)}
	seen := map[string]bool{}
	for _, r := range roots {
		if seen[r.Name] {
			return nil, fmt.Errorf("trusted root %q given twice", r.Name)
		}
		seen[r.Name] = true
		v.all = append(v.all, r.Material)
		opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1), sgverify.WithoutStatementPredicate()}
		if len(r.Material.CTLogs()) > 0 {
			opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
		}
		rv := rootVerifiers{name: r.Name}
		var err error
		if rv.bare, err = sgverify.NewVerifier(r.Material, opts...); err != nil {
			return nil, fmt.Errorf("configuring verifier for root %s: %w", r.Name, err)
		}
		if rv.withTlog, err = sgverify.NewVerifier(r.Material, append(opts, sgverify.WithTransparencyLog(1))...); err != nil {
			return nil, fmt.Errorf("configuring verifier for root %s: %w", r.Name, err)
		}
		v.roots = append(v.roots, rv)
	}
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
		mat := append(root.TrustedMaterialCollection{km}, v.all...)
		kv := keyVerifiers{name: k.Name}
		opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1), sgverify.WithoutStatementPredicate()}
		if kv.bare, err = sgverify.NewVerifier(mat, opts...); err != nil {
			return nil, fmt.Errorf("configuring verifier for key %s: %w", k.Name, err)
		}
		if kv.withTlog, err = sgverify.NewVerifier(mat, append(opts, sgverify.WithTransparencyLog(1))...); err != nil {
			return nil, fmt.Errorf("configuring verifier for key %s: %w", k.Name, err)
		}
		v.keys = append(v.keys, kv)
	}
	return v, nil
}

// Options narrow one verification.
type Options struct {
	// ArtifactDigest, when set, requires the signature to be about this artifact: a DSSE
	// statement must name it among its subjects; a message signature must be over it.
	ArtifactDigest evidence.Digest
	// Artifact, when set, is the artifact itself (read from the start for each root tried).
	// It takes precedence over ArtifactDigest; Ed25519 message signatures need it.
	Artifact io.ReadSeeker
	// Identities, when not empty, are the identities a keyless signer must match one of; a
	// bundle that verifies but was signed by anyone else is not verified.
	Identities []IdentityPolicy
	// Roots, when not empty, restricts keyless verification to the roots with these names
	// (an organisation's choice); Verify fails with ErrUnknownRoot for a name it lacks.
	Roots []string
}

// Result is what verifying a bundle established.
type Result struct {
	evidence.Verification
	// PayloadType and Payload are the DSSE envelope's, whether or not the signature verified;
	// both are empty for a message-signature bundle.
	PayloadType string
	Payload     []byte
	// Root names the trusted root (keyless) that verified the bundle.
	Root string
}

// VerifyBundle is Verify with no artifact, identity or root restrictions.
func (v *Verifier) VerifyBundle(b *bundle.Bundle) (Result, error) {
	return v.Verify(b, Options{})
}

// Verify checks b's signature, certificate chain, SCTs, transparency log entries and
// timestamps, and then opts. A bad signature is not an error: Result.Verified is false and
// Result.Error says why (Result.IdentityMismatch is set when only the identity policy failed).
// It returns an error only when b has no usable content, when opts name an unknown root, or
// when the artifact cannot be read, or when an identity policy was not validated.
func (v *Verifier) Verify(b *bundle.Bundle, opts Options) (Result, error) {
	var res Result
	// Read what routing needs straight from the protobuf: sigstore-go parses the certificate,
	// log entries and envelope itself, and doing it twice would cost a tenth of a verification.
	if env := b.GetDsseEnvelope(); env != nil {
		res.PayloadType, res.Payload = env.GetPayloadType(), env.GetPayload()
	}
	vm := b.GetVerificationMaterial()
	if vm == nil {
		return res, fmt.Errorf("reading verification material: %w", bundle.ErrMissingVerificationMaterial)
	}
	keyless := vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil
	hasTlog := len(vm.GetTlogEntries()) > 0
	if err := validated(opts.Identities); err != nil {
		return res, err
	}
	artifact, err := artifactPolicy(opts)
	if err != nil {
		return res, err
	}

	if keyless {
		roots, err := v.selectRoots(opts.Roots)
		if err != nil {
			return res, err
		}
		if len(roots) == 0 {
			res.Error = "keyless bundle but no trusted root is configured"
			return res, nil
		}
		var errs []error
		for _, r := range roots {
			sv := r.bare
			if hasTlog {
				sv = r.withTlog
			}
			ap, err := artifact()
			if err != nil {
				return res, err
			}
			out, err := sv.Verify(b, sgverify.NewPolicy(ap, sgverify.WithoutIdentitiesUnsafe()))
			if err != nil {
				errs = append(errs, rootError(r.name, len(roots), err))
				continue
			}
			res.fill(out)
			res.Root = r.name
			if err := matchIdentity(opts.Identities, res.Signer); err != nil {
				res.Verified, res.IdentityMismatch, res.Error = false, true, err.Error()
			}
			return res, nil
		}
		res.Error = errors.Join(errs...).Error()
		return res, nil
	}

	if vm.GetPublicKey() == nil {
		res.Error = "the bundle has neither a certificate nor a public key to verify with"
		return res, nil
	}
	if len(v.keys) == 0 {
		res.Error = "key-signed bundle but no trusted key is configured"
		return res, nil
	}
	var errs []error
	for _, k := range v.keys {
		sv := k.bare
		if hasTlog {
			sv = k.withTlog
		}
		ap, err := artifact()
		if err != nil {
			return res, err
		}
		out, err := sv.Verify(b, sgverify.NewPolicy(ap, sgverify.WithKey()))
		if err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", k.name, err))
			continue
		}
		res.fill(out)
		res.Signer = &evidence.Signer{Type: evidence.SignatureKey, Identity: k.name}
		return res, nil
	}
	res.Error = "no trusted key verifies the signature: " + errors.Join(errs...).Error()
	return res, nil
}

func rootError(name string, n int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("root %s: %w", name, err)
}

func (v *Verifier) selectRoots(names []string) ([]rootVerifiers, error) {
	if len(names) == 0 {
		return v.roots, nil
	}
	var out []rootVerifiers
	for _, n := range names {
		found := false
		for _, r := range v.roots {
			if r.name == n {
				out, found = append(out, r), true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %q", ErrUnknownRoot, n)
		}
	}
	return out, nil
}

// artifactPolicy returns a function giving a fresh sigstore-go artifact policy per attempt.
func artifactPolicy(opts Options) (func() (sgverify.ArtifactPolicyOption, error), error) {
	switch {
	case opts.Artifact != nil:
		return func() (sgverify.ArtifactPolicyOption, error) {
			if _, err := opts.Artifact.Seek(0, io.SeekStart); err != nil {
				return nil, fmt.Errorf("reading artifact: %w", err)
			}
			return sgverify.WithArtifact(opts.Artifact), nil
		}, nil
	case opts.ArtifactDigest != "":
		if err := opts.ArtifactDigest.Validate(); err != nil {
			return nil, err
		}
		p := sgverify.WithArtifactDigest(opts.ArtifactDigest.Algorithm(), opts.ArtifactDigest.Bytes())
		return func() (sgverify.ArtifactPolicyOption, error) { return p, nil }, nil
	}
	p := sgverify.WithoutArtifactUnsafe()
	return func() (sgverify.ArtifactPolicyOption, error) { return p, nil }, nil
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
