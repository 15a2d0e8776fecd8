package dsse

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/verify"
)

// KeyOption adjusts VerifyWithKeys.
type KeyOption func(*keyConfig)

type keyConfig struct {
	raw map[string]bool
	now time.Time
}

// AllowRawPayload lets the keys named (verify.TrustedKey.Name) sign the raw payload instead
// of the DSSE pre-authentication encoding. Google Cloud Build's regional and global
// builtByGCB keys sign that way (an ECDSA signature over SHA-256 of the payload); the payload
// type is then not covered by the signature, so allow it only for keys known to need it.
func AllowRawPayload(keyNames ...string) KeyOption {
	return func(c *keyConfig) {
		for _, n := range keyNames {
			c.raw[n] = true
		}
	}
}

// At sets the time at which key validity windows are checked; the default is the current
// time.
func At(t time.Time) KeyOption {
	return func(c *keyConfig) { c.now = t }
}

// VerifyWithKeys checks env's signatures against keys, each signature against each key, and
// reports the first that verifies. A signature may be over the DSSE pre-authentication
// encoding (PAE) or, for keys named in AllowRawPayload, over the raw payload; it may be ECDSA
// (ASN.1 DER, or raw r‖s as IEEE P1363 — Google's VSA key signs that way) with the hash that
// matches the curve, RSA PKCS #1 v1.5 or PSS with SHA-256, SHA-384 or SHA-512, or Ed25519.
// Key IDs in the envelope are unauthenticated hints and are ignored.
//
// A raw envelope carries no transparency log entry or timestamp, so no signing time can be
// proven. Key validity windows are therefore checked at the current time (or At's), as
// sigstore-go's WithCurrentTime does: a key whose ValidUntil has passed is refused,
// since nothing shows the signature was made before then — and so is a key whose ValidFrom is
// still to come. A signature made before a ValidFrom in the past cannot be told apart and is
// accepted. Result.SignedAt, TlogEntries and Timestamps stay zero.
//
// The Result always carries the envelope's PayloadType and Payload. It is Verified with
// Signer{Type: key, Identity: the key's name} when a signature verifies. An envelope with no
// signatures is unsigned: neither Verified nor Error is set, as evidence.Verification
// describes unsigned documents. Otherwise Error says why nothing verified: no key is
// configured, or no trusted key verifies any of the signatures (naming a key that would
// verify but is outside its validity window or not allowed raw-payload signatures).
func VerifyWithKeys(env Envelope, keys []verify.TrustedKey, opts ...KeyOption) verify.Result {
	cfg := keyConfig{raw: map[string]bool{}, now: time.Now()}
	for _, o := range opts {
		o(&cfg)
	}
	res := verify.Result{PayloadType: env.PayloadType, Payload: env.Payload}
	switch {
	case len(env.Signatures) == 0:
		return res
	case len(keys) == 0:
		res.Error = "no trusted key is configured"
		return res
	}
	pae := ssldsse.PAE(env.PayloadType, env.Payload)
	var notes []string
	for i, s := range env.Signatures {
		for _, k := range keys {
			overPAE := verifySignature(k.PublicKey, pae, s.Sig)
			overRaw := !overPAE && verifySignature(k.PublicKey, env.Payload, s.Sig)
			if !overPAE && !overRaw {
				continue
			}
			if overRaw && !cfg.raw[k.Name] {
				notes = append(notes, fmt.Sprintf("signature %d is over the raw payload, which key %s is not allowed to sign", i, k.Name))
				continue
			}
			if why := outsideWindow(k, cfg.now); why != "" {
				notes = append(notes, fmt.Sprintf("signature %d verifies with key %s, but %s", i, k.Name, why))
				continue
			}
			res.Verified = true
			res.Signer = &evidence.Signer{Type: evidence.SignatureKey, Identity: k.Name}
			return res
		}
	}
	what := fmt.Sprintf("any of %d signatures", len(env.Signatures))
	if len(env.Signatures) == 1 {
		what = "the envelope's signature"
	}
	res.Error = fmt.Sprintf("no trusted key verifies %s", what)
	if len(notes) > 0 {
		res.Error += ": " + strings.Join(notes, "; ")
	}
	return res
}

// outsideWindow says why k is not valid at now, or "" when it is.
func outsideWindow(k verify.TrustedKey, now time.Time) string {
	const note = " (a raw envelope proves no signing time, so keys are checked at the current time)"
	switch {
	case !k.ValidUntil.IsZero() && now.After(k.ValidUntil):
		return "the key's validity ended at " + k.ValidUntil.UTC().Format(time.RFC3339) + note
	case !k.ValidFrom.IsZero() && now.Before(k.ValidFrom):
		return "the key is only valid from " + k.ValidFrom.UTC().Format(time.RFC3339) + note
	}
	return ""
}

// verifySignature reports whether sig is pub's signature over msg, in any of the encodings
// VerifyWithKeys documents. It never panics on odd keys or signatures.
func verifySignature(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return false
		}
		h := ecdsaHash(k.Curve)
		if h == 0 {
			return false
		}
		d := digest(h, msg)
		if ecdsa.VerifyASN1(k, d, sig) {
			return true
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, d, r, s)
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return false
		}
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			d := digest(h, msg)
			if rsa.VerifyPKCS1v15(k, h, d, sig) == nil {
				return true
			}
			if rsa.VerifyPSS(k, h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil {
				return true
			}
		}
		return false
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig)
	case *ed25519.PublicKey:
		return k != nil && verifySignature(*k, msg, sig)
	}
	return false
}

func ecdsaHash(c elliptic.Curve) crypto.Hash {
	switch c.Params().BitSize {
	case 256:
		return crypto.SHA256
	case 384:
		return crypto.SHA384
	case 521:
		return crypto.SHA512
	}
	return 0
}

func digest(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

// Errors from VerifyWithEmbeddedCert, from the best outcome to the worst.
var (
	// ErrNoTransparencyProof says a signature matches its embedded certificate and the
	// certificate chains to a trusted Fulcio CA, but nothing proves the signature was made
	// while the short-lived certificate was valid: that needs a transparency log entry, which
	// a raw envelope does not carry (slsa-verifier looks it up in Rekor online).
	ErrNoTransparencyProof = errors.New("the signing time cannot be proven offline without a transparency log entry")
	// ErrUntrustedCertificate says a signature matches its embedded certificate but the
	// certificate does not chain to a Fulcio CA of the trusted roots.
	ErrUntrustedCertificate = errors.New("the certificate does not chain to a trusted Fulcio CA")
	// ErrSignatureMismatch says no signature is the embedded certificate's signature over the
	// envelope.
	ErrSignatureMismatch = errors.New("the signature does not match the certificate")
	// ErrNoCertificate says no signature embeds a certificate (or the envelope is unsigned).
	ErrNoCertificate = errors.New("no signing certificate in the envelope")
)

// VerifyWithEmbeddedCert checks a raw envelope whose signatures embed their Fulcio signing
// certificate (slsa-github-generator before v2.1.0): the signature against the certificate's
// key over the DSSE pre-authentication encoding, then the certificate chain against the Fulcio
// CAs of roots, evaluated at the certificate's NotBefore since no log entry proves when the
// signature was made. SCTs are not checked.
//
// It never reports Verified: Fulcio certificates live ten minutes, and without a transparency
// log entry nothing shows the signature was made within them, so anyone who ever held such a
// key could sign anything. The error, always non-nil and also in Result.Error (except for an
// unsigned envelope, whose Result has no Error, as evidence.Verification describes unsigned
// documents), says how far verification got, as one of these sentinels (best outcome over all
// signatures):
// ErrNoTransparencyProof — the signature matches a certificate that chains to a trusted CA;
// only then is Result.Signer filled from the certificate (issuer, SAN, GitHub workflow
// claims) to show who claims to have signed. ErrUntrustedCertificate — the signature matches
// but the chain does not verify (or the certificate is not valid PEM). ErrSignatureMismatch —
// the certificate's key did not make the signature. ErrNoCertificate — no signature embeds a
// certificate. The Result always carries the envelope's PayloadType and Payload.
func VerifyWithEmbeddedCert(env Envelope, roots []root.TrustedMaterial) (verify.Result, error) {
	res := verify.Result{PayloadType: env.PayloadType, Payload: env.Payload}
	best := fmt.Errorf("%w: the envelope has no signatures", ErrNoCertificate)
	if len(env.Signatures) > 0 {
		best = nil
	}
	pae := ssldsse.PAE(env.PayloadType, env.Payload)
	for i, s := range env.Signatures {
		signer, err := checkEmbedded(s, pae, roots)
		if err != nil {
			err = fmt.Errorf("signature %d: %w", i, err)
		}
		if best == nil || rank(err) < rank(best) {
			best = err
			res.Signer = signer
		}
		if errors.Is(err, ErrNoTransparencyProof) {
			break
		}
	}
	if len(env.Signatures) > 0 {
		res.Error = best.Error()
	}
	return res, best
}

// rank orders VerifyWithEmbeddedCert's outcomes, best first.
func rank(err error) int {
	for i, s := range []error{ErrNoTransparencyProof, ErrUntrustedCertificate, ErrSignatureMismatch} {
		if errors.Is(err, s) {
			return i
		}
	}
	return 3
}

func checkEmbedded(s Signature, pae []byte, roots []root.TrustedMaterial) (*evidence.Signer, error) {
	if strings.TrimSpace(s.Cert) == "" {
		return nil, ErrNoCertificate
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(s.Cert))
	if err != nil {
		return nil, fmt.Errorf("%w: parsing the certificate: %w", ErrUntrustedCertificate, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: the certificate field holds no PEM certificate", ErrUntrustedCertificate)
	}
	leaf := certs[0]
	if !verifySignature(leaf.PublicKey, pae, s.Sig) {
		return nil, ErrSignatureMismatch
	}
	summary, err := certificate.SummarizeCertificate(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the certificate: %w", ErrUntrustedCertificate, err)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: no trusted root is configured", ErrUntrustedCertificate)
	}
	chained := slices.ContainsFunc(roots, func(tm root.TrustedMaterial) bool {
		_, err := sgverify.VerifyLeafCertificate(leaf.NotBefore, leaf, tm)
		return err == nil
	})
	if !chained {
		return nil, fmt.Errorf("%w: certificate for %s issued by %s", ErrUntrustedCertificate, summary.SubjectAlternativeName, leaf.Issuer)
	}
	// Certificates from 2022 carry only the deprecated v1 GitHub extensions.
	e := summary.Extensions
	signer := &evidence.Signer{
		Type:              evidence.SignatureKeyless,
		Issuer:            e.Issuer,
		Identity:          summary.SubjectAlternativeName,
		SourceRepository:  cmp.Or(e.SourceRepositoryURI, e.GithubWorkflowRepository),
		SourceRef:         cmp.Or(e.SourceRepositoryRef, e.GithubWorkflowRef),
		SourceDigest:      cmp.Or(e.SourceRepositoryDigest, e.GithubWorkflowSHA),
		BuildSignerURI:    e.BuildSignerURI,
		BuildConfigURI:    e.BuildConfigURI,
		RunnerEnvironment: e.RunnerEnvironment,
	}
	return signer, fmt.Errorf("the signature matches the certificate issued to %s, but %w (slsa-verifier looks such envelopes up in Rekor online)",
		summary.SubjectAlternativeName, ErrNoTransparencyProof)
}
