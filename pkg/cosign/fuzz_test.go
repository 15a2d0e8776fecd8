package cosign_test

import (
	"errors"
	"testing"

	"github.com/aspmhq/aspm/pkg/cosign"
)

// FuzzBundleFromAttachment assembles bundles from arbitrary cosign layers and annotations (the
// signature, certificate, chain, Rekor bundle and timestamp annotations are attacker-chosen
// registry content). It must not panic, must fail only with the package's errors, and what it
// assembles must carry verification material and content.
func FuzzBundleFromAttachment(f *testing.F) {
	f.Add(true, []byte(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"cosign container image signature"}}`),
		"MEUCIQ==", "", "", `{"SignedEntryTimestamp":"","Payload":{"body":"","integratedTime":1,"logIndex":1,"logID":"aa"}}`, "")
	f.Add(false, []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`),
		"", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "", "", `{"signedRFC3161Timestamp":"AA=="}`)
	f.Add(false, []byte(`{"payloadType":"x","payload":"","signatures":[]}`), "", "", "", "{}", "")
	f.Fuzz(func(t *testing.T, simple bool, layer []byte, sig, cert, chain, rekor, ts string) {
		mediaType := cosign.DSSEMediaType
		if simple {
			mediaType = cosign.SimpleSigningMediaType
		}
		ann := map[string]string{}
		for k, v := range map[string]string{
			cosign.SignatureAnnotation: sig, cosign.CertificateAnnotation: cert, cosign.ChainAnnotation: chain,
			cosign.BundleAnnotation: rekor, cosign.RFC3161TimestampAnnotation: ts,
		} {
			if v != "" {
				ann[k] = v
			}
		}
		b, err := cosign.BundleFromAttachment(mediaType, layer, ann)
		if err != nil {
			if !errors.Is(err, cosign.ErrMalformed) && !errors.Is(err, cosign.ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
			}
			return
		}
		if b == nil || b.Bundle == nil || b.GetVerificationMaterial() == nil {
			t.Fatalf("accepted attachment gave bundle %v without verification material", b)
		}
		if b.GetMessageSignature() == nil && b.GetDsseEnvelope() == nil {
			t.Fatal("accepted attachment gave a bundle with neither a signature nor an envelope")
		}
	})
}

// FuzzSignedImageDigest reads arbitrary simple-signing payloads: it must not panic, must fail
// only with ErrMalformed, and a digest it returns must be valid.
func FuzzSignedImageDigest(f *testing.F) {
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"cosign container image signature"}}`))
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		d, err := cosign.SignedImageDigest(payload)
		if err != nil {
			if !errors.Is(err, cosign.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if verr := d.Validate(); verr != nil {
			t.Fatalf("accepted digest %q: %v", d, verr)
		}
	})
}
