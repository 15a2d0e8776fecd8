// Package cosign reads cosign's legacy OCI signature attachments — the layers of the
// `sha256-<digest>.sig` and `.att` images that cosign wrote before it adopted Sigstore bundles,
// with the certificate, chain, Rekor entry and timestamp kept in layer annotations — and
// reassembles each into a Sigstore bundle (v0.1) that package verify checks like any other.
package cosign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/aspmhq/aspm/pkg/dsse"
)

// The layer media types of cosign's legacy attachments.
const (
	// SimpleSigningMediaType is a `.sig` layer: the layer is the signed payload (a "simple
	// signing" JSON document naming the image digest), the signature is in
	// SignatureAnnotation.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// DSSEMediaType is an `.att` layer: the layer is a DSSE envelope around an in-toto
	// statement.
	DSSEMediaType = "application/vnd.dsse.envelope.v1+json"
)

// The layer annotations cosign writes.
const (
	// SignatureAnnotation is the base64 signature of a simple-signing layer.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// CertificateAnnotation is the PEM signing certificate of a keyless signature.
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	// ChainAnnotation is the PEM chain (intermediates, root) of CertificateAnnotation.
	ChainAnnotation = "dev.sigstore.cosign/chain"
	// BundleAnnotation is the Rekor entry as cosign's "bundle" JSON: {"SignedEntryTimestamp":
	// base64, "Payload": {"body": base64 canonicalized entry, "integratedTime", "logIndex",
	// "logID": hex}} — an inclusion promise, no inclusion proof.
	BundleAnnotation = "dev.sigstore.cosign/bundle"
	// RFC3161TimestampAnnotation is {"SignedRFC3161Timestamp": base64 timestamp response}.
	RFC3161TimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp"
)

// BundleMediaType is the media type of the bundles BundleFromAttachment builds: v0.1, whose
// log entries need an inclusion promise but no inclusion proof, which is all cosign kept.
const BundleMediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// MaxLayerSize bounds the layers BundleFromAttachment reads.
const MaxLayerSize = 32 << 20

// Errors from BundleFromAttachment.
var (
	// ErrUnsupported says the attachment is of a kind this package does not read: an unknown
	// layer media type, a Rekor entry kind sigstore-go cannot verify, or a DSSE attachment
	// whose only signing time is a timestamp over the whole envelope.
	ErrUnsupported = errors.New("unsupported cosign attachment")
	// ErrMalformed says the layer or an annotation is not what cosign writes.
	ErrMalformed = errors.New("malformed cosign attachment")
	// ErrSigstoreBundle says the attachment is already a Sigstore bundle (as cosign v2.4+ and
	// v3 attach), which verify.ParseBundles reads.
	ErrSigstoreBundle = errors.New("a Sigstore bundle, not a legacy cosign attachment")
)

// supportedEntries are the Rekor v1 entry kinds sigstore-go verifies.
var supportedEntries = map[string]bool{"hashedrekord/0.0.1": true, "dsse/0.0.1": true, "intoto/0.0.2": true}

// BundleFromAttachment reassembles one legacy cosign attachment layer, given its media type,
// content and annotations, into a Sigstore bundle (BundleMediaType). The bundle's content is a
// message signature for a simple-signing layer (the SHA-256 digest of the layer and the
// signature from SignatureAnnotation; verify it with the layer as the artifact) or the DSSE
// envelope of an `.att` layer. Its verification material is the certificate and chain when
// CertificateAnnotation is present — a keyless signature — and otherwise a public key with an
// empty hint, since cosign records nothing that names the key: the verifier tries each trusted
// key. BundleAnnotation becomes the transparency log entry (its kind and version read from the
// entry body, the signed entry timestamp as inclusion promise). RFC3161TimestampAnnotation
// becomes the bundle's timestamp for simple signing, where cosign timestamps the signature as
// bundles do; for DSSE cosign timestamped the whole envelope, which a bundle cannot carry, so
// it is left out — and when it is the only signing time the attachment is ErrUnsupported.
//
// The bundle is assembled, not verified. Errors wrap ErrSigstoreBundle when the layer is a
// Sigstore bundle, ErrUnsupported for a media type or entry kind it does not read (so the
// caller can report the attachment rather than drop it), and ErrMalformed otherwise.
func BundleFromAttachment(mediaType string, layer []byte, annotations map[string]string) (*bundle.Bundle, error) {
	switch {
	case mediaType == SimpleSigningMediaType || mediaType == DSSEMediaType:
	case strings.HasPrefix(mediaType, "application/vnd.dev.sigstore.bundle"):
		return nil, fmt.Errorf("%w: media type %s", ErrSigstoreBundle, mediaType)
	default:
		return nil, fmt.Errorf("%w: layer media type %q", ErrUnsupported, mediaType)
	}
	if len(layer) > MaxLayerSize {
		return nil, fmt.Errorf("%w: layer of %d bytes exceeds the %d byte limit", ErrMalformed, len(layer), MaxLayerSize)
	}
	pb := &protobundle.Bundle{MediaType: BundleMediaType, VerificationMaterial: &protobundle.VerificationMaterial{}}
	vm := pb.VerificationMaterial
	if err := setKeyMaterial(vm, annotations); err != nil {
		return nil, err
	}
	if s, ok := annotations[BundleAnnotation]; ok {
		tle, err := logEntry(s)
		if err != nil {
			return nil, err
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	ts, hasTS := annotations[RFC3161TimestampAnnotation]

	if mediaType == SimpleSigningMediaType {
		s, ok := annotations[SignatureAnnotation]
		if !ok || s == "" {
			return nil, fmt.Errorf("%w: simple-signing layer without the %s annotation", ErrMalformed, SignatureAnnotation)
		}
		sig, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not base64: %w", ErrMalformed, SignatureAnnotation, err)
		}
		d := sha256.Sum256(layer)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d[:]},
			Signature:     sig,
		}}
		if hasTS {
			tsr, err := timestamp(ts)
			if err != nil {
				return nil, err
			}
			vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
			}
		}
	} else {
		env, err := envelope(layer)
		if err != nil {
			return nil, err
		}
		if hasTS && len(vm.TlogEntries) == 0 {
			return nil, fmt.Errorf("%w: the attestation's only signing time is an RFC 3161 timestamp over the whole envelope, which a Sigstore bundle cannot carry", ErrUnsupported)
		}
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
	}

	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Errorf("%w: assembling the bundle: %w", ErrMalformed, err)
	}
	return b, nil
}

// setKeyMaterial sets vm's content to the certificate chain, or to a public key when there is
// no certificate.
func setKeyMaterial(vm *protobundle.VerificationMaterial, annotations map[string]string) error {
	leafPEM, hasCert := annotations[CertificateAnnotation]
	chainPEM, hasChain := annotations[ChainAnnotation]
	if !hasCert || strings.TrimSpace(leafPEM) == "" {
		if hasChain && strings.TrimSpace(chainPEM) != "" {
			return fmt.Errorf("%w: %s without %s", ErrMalformed, ChainAnnotation, CertificateAnnotation)
		}
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}}
		return nil
	}
	leaf, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(leafPEM))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, CertificateAnnotation, err)
	}
	if len(leaf) != 1 {
		return fmt.Errorf("%w: %s: want one PEM certificate, found %d", ErrMalformed, CertificateAnnotation, len(leaf))
	}
	certs := []*protocommon.X509Certificate{{RawBytes: leaf[0].Raw}}
	if hasChain && strings.TrimSpace(chainPEM) != "" {
		chain, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(chainPEM))
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMalformed, ChainAnnotation, err)
		}
		for _, c := range chain {
			certs = append(certs, &protocommon.X509Certificate{RawBytes: c.Raw})
		}
	}
	vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{
		X509CertificateChain: &protocommon.X509CertificateChain{Certificates: certs},
	}
	return nil
}

// rekorBundle is cosign's BundleAnnotation.
type rekorBundle struct {
	SignedEntryTimestamp string `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           any    `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// logEntry turns cosign's BundleAnnotation into a transparency log entry with an inclusion
// promise.
func logEntry(annotation string) (*protorekor.TransparencyLogEntry, error) {
	var rb rekorBundle
	if err := json.Unmarshal([]byte(annotation), &rb); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, BundleAnnotation, err)
	}
	set, err := base64.StdEncoding.DecodeString(rb.SignedEntryTimestamp)
	if err != nil || len(set) == 0 {
		return nil, fmt.Errorf("%w: %s: SignedEntryTimestamp is missing or not base64", ErrMalformed, BundleAnnotation)
	}
	b64, ok := rb.Payload.Body.(string)
	if !ok {
		return nil, fmt.Errorf("%w: %s: Payload.body is not a base64 string", ErrMalformed, BundleAnnotation)
	}
	body, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: Payload.body is not base64: %w", ErrMalformed, BundleAnnotation, err)
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil || kv.Kind == "" || kv.APIVersion == "" {
		return nil, fmt.Errorf("%w: %s: the log entry body has no kind and apiVersion", ErrMalformed, BundleAnnotation)
	}
	if !supportedEntries[kv.Kind+"/"+kv.APIVersion] {
		return nil, fmt.Errorf("%w: Rekor entry kind %s/%s", ErrUnsupported, kv.Kind, kv.APIVersion)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return nil, fmt.Errorf("%w: %s: Payload.logID is missing or not hex", ErrMalformed, BundleAnnotation)
	}
	if rb.Payload.LogIndex < 0 || rb.Payload.IntegratedTime <= 0 {
		return nil, fmt.Errorf("%w: %s: Payload.logIndex or integratedTime out of range", ErrMalformed, BundleAnnotation)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		CanonicalizedBody: body,
	}, nil
}

// timestamp decodes cosign's RFC3161TimestampAnnotation.
func timestamp(annotation string) ([]byte, error) {
	var ts struct {
		SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
	}
	if err := json.Unmarshal([]byte(annotation), &ts); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, RFC3161TimestampAnnotation, err)
	}
	if len(ts.SignedRFC3161Timestamp) == 0 {
		return nil, fmt.Errorf("%w: %s: no SignedRFC3161Timestamp", ErrMalformed, RFC3161TimestampAnnotation)
	}
	return ts.SignedRFC3161Timestamp, nil
}

// envelope reads the DSSE envelope an `.att` layer is.
func envelope(layer []byte) (*protodsse.Envelope, error) {
	envs, err := dsse.Parse(layer)
	switch {
	case errors.Is(err, dsse.ErrNotEnvelope) && isBundle(layer):
		return nil, fmt.Errorf("%w: the DSSE layer holds a bundle", ErrSigstoreBundle)
	case err != nil:
		return nil, fmt.Errorf("%w: DSSE layer: %w", ErrMalformed, err)
	case len(envs) != 1:
		return nil, fmt.Errorf("%w: DSSE layer holds %d envelopes, want one", ErrMalformed, len(envs))
	}
	env := &protodsse.Envelope{Payload: envs[0].Payload, PayloadType: envs[0].PayloadType}
	for _, s := range envs[0].Signatures {
		env.Signatures = append(env.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	return env, nil
}

func isBundle(layer []byte) bool {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	return json.Unmarshal(layer, &probe) == nil && strings.HasPrefix(probe.MediaType, "application/vnd.dev.sigstore.bundle")
}
