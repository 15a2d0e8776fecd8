package demo

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements.
const InTotoPayloadType = "application/vnd.in-toto+json"

// BundleMediaType is the media type of the bundles this package makes (v0.3).
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// Identity is the OIDC identity a keyless signing certificate is issued to, with the GitHub
// workflow claims Fulcio records as certificate extensions.
type Identity struct {
	// SAN is the certificate's subject alternative name, a URI for workflow identities.
	SAN               string
	Issuer            string
	SourceRepository  string
	SourceRef         string
	SourceDigest      string
	BuildSignerURI    string
	BuildConfigURI    string
	RunnerEnvironment string
}

// Sigstore is a private Sigstore instance for demos and tests: a Fulcio-style CA that issues
// certificates with GitHub workflow extensions, and the transparency log and timestamp
// authority of sigstore-go's pkg/testing/ca VirtualSigstore. Every signature it makes is real
// and verifies against TrustedRoot.
type Sigstore struct {
	vs        *ca.VirtualSigstore
	caRoot    *x509.Certificate
	caInter   *x509.Certificate
	interKey  *ecdsa.PrivateKey
	caStart   time.Time
	key       *ecdsa.PrivateKey
	trustRoot *root.TrustedRoot
}

// NewSigstore creates a fresh instance with new keys, and a signing key for keyed bundles.
func NewSigstore() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, fmt.Errorf("creating virtual sigstore: %w", err)
	}
	caRoot, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}
	caInter, interKey, err := ca.GenerateFulcioIntermediate(caRoot, rootKey)
	if err != nil {
		return nil, fmt.Errorf("creating intermediate CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("creating signing key: %w", err)
	}
	s := &Sigstore{vs: vs, caRoot: caRoot, caInter: caInter, interKey: interKey, caStart: time.Now().Add(-5 * time.Minute), key: key}
	if s.trustRoot, err = s.buildTrustedRoot(); err != nil {
		return nil, err
	}
	return s, nil
}

// buildTrustedRoot assembles the CA, log and TSA into a trusted root. VirtualSigstore keys its
// log by the hex log ID but stores that hex text as the ID; the ID is decoded here so that the
// trusted root survives a round trip through JSON.
func (s *Sigstore) buildTrustedRoot() (*root.TrustedRoot, error) {
	fix := func(in map[string]*root.TransparencyLog) (map[string]*root.TransparencyLog, error) {
		out := make(map[string]*root.TransparencyLog, len(in))
		for id, tl := range in {
			raw, err := hex.DecodeString(id)
			if err != nil {
				return nil, fmt.Errorf("decoding log id: %w", err)
			}
			c := *tl
			c.ID = raw
			c.ValidityPeriodStart = s.caStart
			c.ValidityPeriodEnd = time.Time{}
			out[id] = &c
		}
		return out, nil
	}
	rekor, err := fix(s.vs.RekorLogs())
	if err != nil {
		return nil, err
	}
	fulcio := &root.FulcioCertificateAuthority{
		Root:                s.caRoot,
		Intermediates:       []*x509.Certificate{s.caInter},
		ValidityPeriodStart: s.caStart,
		URI:                 "https://fulcio.demo.aspm.local",
	}
	// No CT logs: the certificates carry no SCTs, and verifiers require SCTs when a root
	// lists CT logs.
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio}, nil, s.vs.TimestampingAuthorities(), rekor)
	if err != nil {
		return nil, fmt.Errorf("assembling trusted root: %w", err)
	}
	return tr, nil
}

// TrustedRoot returns the trusted material that verifies this instance's signatures.
func (s *Sigstore) TrustedRoot() *root.TrustedRoot { return s.trustRoot }

// TrustedRootJSON returns the trusted root as a trusted_root.json document.
func (s *Sigstore) TrustedRootJSON() ([]byte, error) {
	b, err := s.trustRoot.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding trusted root: %w", err)
	}
	return b, nil
}

// PublicKey returns the key that verifies SignKeyed's bundles.
func (s *Sigstore) PublicKey() crypto.PublicKey { return s.key.Public() }

// PublicKeyPEM returns PublicKey in PEM form.
func (s *Sigstore) PublicKeyPEM() ([]byte, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(s.key.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return b, nil
}

// Fulcio's certificate extension OIDs (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
var (
	oidIssuerV2          = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidBuildSignerURI    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 9}
	oidRunnerEnvironment = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 11}
	oidSourceRepoURI     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}
	oidSourceRepoDigest  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 13}
	oidSourceRepoRef     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 14}
	oidBuildConfigURI    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 18}
)

var serial int64 = time.Now().UnixNano()

func (s *Sigstore) issue(id Identity, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	var exts []pkix.Extension
	for _, e := range []struct {
		oid asn1.ObjectIdentifier
		val string
	}{
		{oidIssuerV2, id.Issuer},
		{oidBuildSignerURI, id.BuildSignerURI},
		{oidRunnerEnvironment, id.RunnerEnvironment},
		{oidSourceRepoURI, id.SourceRepository},
		{oidSourceRepoDigest, id.SourceDigest},
		{oidSourceRepoRef, id.SourceRef},
		{oidBuildConfigURI, id.BuildConfigURI},
	} {
		if e.val == "" {
			continue
		}
		v, err := asn1.MarshalWithParams(e.val, "utf8")
		if err != nil {
			return nil, fmt.Errorf("encoding certificate extension: %w", err)
		}
		exts = append(exts, pkix.Extension{Id: e.oid, Value: v})
	}
	u, err := url.Parse(id.SAN)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("identity %q: want a URI", id.SAN)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(serial),
		URIs:            []*url.URL{u},
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(10 * time.Minute),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.caInter, pub, s.interKey)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func signDSSE(ctx context.Context, key *ecdsa.PrivateKey, payload []byte) (*dsse.Envelope, []byte, error) {
	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("loading signer: %w", err)
	}
	es, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: sv, Pub: key.Public()})
	if err != nil {
		return nil, nil, fmt.Errorf("creating DSSE signer: %w", err)
	}
	env, err := es.SignPayload(ctx, InTotoPayloadType, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("signing DSSE envelope: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding signature: %w", err)
	}
	return env, sig, nil
}

// SignKeyless signs statement as a DSSE envelope with a fresh key whose certificate is issued
// to id, logs it in the transparency log with an inclusion proof, timestamps it, and returns
// the Sigstore bundle (v0.3) as JSON.
func (s *Sigstore) SignKeyless(ctx context.Context, statement []byte, id Identity) ([]byte, error) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("creating ephemeral key: %w", err)
	}
	cert, err := s.issue(id, key.Public(), now)
	if err != nil {
		return nil, err
	}
	env, sig, err := signDSSE(ctx, key, statement)
	if err != nil {
		return nil, err
	}
	entry, err := s.vs.GenerateTlogEntry(cert, env, sig, now.Unix(), true)
	if err != nil {
		return nil, fmt.Errorf("logging signature: %w", err)
	}
	tle, err := s.withPromise(entry)
	if err != nil {
		return nil, err
	}
	tsr, err := s.vs.TimestampResponse(sig)
	if err != nil {
		return nil, fmt.Errorf("timestamping signature: %w", err)
	}
	return marshalBundle(&protobundle.VerificationMaterial{
		Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
		TlogEntries:               []*protorekor.TransparencyLogEntry{tle},
		TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}}},
	}, env)
}

// SignKeyed signs statement with the instance's signing key and timestamps it; the bundle has
// no transparency log entry, as with a private key kept off the public log.
func (s *Sigstore) SignKeyed(ctx context.Context, statement []byte) ([]byte, error) {
	env, sig, err := signDSSE(ctx, s.key, statement)
	if err != nil {
		return nil, err
	}
	tsr, err := s.vs.TimestampResponse(sig)
	if err != nil {
		return nil, fmt.Errorf("timestamping signature: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	hint := sha256Hex(der)
	return marshalBundle(&protobundle.VerificationMaterial{
		Content:                   &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint}},
		TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}}},
	}, env)
}

// withPromise completes a log entry with its kind and a signed entry timestamp, which
// VirtualSigstore computes but does not expose.
func (s *Sigstore) withPromise(entry *tlog.Entry) (*protorekor.TransparencyLogEntry, error) {
	tle := entry.TransparencyLogEntry()
	logID, err := s.vs.RekorLogID()
	if err != nil {
		return nil, fmt.Errorf("reading log id: %w", err)
	}
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          logID,
	})
	if err != nil {
		return nil, fmt.Errorf("signing entry timestamp: %w", err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	return tle, nil
}

func marshalBundle(vm *protobundle.VerificationMaterial, env *dsse.Envelope) ([]byte, error) {
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("decoding payload: %w", err)
	}
	var sigs []*protodsse.Signature
	for _, sg := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil {
			return nil, fmt.Errorf("decoding signature: %w", err)
		}
		sigs = append(sigs, &protodsse.Signature{Sig: raw, Keyid: sg.KeyID})
	}
	b := &protobundle.Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: sigs,
		}},
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	// Re-indent through encoding/json so the stored document is stable and readable.
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("re-encoding bundle: %w", err)
	}
	return json.Marshal(v)
}

// SignMessageKeyed signs message (e.g. cosign's simple-signing payload) with the instance's
// signing key and timestamps the signature, returning a message-signature bundle.
func (s *Sigstore) SignMessageKeyed(message []byte) (*bundle.Bundle, error) {
	sum := sha256.Sum256(message)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
	if err != nil {
		return nil, fmt.Errorf("signing message: %w", err)
	}
	tsr, err := s.vs.TimestampResponse(sig)
	if err != nil {
		return nil, fmt.Errorf("timestamping signature: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	pb := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: sha256Hex(der)}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}},
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Errorf("assembling bundle: %w", err)
	}
	return b, nil
}

// ParseBundle reads bundle JSON as SignKeyless and SignKeyed return it.
func ParseBundle(data []byte) (*bundle.Bundle, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("parsing bundle: %w", err)
	}
	return &b, nil
}

// Chain returns the CA chain above the certificates SignKeyless issues (intermediate, root),
// as cosign records it next to a signature.
func (s *Sigstore) Chain() []*x509.Certificate { return []*x509.Certificate{s.caInter, s.caRoot} }
