package cosign_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/proto"

	"github.com/aspmhq/aspm/pkg/cosign"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/oci/registrytest"
	"github.com/aspmhq/aspm/pkg/verify"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from what Push writes")

// testRegistry is a registry under test with a client for it.
type testRegistry struct {
	name   string
	host   string
	client *oci.Client
	reg    *oci.Client
}

var _ cosign.Registry = (*oci.Client)(nil)

// registries starts go-containerregistry's in-process registry and Debian's docker-registry.
func registries(t *testing.T) []testRegistry {
	t.Helper()
	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	inproc := strings.TrimPrefix(srv.URL, "http://")
	dist := registrytest.Start(t)
	var out []testRegistry
	for _, r := range []struct {
		name, host string
		kc         authn.Keychain
	}{
		{"go-containerregistry", inproc, authn.NewMultiKeychain()},
		{"distribution", dist.Host, dist.Keychain()},
	} {
		c, err := oci.New(oci.Config{Keychain: r.kc, Insecure: []string{r.host}, RateLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testRegistry{name: r.name, host: r.host, client: c, reg: c})
	}
	return out
}

// signer signs the way `cosign sign` and `cosign attest` do keyless.
type signer struct {
	vs      *ca.VirtualSigstore // message signatures, as in TestSimpleSigning
	virtual *verify.Verifier
	ss      *demo.Sigstore // DSSE attestations, as in TestAttestation
	demo    *verify.Verifier
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	virtual, err := verify.New([]verify.NamedRoot{{Name: "virtual", Material: noCTLogs{vs}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dv, err := verify.New([]verify.NamedRoot{{Name: "demo", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{vs: vs, virtual: virtual, ss: ss, demo: dv}
}

// keylessSignature is a message signature made keyless as `cosign sign` did.
type keylessSignature struct {
	sig, digest []byte
	leaf        *x509.Certificate
	tle         *protorekor.TransparencyLogEntry // a hashedrekord entry with its inclusion promise
	tsr         []byte                           // an RFC 3161 timestamp over sig
}

// signKeyless signs payload with vs. VirtualSigstore computes the entry's signed entry
// timestamp but does not expose it; it is signed again here as the log would.
func signKeyless(t *testing.T, vs *ca.VirtualSigstore, payload []byte) keylessSignature {
	t.Helper()
	ent, err := vs.Sign("dev@acme.example", "https://accounts.example", payload)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ent.SignatureContent()
	if err != nil {
		t.Fatal(err)
	}
	vc, err := ent.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ent.TlogEntries()
	if err != nil {
		t.Fatal(err)
	}
	tsrs, err := ent.Timestamps()
	if err != nil {
		t.Fatal(err)
	}
	tle := entries[0].TransparencyLogEntry()
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		t.Fatal(err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	tle.KindVersion = &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"}
	ms := sc.MessageSignatureContent()
	return keylessSignature{sig: ms.Signature(), digest: ms.Digest(), leaf: vc.Certificate(), tle: tle, tsr: tsrs[0]}
}

// signatureBundle signs payload keyless with the virtual Sigstore and returns it as a v0.1
// bundle whose certificate chain runs to the root, as cosign had it from Fulcio.
func (s *signer) signatureBundle(t *testing.T, payload []byte) *bundle.Bundle {
	t.Helper()
	ks := signKeyless(t, s.vs, payload)
	fulcio := s.vs.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	var chain []*protocommon.X509Certificate
	for _, c := range append([]*x509.Certificate{ks.leaf}, append(fulcio.Intermediates, fulcio.Root)...) {
		chain = append(chain, &protocommon.X509Certificate{RawBytes: c.Raw})
	}
	b, err := bundle.NewBundle(&protobundle.Bundle{
		MediaType: cosign.BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{Certificates: chain}},
			TlogEntries: []*protorekor.TransparencyLogEntry{ks.tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ks.tsr}},
			},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ks.digest},
			Signature:     ks.sig,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attestationBundle signs an in-toto statement about img keyless with the demo Sigstore (a
// v0.3 bundle: a lone certificate, a dsse entry, a timestamp) and returns it with the Fulcio
// chain cosign would have received alongside the certificate.
func (s *signer) attestationBundle(t *testing.T, img evidence.ImageRef, predicateType string) (*bundle.Bundle, []*x509.Certificate) {
	t.Helper()
	st := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`,
		img.Repository, img.Digest.Hex(), predicateType)
	raw, err := s.ss.SignKeyless(t.Context(), []byte(st), demoIdentity)
	if err != nil {
		t.Fatal(err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	fulcio := s.ss.TrustedRoot().FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	return &b, append(slices.Clone(fulcio.Intermediates), fulcio.Root)
}

func pushImage(t *testing.T, r testRegistry) evidence.ImageRef {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.client.PushImage(t.Context(), r.host+"/acme/app", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// stored is an attachment image as the registry serves it.
type stored struct {
	raw    []byte
	digest evidence.Digest
	m      v1.Manifest
	config []byte
	layers [][]byte
}

// read reads tag back with go-containerregistry and checks what every cosign attachment image
// has: an OCI manifest whose config is an image config with one diff_id per layer.
func read(t *testing.T, r testRegistry, img evidence.ImageRef, tag string) stored {
	t.Helper()
	ctx := t.Context()
	raw, err := r.reg.Manifest(ctx, img.Repository, tag)
	if err != nil || raw == nil {
		t.Fatalf("reading %s: %v (manifest %q)", tag, err, raw)
	}
	s := stored{raw: raw, digest: evidence.Digest("sha256:" + sha256Hex(raw))}
	if err := json.Unmarshal(raw, &s.m); err != nil {
		t.Fatal(err)
	}
	if s.m.SchemaVersion != 2 || s.m.MediaType != cosign.ManifestMediaType || s.m.Config.MediaType != cosign.ConfigMediaType {
		t.Errorf("%s: schemaVersion %d, mediaType %s, config %s; want 2, %s, %s", tag, s.m.SchemaVersion, s.m.MediaType, s.m.Config.MediaType, cosign.ManifestMediaType, cosign.ConfigMediaType)
	}
	if s.m.Subject != nil || s.m.ArtifactType != "" || len(s.m.Annotations) != 0 {
		t.Errorf("%s: subject %v, artifactType %q, annotations %v; cosign's tags have none", tag, s.m.Subject, s.m.ArtifactType, s.m.Annotations)
	}
	s.config, err = r.client.Blob(ctx, img.Repository, oci.Layer{Digest: evidence.Digest(s.m.Config.Digest.String()), Size: s.m.Config.Size})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(s.config))
	if err != nil {
		t.Fatal(err)
	}
	var layerDigests []v1.Hash
	for _, l := range s.m.Layers {
		layerDigests = append(layerDigests, l.Digest)
		data, err := r.client.Blob(ctx, img.Repository, oci.Layer{MediaType: string(l.MediaType), Digest: evidence.Digest(l.Digest.String()), Size: l.Size})
		if err != nil {
			t.Fatal(err)
		}
		s.layers = append(s.layers, data)
	}
	if cfg.RootFS.Type != "layers" || !slices.Equal(cfg.RootFS.DiffIDs, layerDigests) || len(cfg.History) != len(s.m.Layers) || !cfg.Created.IsZero() {
		t.Errorf("%s: config %s does not list the layers %v as cosign's does", tag, s.config, layerDigests)
	}
	return s
}

func annotationKeys(l v1.Descriptor) []string {
	return slices.Sorted(maps.Keys(l.Annotations))
}

// TestPushRoundTrip pushes a .sig, .att and .sbom to both registries, reads them back with
// go-containerregistry, checks the layout against cosign's, turns every layer back into a
// bundle with BundleFromAttachment and verifies it.
func TestPushRoundTrip(t *testing.T) {
	s := newSigner(t)
	for _, r := range registries(t) {
		t.Run(r.name, func(t *testing.T) {
			ctx := t.Context()
			img := pushImage(t, r)

			// .sig: the simple-signing payload cosign signs, keyless.
			payload, err := cosign.SimpleSigningPayload(img)
			if err != nil {
				t.Fatal(err)
			}
			if d, err := cosign.SignedImageDigest(payload); err != nil || d != img.Digest {
				t.Fatalf("payload %s names %s, %v", payload, d, err)
			}
			sigLayer, err := cosign.SignatureLayer(payload, s.signatureBundle(t, payload), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cosign.Push(ctx, r.reg, img, cosign.KindSignature, []cosign.Layer{sigLayer}); err != nil {
				t.Fatal(err)
			}

			// .att: a DSSE envelope around a statement about the image.
			attBundle, chain := s.attestationBundle(t, img, "https://slsa.dev/provenance/v1")
			attLayer, err := cosign.AttestationLayer(attBundle, chain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cosign.Push(ctx, r.reg, img, cosign.KindAttestation, []cosign.Layer{attLayer}); err != nil {
				t.Fatal(err)
			}

			// .sbom: the document, unsigned.
			sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`)
			if _, err := cosign.Push(ctx, r.reg, img, cosign.KindSBOM, []cosign.Layer{cosign.SBOMLayer(cosign.CycloneDXJSONMediaType, sbom)}); err != nil {
				t.Fatal(err)
			}

			for _, tc := range []struct {
				kind, tag, mediaType string
				keys                 []string
			}{
				{cosign.KindSignature, "sha256-" + img.Digest.Hex() + ".sig", cosign.SimpleSigningMediaType, []string{
					cosign.SignatureAnnotation, cosign.BundleAnnotation, cosign.CertificateAnnotation, cosign.ChainAnnotation, cosign.RFC3161TimestampAnnotation,
				}},
				{cosign.KindAttestation, "sha256-" + img.Digest.Hex() + ".att", cosign.DSSEMediaType, []string{
					cosign.SignatureAnnotation, cosign.BundleAnnotation, cosign.CertificateAnnotation, cosign.ChainAnnotation, cosign.PredicateTypeAnnotation,
				}},
				{cosign.KindSBOM, "sha256-" + img.Digest.Hex() + ".sbom", cosign.CycloneDXJSONMediaType, nil},
			} {
				t.Run(tc.kind, func(t *testing.T) {
					if got := oci.CosignTag(img.Digest, tc.kind); got != tc.tag {
						t.Errorf("Tag = %s, want %s", got, tc.tag)
					}
					st := read(t, r, img, tc.tag)
					if len(st.m.Layers) != 1 {
						t.Fatalf("%d layers, want 1", len(st.m.Layers))
					}
					l := st.m.Layers[0]
					slices.Sort(tc.keys)
					if string(l.MediaType) != tc.mediaType || !slices.Equal(annotationKeys(l), tc.keys) {
						t.Errorf("layer %s with annotations %v, want %s with %v", l.MediaType, annotationKeys(l), tc.mediaType, tc.keys)
					}
					switch tc.kind {
					case cosign.KindSignature:
						if !bytes.Equal(st.layers[0], payload) {
							t.Errorf("layer %s, want the payload", st.layers[0])
						}
						verifyLayer(t, s.virtual, l, st.layers[0], verify.Options{Artifact: bytes.NewReader(st.layers[0])})
					case cosign.KindAttestation:
						if l.Annotations[cosign.SignatureAnnotation] != "" || l.Annotations[cosign.PredicateTypeAnnotation] != "https://slsa.dev/provenance/v1" {
							t.Errorf("annotations %v", l.Annotations)
						}
						if n := strings.Count(l.Annotations[cosign.ChainAnnotation], "BEGIN CERTIFICATE"); n != 2 {
							t.Errorf("chain of %d certificates, want the intermediate and root", n)
						}
						verifyLayer(t, s.demo, l, st.layers[0], verify.Options{ArtifactDigest: img.Digest})
					case cosign.KindSBOM:
						if !bytes.Equal(st.layers[0], sbom) {
							t.Errorf("layer %s, want the SBOM", st.layers[0])
						}
					}
				})
			}
		})
	}
}

// verifyLayer reassembles a layer into a bundle and checks that it verifies.
func verifyLayer(t *testing.T, v *verify.Verifier, l v1.Descriptor, data []byte, opts verify.Options) {
	t.Helper()
	b, err := cosign.BundleFromAttachment(string(l.MediaType), data, l.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.TlogEntries != 1 || res.Signer == nil || res.Signer.Type != evidence.SignatureKeyless {
		t.Errorf("Verify = %+v, want verified keyless with one log entry", res.Verification)
	}
}

// TestPushAppends checks that a second attestation is appended after the first, as cosign's
// AppendSignatures does, that both still verify, and that pushing one again changes nothing.
func TestPushAppends(t *testing.T) {
	s := newSigner(t)
	for _, r := range registries(t) {
		t.Run(r.name, func(t *testing.T) {
			ctx := t.Context()
			img := pushImage(t, r)
			tag := oci.CosignTag(img.Digest, cosign.KindAttestation)
			var layers []cosign.Layer
			var digests []evidence.Digest
			for _, pt := range []string{"https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom"} {
				b, chain := s.attestationBundle(t, img, pt)
				l, err := cosign.AttestationLayer(b, chain)
				if err != nil {
					t.Fatal(err)
				}
				d, err := cosign.Push(ctx, r.reg, img, cosign.KindAttestation, []cosign.Layer{l})
				if err != nil {
					t.Fatal(err)
				}
				layers, digests = append(layers, l), append(digests, d)
			}
			st := read(t, r, img, tag)
			if st.digest != digests[1] {
				t.Errorf("tag names %s, Push returned %s", st.digest, digests[1])
			}
			if len(st.m.Layers) != 2 {
				t.Fatalf("%d layers after two pushes, want 2", len(st.m.Layers))
			}
			for i, l := range st.m.Layers {
				if !bytes.Equal(st.layers[i], layers[i].Data) {
					t.Errorf("layer %d is not attestation %d: cosign appends", i, i)
				}
				if diff := cmp.Diff(layers[i].Annotations, l.Annotations); diff != "" {
					t.Errorf("layer %d annotations (-pushed +stored):\n%s", i, diff)
				}
				verifyLayer(t, s.demo, l, st.layers[i], verify.Options{ArtifactDigest: img.Digest})
			}

			// The same attestation again is a duplicate: nothing is pushed.
			d, err := cosign.Push(ctx, r.reg, img, cosign.KindAttestation, layers[:1])
			if err != nil {
				t.Fatal(err)
			}
			if again := read(t, r, img, tag); d != digests[1] || again.digest != digests[1] {
				t.Errorf("pushing a duplicate: Push = %s, tag names %s; want %s unchanged", d, again.digest, digests[1])
			}

			// An SBOM replaces the .sbom image rather than appending to it.
			for _, doc := range []string{`{"bomFormat":"CycloneDX","serialNumber":"1"}`, `{"bomFormat":"CycloneDX","serialNumber":"2"}`} {
				if _, err := cosign.Push(ctx, r.reg, img, cosign.KindSBOM, []cosign.Layer{cosign.SBOMLayer(cosign.CycloneDXJSONMediaType, []byte(doc))}); err != nil {
					t.Fatal(err)
				}
			}
			if sb := read(t, r, img, oci.CosignTag(img.Digest, cosign.KindSBOM)); len(sb.layers) != 1 || !strings.Contains(string(sb.layers[0]), `"2"`) {
				t.Errorf(".sbom holds %q, want only the second SBOM", sb.layers)
			}
		})
	}
}

// TestAttestationGolden checks one `.att` image, as each registry serves it back, against
// testdata/att.golden.json: its manifest, config and layer, in the key order written, with
// what varies from run to run replaced: digests, certificates, signatures and the log entry's
// strings by <placeholders>, the layer's size and the entry's integratedTime and logIndex by
// 0. It is the layout cosign v2 writes:
//
//   - manifest: pkg/oci/empty/empty.go Signatures (OCI manifest and config media types over
//     go-containerregistry's empty.Image) and pkg/oci/mutate/signatures.go AppendSignatures
//     (mutate.Append with the layer's annotations on its descriptor);
//   - config: what mutate.Append makes of empty.Image's config, one diff_id and one empty
//     history entry per layer, created at the zero time. For a layer of digest
//     sha256:ed3ad03d… its 233 bytes hash to sha256:83bd5fb5…, the config in the example
//     manifests of cosign's specs/ATTESTATION_SPEC.md and specs/SBOM_SPEC.md (checked by
//     TestConfigMatchesCosignSpec);
//   - layer annotations: pkg/oci/static/signature.go Annotations (the signature key, empty for
//     an attestation) and static/options.go makeOptions (certificate, chain, bundle), with
//     predicateType from cmd/cosign/cli/attest/attest.go; the bundle annotation is
//     pkg/cosign/bundle/rekor.go RekorBundle, SignedEntryTimestamp before Payload;
//   - layer: the DSSE envelope of sigstore/sigstore pkg/signature/dsse WrapSigner
//     (payloadType, payload, signatures[{keyid, sig}]).
func TestAttestationGolden(t *testing.T) {
	s := newSigner(t)
	golden := filepath.Join("testdata", "att.golden.json")
	for _, r := range registries(t) {
		t.Run(r.name, func(t *testing.T) {
			img := pushImage(t, r)
			b, chain := s.attestationBundle(t, img, "https://slsa.dev/provenance/v1")
			l, err := cosign.AttestationLayer(b, chain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cosign.Push(t.Context(), r.reg, img, cosign.KindAttestation, []cosign.Layer{l}); err != nil {
				t.Fatal(err)
			}
			st := read(t, r, img, oci.CosignTag(img.Digest, cosign.KindAttestation))
			got := normalise(t, img, st)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// normalise renders st as {"tag", "manifest", "config", "layers"}, keeping each document's
// key order, with run-dependent values replaced by placeholders.
func normalise(t *testing.T, img evidence.ImageRef, st stored) []byte {
	t.Helper()
	// Exact JSON string values (as encoding/json writes them) and their placeholders.
	var repl []string
	str := func(from, to string) {
		f, _ := json.Marshal(from) // as go-containerregistry encoded it
		var tt bytes.Buffer
		enc := json.NewEncoder(&tt)
		enc.SetEscapeHTML(false) // keep the placeholders' <> readable
		_ = enc.Encode(to)
		repl = append(repl, string(f), strings.TrimSuffix(tt.String(), "\n"))
	}
	str(st.m.Config.Digest.String(), "<config digest>")
	for i, l := range st.m.Layers {
		str(l.Digest.String(), fmt.Sprintf("<layer %d digest>", i))
		for k, v := range l.Annotations {
			switch k {
			case cosign.CertificateAnnotation:
				str(v, "<PEM leaf certificate>")
			case cosign.ChainAnnotation:
				str(v, fmt.Sprintf("<PEM chain of %d certificates>", strings.Count(v, "BEGIN CERTIFICATE")))
			case cosign.BundleAnnotation:
				str(v, normaliseValues(v, map[string]string{
					"SignedEntryTimestamp": `"<base64 signed entry timestamp>"`,
					"body":                 `"<base64 canonicalized dsse 0.0.1 entry>"`,
					"integratedTime":       `0`,
					"logIndex":             `0`,
					"logID":                `"<hex log ID>"`,
				}))
			}
		}
	}
	r := strings.NewReplacer(repl...)
	manifest := r.Replace(string(st.raw))
	manifest = regexp.MustCompile(`"size":\d+,"digest":"<layer (\d+) digest>"`).ReplaceAllString(manifest, `"size":0,"digest":"<layer $1 digest>"`)
	config := r.Replace(string(st.config))
	var layers []string
	for _, l := range st.layers {
		layers = append(layers, normaliseValues(string(l), map[string]string{
			"payload": `"<base64 in-toto statement>"`,
			"sig":     `"<base64 signature>"`,
		}))
	}
	doc := fmt.Sprintf(`{"tag":%q,"manifest":%s,"config":%s,"layers":[%s]}`,
		strings.Replace(oci.CosignTag(img.Digest, cosign.KindAttestation), img.Digest.Hex(), "<image digest hex>", 1),
		manifest, config, strings.Join(layers, ","))
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(doc), "", "  "); err != nil {
		t.Fatalf("%v in %s", err, doc)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// normaliseValues replaces the values of the named keys in compact JSON text, keeping the
// key order.
func normaliseValues(doc string, values map[string]string) string {
	for k, v := range values {
		doc = regexp.MustCompile(`"`+regexp.QuoteMeta(k)+`":("(?:[^"\\]|\\.)*"|-?\d+)`).ReplaceAllLiteralString(doc, `"`+k+`":`+v)
	}
	return doc
}

// TestSignatureLayerKeyed writes what `cosign sign --key --tlog-upload=false
// --timestamp-server-url` attaches: the signature and the timestamp, no certificate, chain or
// log entry; it reads back and verifies with the key.
func TestSignatureLayerKeyed(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(simpleSigning)
	d := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	tsr, err := vs.TimestampResponse(sig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.NewBundle(&protobundle.Bundle{
		MediaType: demo.BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "release"}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
			},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d[:]},
			Signature:     sig,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := cosign.SignatureLayer(payload, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{cosign.SignatureAnnotation, cosign.RFC3161TimestampAnnotation}
	if got := slices.Sorted(maps.Keys(l.Annotations)); !slices.Equal(got, want) {
		t.Errorf("annotations %v, want %v", got, want)
	}
	if l.MediaType != cosign.SimpleSigningMediaType || !bytes.Equal(l.Data, payload) {
		t.Errorf("layer %s %s", l.MediaType, l.Data)
	}
	back, err := cosign.BundleFromAttachment(l.MediaType, l.Data, l.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "virtual", Material: noCTLogs{vs}}}, []verify.TrustedKey{{Name: "release", PublicKey: key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(back, verify.Options{Artifact: bytes.NewReader(payload)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Timestamps != 1 || res.Signer == nil || res.Signer.Type != evidence.SignatureKey {
		t.Errorf("Verify = %+v, want verified by the key with one timestamp", res.Verification)
	}
}

func TestLayerErrors(t *testing.T) {
	s := newSigner(t)
	img := evidence.ImageRef{Repository: "registry.example/acme/app", Digest: "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}
	payload, err := cosign.SimpleSigningPayload(img)
	if err != nil {
		t.Fatal(err)
	}
	sig := s.signatureBundle(t, payload)
	att, chain := s.attestationBundle(t, img, "https://slsa.dev/provenance/v1")
	for _, tc := range []struct {
		name string
		err  func() error
		want error
	}{
		{"signature layer from a DSSE bundle", func() error { _, err := cosign.SignatureLayer(payload, att, chain); return err }, cosign.ErrUnsupported},
		{"attestation layer from a message signature", func() error { _, err := cosign.AttestationLayer(sig, nil); return err }, cosign.ErrUnsupported},
		{"signature over another payload", func() error { _, err := cosign.SignatureLayer([]byte(simpleSigning), sig, nil); return err }, cosign.ErrMalformed},
		{"log entry without a signed entry timestamp", func() error {
			b := &bundle.Bundle{Bundle: protoClone(sig.Bundle)}
			b.GetVerificationMaterial().GetTlogEntries()[0].InclusionPromise = nil
			_, err := cosign.SignatureLayer(payload, b, nil)
			return err
		}, cosign.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.err(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPushRefuses(t *testing.T) {
	img := evidence.ImageRef{Repository: "registry.example/acme/app", Digest: "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}
	sbom := cosign.SBOMLayer(cosign.SPDXJSONMediaType, []byte(`{}`))
	for _, tc := range []struct {
		name   string
		kind   string
		layers []cosign.Layer
	}{
		{"unknown kind", "sigs", []cosign.Layer{sbom}},
		{"no layers", cosign.KindSignature, nil},
		{"an SBOM as a signature", cosign.KindSignature, []cosign.Layer{sbom}},
		{"an SBOM as an attestation", cosign.KindAttestation, []cosign.Layer{sbom}},
		{"two SBOMs", cosign.KindSBOM, []cosign.Layer{sbom, sbom}},
		{"an SBOM without a media type", cosign.KindSBOM, []cosign.Layer{{Data: []byte("{}")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No registry is reached: the arguments are refused first.
			if _, err := cosign.Push(t.Context(), nil, img, tc.kind, tc.layers); !errors.Is(err, cosign.ErrUnsupported) {
				t.Errorf("Push = %v, want ErrUnsupported", err)
			}
		})
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func protoClone(b *protobundle.Bundle) *protobundle.Bundle {
	return proto.Clone(b).(*protobundle.Bundle)
}
