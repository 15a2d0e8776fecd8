package cosign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// This file writes cosign's legacy attachments the way cosign v2 does without
// --new-bundle-format, from these sources of sigstore/cosign:
//
//   - pkg/oci/remote/remote.go normalize and options.go: the tag is "<alg>-<hex>.<suffix>",
//     with suffixes "sig", "att" and "sbom", in the image's repository.
//   - pkg/oci/empty/empty.go Signatures: a new attachment image starts from
//     go-containerregistry's empty.Image with mutate.MediaType(OCIManifestSchema1) and
//     mutate.ConfigMediaType(OCIConfigJSON) (Docker media types only under
//     COSIGN_DOCKER_MEDIA_TYPES, which this package does not do).
//   - pkg/oci/mutate/signatures.go AppendSignatures: each signature is a mutate.Addendum whose
//     annotations are the layer's, appended with mutate.Append to the image the tag already
//     holds (pkg/oci/remote/signatures.go Signatures reads it; a 404 means empty), so layers
//     keep their order, new ones last, and the config gains a diff_id and an empty history
//     entry per layer. Its created time stays zero (--record-creation-timestamp is off by
//     default).
//   - pkg/oci/static/signature.go and options.go: a layer's annotations are
//     dev.cosignproject.cosign/signature (always; "" for attestations), then, when there is a
//     certificate, dev.sigstore.cosign/certificate and dev.sigstore.cosign/chain (even empty),
//     dev.sigstore.cosign/bundle when logged (pkg/cosign/bundle/rekor.go RekorBundle as JSON),
//     and dev.sigstore.cosign/rfc3161timestamp when timestamped (bundle/tsa.go).
//   - cmd/cosign/cli/sign/sign.go signDigest: the .sig layer is the simple-signing payload of
//     sigstore/sigstore's payload.Cosign, media type
//     application/vnd.dev.cosign.simplesigning.v1+json.
//   - cmd/cosign/cli/attest/attest.go: the .att layer is the DSSE envelope that
//     sigstore/sigstore's dsse.WrapSigner writes, media type
//     application/vnd.dsse.envelope.v1+json, with the annotation predicateType.
//   - cmd/cosign/cli/attach/sbom.go and pkg/oci/static/file.go NewFile: the .sbom image is
//     written afresh (not appended) with one layer of the SBOM's media type and no annotations.

// The kinds of cosign attachment, which are the suffixes of their tags (oci.CosignTag).
const (
	KindSignature   = "sig"
	KindAttestation = "att"
	KindSBOM        = "sbom"
)

// The media types of cosign's attachment images.
const (
	// ManifestMediaType is the media type of every attachment image's manifest.
	ManifestMediaType = "application/vnd.oci.image.manifest.v1+json"
	// ConfigMediaType is the media type of their config, an image config made by
	// go-containerregistry's mutate.Append.
	ConfigMediaType = "application/vnd.oci.image.config.v1+json"
)

// The layer media types `cosign attach sbom` writes (cosign's pkg/types/media.go). Note that
// cosign's SPDX JSON type is "spdx+json", not "text/spdx+json".
const (
	CycloneDXJSONMediaType = "application/vnd.cyclonedx+json"
	CycloneDXXMLMediaType  = "application/vnd.cyclonedx+xml"
	SPDXJSONMediaType      = "spdx+json"
	SPDXMediaType          = "text/spdx"
	SyftMediaType          = "application/vnd.syft+json"
)

// PredicateTypeAnnotation is the annotation of an `.att` layer naming its statement's
// predicate type.
const PredicateTypeAnnotation = "predicateType"

// MaxLayers is the most layers cosign reads from an attachment image (pkg/oci/remote's
// maxLayers); Push does not write more.
const MaxLayers = 1000

// Layer is one layer of a cosign attachment image: its content, media type and descriptor
// annotations.
type Layer struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

// SimpleSigningPayload returns the payload `cosign sign` signs for img, made by the same code
// (sigstore/sigstore's payload.Cosign): {"critical":{"identity":{"docker-reference":
// <repository>},"image":{"docker-manifest-digest":<digest>},"type":"cosign container image
// signature"},"optional":null}. It fails when img is not a valid reference.
func SimpleSigningPayload(img evidence.ImageRef) ([]byte, error) {
	d, err := name.NewDigest(img.Repository + "@" + string(img.Digest))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", img, err)
	}
	b, err := sigpayload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding the simple-signing payload: %w", err)
	}
	return b, nil
}

// SignatureLayer returns the `.sig` layer cosign writes for payload signed as b records it:
// b's message signature over payload, its signing certificate (or none for a key), its
// transparency log entry and its RFC 3161 timestamp. chain is the certificate chain that came
// with the certificate (intermediates, then root), as Fulcio hands it to cosign; nil takes the
// chain b carries, if any. It is the inverse of BundleFromAttachment.
//
// Errors wrap ErrUnsupported when b is not a message signature or its log entry has no signed
// entry timestamp (cosign's bundle annotation needs one), and ErrMalformed when b's message
// digest is not payload's.
func SignatureLayer(payload []byte, b *bundle.Bundle, chain []*x509.Certificate) (Layer, error) {
	ms := b.GetMessageSignature()
	if ms == nil {
		return Layer{}, fmt.Errorf("%w: a .sig layer needs a message signature, the bundle holds %T", ErrUnsupported, b.GetContent())
	}
	if md := ms.GetMessageDigest(); md != nil {
		d := sha256.Sum256(payload)
		if md.GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 || !bytes.Equal(md.GetDigest(), d[:]) {
			return Layer{}, fmt.Errorf("%w: the bundle's message digest is not the payload's SHA-256", ErrMalformed)
		}
	}
	ann, err := keyAnnotations(b.GetVerificationMaterial(), chain)
	if err != nil {
		return Layer{}, err
	}
	ann[SignatureAnnotation] = base64.StdEncoding.EncodeToString(ms.GetSignature())
	if ts := b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps(); len(ts) > 0 {
		v, err := json.Marshal(struct{ SignedRFC3161Timestamp []byte }{ts[0].GetSignedTimestamp()})
		if err != nil {
			return Layer{}, fmt.Errorf("encoding %s: %w", RFC3161TimestampAnnotation, err)
		}
		ann[RFC3161TimestampAnnotation] = string(v)
	}
	return Layer{MediaType: SimpleSigningMediaType, Data: payload, Annotations: ann}, nil
}

// AttestationLayer returns the `.att` layer cosign writes for the DSSE envelope b holds: the
// envelope as JSON, annotated with its statement's predicate type, b's signing certificate,
// chain (as for SignatureLayer) and transparency log entry. b's RFC 3161 timestamps are left
// out: cosign timestamps the whole envelope, a bundle only the signature. It is the inverse of
// BundleFromAttachment.
//
// Errors wrap ErrUnsupported when b is not a DSSE envelope around an in-toto statement, when
// its log entry has no signed entry timestamp, or when its only signing time is a timestamp;
// and ErrMalformed when the statement is not JSON.
func AttestationLayer(b *bundle.Bundle, chain []*x509.Certificate) (Layer, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return Layer{}, fmt.Errorf("%w: an .att layer needs a DSSE envelope, the bundle holds %T", ErrUnsupported, b.GetContent())
	}
	if env.GetPayloadType() != inTotoPayloadType {
		return Layer{}, fmt.Errorf("%w: DSSE payload type %q, cosign attests in-toto statements", ErrUnsupported, env.GetPayloadType())
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(env.GetPayload(), &st); err != nil {
		return Layer{}, fmt.Errorf("%w: the in-toto statement: %w", ErrMalformed, err)
	}
	if st.PredicateType == "" {
		return Layer{}, fmt.Errorf("%w: the in-toto statement has no predicateType", ErrUnsupported)
	}
	vm := b.GetVerificationMaterial()
	if len(vm.GetTlogEntries()) == 0 && len(vm.GetTimestampVerificationData().GetRfc3161Timestamps()) > 0 {
		return Layer{}, fmt.Errorf("%w: the bundle's only signing time is a timestamp over the signature; cosign's .att timestamps the whole envelope", ErrUnsupported)
	}
	// The envelope as sigstore/sigstore's dsse.WrapSigner encodes it.
	out := ssldsse.Envelope{PayloadType: env.GetPayloadType(), Payload: base64.StdEncoding.EncodeToString(env.GetPayload())}
	for _, s := range env.GetSignatures() {
		out.Signatures = append(out.Signatures, ssldsse.Signature{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return Layer{}, fmt.Errorf("encoding the DSSE envelope: %w", err)
	}
	ann, err := keyAnnotations(vm, chain)
	if err != nil {
		return Layer{}, err
	}
	ann[SignatureAnnotation] = ""
	ann[PredicateTypeAnnotation] = st.PredicateType
	return Layer{MediaType: DSSEMediaType, Data: data, Annotations: ann}, nil
}

// SBOMLayer returns the `.sbom` layer `cosign attach sbom` writes: the document itself, of
// mediaType (one of the SBOM media types above), unsigned and without annotations.
func SBOMLayer(mediaType string, sbom []byte) Layer {
	return Layer{MediaType: mediaType, Data: sbom}
}

const inTotoPayloadType = "application/vnd.in-toto+json"

// keyAnnotations returns the certificate, chain and bundle annotations for vm.
func keyAnnotations(vm *protobundle.VerificationMaterial, chain []*x509.Certificate) (map[string]string, error) {
	ann := map[string]string{}
	var leaf []byte
	var carried [][]byte
	switch c := vm.GetContent().(type) {
	case *protobundle.VerificationMaterial_Certificate:
		leaf = c.Certificate.GetRawBytes()
	case *protobundle.VerificationMaterial_X509CertificateChain:
		certs := c.X509CertificateChain.GetCertificates()
		if len(certs) == 0 {
			return nil, fmt.Errorf("%w: an empty certificate chain", ErrMalformed)
		}
		leaf = certs[0].GetRawBytes()
		for _, cert := range certs[1:] {
			carried = append(carried, cert.GetRawBytes())
		}
	}
	if leaf != nil {
		if chain == nil {
			for _, der := range carried {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("%w: the bundle's certificate chain: %w", ErrMalformed, err)
				}
				chain = append(chain, c)
			}
		}
		cert, err := x509.ParseCertificate(leaf)
		if err != nil {
			return nil, fmt.Errorf("%w: the bundle's certificate: %w", ErrMalformed, err)
		}
		certPEM, err := cryptoutils.MarshalCertificateToPEM(cert)
		if err != nil {
			return nil, fmt.Errorf("encoding the certificate: %w", err)
		}
		chainPEM, err := cryptoutils.MarshalCertificatesToPEM(chain)
		if err != nil {
			return nil, fmt.Errorf("encoding the certificate chain: %w", err)
		}
		ann[CertificateAnnotation] = string(certPEM)
		ann[ChainAnnotation] = string(chainPEM)
	}
	if entries := vm.GetTlogEntries(); len(entries) > 0 {
		v, err := bundleAnnotation(entries[0])
		if err != nil {
			return nil, err
		}
		ann[BundleAnnotation] = v
	}
	return ann, nil
}

// bundleAnnotation encodes a log entry as cosign's RekorBundle; rekorBundle has its field
// order, so the JSON is byte for byte what cosign writes.
func bundleAnnotation(tle *protorekor.TransparencyLogEntry) (string, error) {
	set := tle.GetInclusionPromise().GetSignedEntryTimestamp()
	if len(set) == 0 {
		return "", fmt.Errorf("%w: the log entry has no signed entry timestamp, which cosign's %s needs", ErrUnsupported, BundleAnnotation)
	}
	var rb rekorBundle
	rb.SignedEntryTimestamp = base64.StdEncoding.EncodeToString(set)
	rb.Payload.Body = base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody())
	rb.Payload.IntegratedTime = tle.GetIntegratedTime()
	rb.Payload.LogIndex = tle.GetLogIndex()
	rb.Payload.LogID = hex.EncodeToString(tle.GetLogId().GetKeyId())
	b, err := json.Marshal(rb)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", BundleAnnotation, err)
	}
	return string(b), nil
}

// Registry is the registry access Push needs: reading a tag's manifest and a blob, and pushing
// a manifest with its blobs.
type Registry interface {
	// Manifest returns the manifest reference (a tag or a digest) names in repo, or nil and
	// no error when the registry has none.
	Manifest(ctx context.Context, repo, reference string) ([]byte, error)
	Blob(ctx context.Context, repo string, l oci.Layer) ([]byte, error)
	PushManifest(ctx context.Context, repo, tag string, m v1.Manifest, blobs map[evidence.Digest]oci.Blob) (evidence.Digest, error)
}

// Push writes layers as the cosign attachments of kind (KindSignature, KindAttestation,
// KindSBOM) of img, under oci.CosignTag(img.Digest, kind) in img's repository, and returns
// the digest of the manifest the tag then names. Signatures and attestations are appended to
// the image the tag already holds, as cosign does, except for a layer identical (content,
// media type and annotations) to one already there; an SBOM replaces it. The manifest, config
// and layers are built with the go-containerregistry calls cosign makes (see the top of this
// file), so they are the bytes cosign would push.
//
// Errors wrap ErrUnsupported for an unknown kind, a layer of the wrong media type for kind,
// an SBOM of other than one layer, or more than MaxLayers layers; ErrMalformed when the tag
// holds something other than an image manifest; otherwise they are the registry's.
func Push(ctx context.Context, r Registry, img evidence.ImageRef, kind string, layers []Layer) (evidence.Digest, error) {
	if len(layers) == 0 {
		return "", fmt.Errorf("%w: no layers to push", ErrUnsupported)
	}
	for _, l := range layers {
		if err := checkMediaType(kind, l.MediaType); err != nil {
			return "", err
		}
	}
	if kind == KindSBOM && len(layers) != 1 {
		return "", fmt.Errorf("%w: cosign attaches one SBOM per image, not %d", ErrUnsupported, len(layers))
	}
	tag := oci.CosignTag(img.Digest, kind)

	base := emptyImage()
	var existing []v1.Descriptor
	if kind != KindSBOM {
		b, err := remoteImage(ctx, r, img.Repository, tag)
		if err != nil {
			return "", err
		}
		if b != nil {
			m, err := b.Manifest()
			if err != nil {
				return "", fmt.Errorf("reading %s: %w", tag, err)
			}
			base, existing = b, m.Layers
		}
	}

	var adds []mutate.Addendum
	blobs := map[evidence.Digest]oci.Blob{}
	for _, l := range layers {
		sl := static.NewLayer(l.Data, types.MediaType(l.MediaType))
		d, err := sl.Digest()
		if err != nil {
			return "", fmt.Errorf("hashing a layer: %w", err)
		}
		if contains(existing, d, l) {
			continue
		}
		existing = append(existing, v1.Descriptor{MediaType: types.MediaType(l.MediaType), Digest: d, Annotations: l.Annotations})
		adds = append(adds, mutate.Addendum{Layer: sl, Annotations: maps.Clone(l.Annotations)})
		blobs[evidence.Digest(d.String())] = oci.Blob{MediaType: l.MediaType, Data: l.Data}
	}
	if len(adds) == 0 { // everything is there already
		d, err := base.Digest()
		if err != nil {
			return "", fmt.Errorf("hashing %s: %w", tag, err)
		}
		return evidence.Digest(d.String()), nil
	}
	out, err := mutate.Append(base, adds...)
	if err != nil {
		return "", fmt.Errorf("appending to %s: %w", tag, err)
	}
	if kind == KindSBOM {
		// static.NewFile sets the (here empty) manifest annotations; an empty map is omitted.
		out = mutate.Annotations(out, map[string]string{}).(v1.Image)
	}
	m, err := out.Manifest()
	if err != nil {
		return "", fmt.Errorf("building %s: %w", tag, err)
	}
	if len(m.Layers) > MaxLayers {
		return "", fmt.Errorf("%w: %s would have %d layers, cosign reads at most %d", ErrUnsupported, tag, len(m.Layers), MaxLayers)
	}
	cfg, err := out.RawConfigFile()
	if err != nil {
		return "", fmt.Errorf("building %s: %w", tag, err)
	}
	blobs[evidence.Digest(m.Config.Digest.String())] = oci.Blob{MediaType: string(m.Config.MediaType), Data: cfg}
	want, err := out.Digest()
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", tag, err)
	}
	d, err := r.PushManifest(ctx, img.Repository, tag, *m, blobs)
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", tag, err)
	}
	if d != evidence.Digest(want.String()) {
		return d, fmt.Errorf("pushing %s: the registry client wrote manifest %s, go-containerregistry's is %s", tag, d, want)
	}
	return d, nil
}

func checkMediaType(kind, mt string) error {
	switch kind {
	case KindSignature:
		if mt != SimpleSigningMediaType {
			return fmt.Errorf("%w: a .sig layer of media type %q", ErrUnsupported, mt)
		}
	case KindAttestation:
		if mt != DSSEMediaType {
			return fmt.Errorf("%w: an .att layer of media type %q", ErrUnsupported, mt)
		}
	case KindSBOM:
		if mt == "" {
			return fmt.Errorf("%w: an .sbom layer without a media type", ErrUnsupported)
		}
	default:
		return fmt.Errorf("%w: attachment kind %q", ErrUnsupported, kind)
	}
	return nil
}

// contains reports whether descs has a layer identical to l, whose digest is d.
func contains(descs []v1.Descriptor, d v1.Hash, l Layer) bool {
	for _, desc := range descs {
		if desc.Digest == d && string(desc.MediaType) == l.MediaType && maps.Equal(desc.Annotations, l.Annotations) {
			return true
		}
	}
	return false
}

// emptyImage is cosign's empty.Signatures(): go-containerregistry's empty image with OCI
// media types.
func emptyImage() v1.Image {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(base, types.OCIConfigJSON)
}

// remoteImage reads the image tag names in repo, or returns nil when there is none.
func remoteImage(ctx context.Context, r Registry, repo, tag string) (v1.Image, error) {
	raw, err := r.Manifest(ctx, repo, tag)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	if raw == nil {
		return nil, nil
	}
	if len(raw) > oci.MaxManifestSize {
		return nil, fmt.Errorf("reading %s: %w", tag, oci.ErrTooLarge)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, tag, err)
	}
	if !m.MediaType.IsImage() && m.MediaType != "" {
		return nil, fmt.Errorf("%w: %s holds a %s, not an image manifest", ErrMalformed, tag, m.MediaType)
	}
	cfg, err := r.Blob(ctx, repo, oci.Layer{MediaType: string(m.Config.MediaType), Digest: evidence.Digest(m.Config.Digest.String()), Size: m.Config.Size})
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", tag, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	img, err := partial.CompressedToImage(rawImage{manifest: raw, config: cfg, mediaType: mt})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	return img, nil
}

// rawImage is an image known by its manifest and config; mutate.Append needs no more of the
// image it appends to.
type rawImage struct {
	manifest, config []byte
	mediaType        types.MediaType
}

func (i rawImage) RawManifest() ([]byte, error)        { return i.manifest, nil }
func (i rawImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i rawImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	return nil, fmt.Errorf("layer %s of an attachment image is not read", h)
}
