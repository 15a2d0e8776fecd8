package cosign_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aspmhq/aspm/pkg/cosign"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// attachment is one legacy cosign layer as a registry serves it.
type attachment struct {
	mediaType   string
	layer       []byte
	annotations map[string]string
}

func (a attachment) with(key, value string) attachment {
	ann := map[string]string{}
	for k, v := range a.annotations {
		ann[k] = v
	}
	if value == "" {
		delete(ann, key)
	} else {
		ann[key] = value
	}
	a.annotations = ann
	return a
}

func pemOf(tb testing.TB, certs ...*x509.Certificate) string {
	tb.Helper()
	var out []byte
	for _, c := range certs {
		b, err := cryptoutils.MarshalCertificateToPEM(c)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b...)
	}
	return string(out)
}

// rekorAnnotation writes a log entry as cosign's dev.sigstore.cosign/bundle annotation.
func rekorAnnotation(tb testing.TB, tle *protorekor.TransparencyLogEntry, set []byte) string {
	tb.Helper()
	b, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": base64.StdEncoding.EncodeToString(set),
		"Payload": map[string]any{
			"body":           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
			"integratedTime": tle.GetIntegratedTime(),
			"logIndex":       tle.GetLogIndex(),
			"logID":          hex.EncodeToString(tle.GetLogId().GetKeyId()),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func timestampAnnotation(tb testing.TB, tsr []byte) string {
	tb.Helper()
	b, err := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": tsr})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var demoIdentity = demo.Identity{
	SAN:               "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
	Issuer:            "https://token.actions.githubusercontent.com",
	SourceRepository:  "https://github.com/acme/app",
	SourceRef:         "refs/tags/v1.0.0",
	SourceDigest:      "0123456789abcdef0123456789abcdef01234567",
	BuildSignerURI:    "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
	RunnerEnvironment: "github-hosted",
}

const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/app","digest":{"sha256":"` +
	"a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4" + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`

// attestation signs statement keyless with the demo Sigstore and takes the v0.3 bundle apart
// into the `.att` layer and annotations cosign wrote before it used bundles.
func attestation(t *testing.T, ss *demo.Sigstore) attachment {
	t.Helper()
	raw, err := ss.SignKeyless(context.Background(), []byte(statement), demoIdentity)
	if err != nil {
		t.Fatal(err)
	}
	var b protobundle.Bundle
	if err := protojson.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	env := b.GetDsseEnvelope()
	type sig struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}
	var sigs []sig
	for _, s := range env.GetSignatures() {
		sigs = append(sigs, sig{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	layer, err := json.Marshal(map[string]any{
		"payloadType": env.GetPayloadType(),
		"payload":     base64.StdEncoding.EncodeToString(env.GetPayload()),
		"signatures":  sigs,
	})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(b.GetVerificationMaterial().GetCertificate().GetRawBytes())
	if err != nil {
		t.Fatal(err)
	}
	fulcio := ss.TrustedRoot().FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	tle := b.GetVerificationMaterial().GetTlogEntries()[0]
	return attachment{
		mediaType: cosign.DSSEMediaType,
		layer:     layer,
		annotations: map[string]string{
			cosign.SignatureAnnotation:   "",
			cosign.CertificateAnnotation: pemOf(t, leaf),
			cosign.ChainAnnotation:       pemOf(t, append(fulcio.Intermediates, fulcio.Root)...),
			cosign.BundleAnnotation:      rekorAnnotation(t, tle, tle.GetInclusionPromise().GetSignedEntryTimestamp()),
		},
	}
}

func TestAttestation(t *testing.T) {
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "demo", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	att := attestation(t, ss)

	var layer map[string]any
	if err := json.Unmarshal(att.layer, &layer); err != nil {
		t.Fatal(err)
	}
	layer["payload"] = base64.StdEncoding.EncodeToString([]byte(statement + " "))
	editedLayer, err := json.Marshal(layer)
	if err != nil {
		t.Fatal(err)
	}
	var rb map[string]any
	if err := json.Unmarshal([]byte(att.annotations[cosign.BundleAnnotation]), &rb); err != nil {
		t.Fatal(err)
	}
	set, _ := base64.StdEncoding.DecodeString(rb["SignedEntryTimestamp"].(string))
	set[len(set)/2] ^= 1
	rb["SignedEntryTimestamp"] = base64.StdEncoding.EncodeToString(set)
	badSET, _ := json.Marshal(rb)
	other := attestation(t, ss)

	for _, tc := range []struct {
		name string
		att  attachment
		want bool
	}{
		{"as cosign wrote it", att, true},
		{"without the chain annotation", att.with(cosign.ChainAnnotation, ""), true},
		{"layer edited", attachment{att.mediaType, editedLayer, att.annotations}, false},
		{"signed entry timestamp altered", att.with(cosign.BundleAnnotation, string(badSET)), false},
		{"another signature's certificate", att.with(cosign.CertificateAnnotation, other.annotations[cosign.CertificateAnnotation]), false},
		{"another signature's log entry", att.with(cosign.BundleAnnotation, other.annotations[cosign.BundleAnnotation]), false},
		{"no log entry", att.with(cosign.BundleAnnotation, ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := cosign.BundleFromAttachment(tc.att.mediaType, tc.att.layer, tc.att.annotations)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := b.Version(); got != "v0.1" {
				t.Errorf("bundle version %s, want v0.1", got)
			}
			res, err := v.VerifyBundle(b)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified != tc.want {
				t.Fatalf("Verified = %v, want %v (error %q)", res.Verified, tc.want, res.Error)
			}
			if !tc.want {
				t.Logf("not verified, as expected: %s", res.Error)
				return
			}
			want := &evidence.Signer{
				Type:              evidence.SignatureKeyless,
				Issuer:            demoIdentity.Issuer,
				Identity:          demoIdentity.SAN,
				SourceRepository:  demoIdentity.SourceRepository,
				SourceRef:         demoIdentity.SourceRef,
				SourceDigest:      demoIdentity.SourceDigest,
				BuildSignerURI:    demoIdentity.BuildSignerURI,
				RunnerEnvironment: demoIdentity.RunnerEnvironment,
			}
			if diff := cmp.Diff(want, res.Signer); diff != "" {
				t.Errorf("Signer (-want +got):\n%s", diff)
			}
			if res.TlogEntries != 1 || string(res.Payload) != statement || res.PayloadType != demo.InTotoPayloadType {
				t.Errorf("TlogEntries %d, payload %s %q", res.TlogEntries, res.PayloadType, res.Payload)
			}
		})
	}
}

// noCTLogs is a VirtualSigstore as trusted material without its CT log: its certificates
// carry no SCTs, which verify requires when a root lists CT logs.
type noCTLogs struct{ *ca.VirtualSigstore }

func (noCTLogs) CTLogs() map[string]*root.TransparencyLog { return nil }

const simpleSigning = `{"critical":{"identity":{"docker-reference":"registry.example/app"},"image":{"docker-manifest-digest":"sha256:` +
	"a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4" + `"},"type":"cosign container image signature"},"optional":null}`

func TestSimpleSigning(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trusted := noCTLogs{vs}
	payload := []byte(simpleSigning)

	// Keyless, as `cosign sign` did: certificate, Rekor hashedrekord entry, TSA timestamp.
	ks := signKeyless(t, vs, payload)
	keyless := attachment{
		mediaType: cosign.SimpleSigningMediaType,
		layer:     payload,
		annotations: map[string]string{
			cosign.SignatureAnnotation:        base64.StdEncoding.EncodeToString(ks.sig),
			cosign.CertificateAnnotation:      pemOf(t, ks.leaf),
			cosign.BundleAnnotation:           rekorAnnotation(t, ks.tle, ks.tle.GetInclusionPromise().GetSignedEntryTimestamp()),
			cosign.RFC3161TimestampAnnotation: timestampAnnotation(t, ks.tsr),
		},
	}

	// Keyed, as `cosign sign --key --tlog-upload=false --timestamp-server-url`.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	tsr, err := vs.TimestampResponse(sig)
	if err != nil {
		t.Fatal(err)
	}
	keyed := attachment{
		mediaType: cosign.SimpleSigningMediaType,
		layer:     payload,
		annotations: map[string]string{
			cosign.SignatureAnnotation:        base64.StdEncoding.EncodeToString(sig),
			cosign.RFC3161TimestampAnnotation: timestampAnnotation(t, tsr),
		},
	}

	v, err := verify.New([]verify.NamedRoot{{Name: "virtual", Material: trusted}}, []verify.TrustedKey{{Name: "release", PublicKey: key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	edited := []byte(strings.Replace(simpleSigning, "registry.example/app", "registry.example/evil", 1))
	type result struct {
		Verified    bool
		Signer      *evidence.Signer
		TlogEntries int
		Timestamps  int
	}
	for _, tc := range []struct {
		name     string
		att      attachment
		artifact []byte // what the verifier checks the signature against
		want     result
	}{
		{"keyless", keyless, payload, result{true, &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "https://accounts.example", Identity: "dev@acme.example"}, 1, 1}},
		{"keyless without the timestamp", keyless.with(cosign.RFC3161TimestampAnnotation, ""), payload, result{true, &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "https://accounts.example", Identity: "dev@acme.example"}, 1, 0}},
		{"keyless, payload edited", attachment{keyless.mediaType, edited, keyless.annotations}, edited, result{}},
		{"keyless, checked against another artifact", keyless, edited, result{}},
		{"keyed with a timestamp", keyed, payload, result{true, &evidence.Signer{Type: evidence.SignatureKey, Identity: "release"}, 0, 1}},
		{"keyed, payload edited", attachment{keyed.mediaType, edited, keyed.annotations}, edited, result{}},
		{"keyed without any signing time", keyed.with(cosign.RFC3161TimestampAnnotation, ""), payload, result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := cosign.BundleFromAttachment(tc.att.mediaType, tc.att.layer, tc.att.annotations)
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(b, verify.Options{Artifact: bytes.NewReader(tc.artifact)})
			if err != nil {
				t.Fatal(err)
			}
			got := result{res.Verified, res.Signer, res.TlogEntries, res.Timestamps}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Verify (-want +got):\n%s\nerror: %s", diff, res.Error)
			}
			if tc.want.Verified == (res.Error != "") {
				t.Errorf("Verified = %v with Error %q", res.Verified, res.Error)
			}
			if !res.Verified {
				t.Logf("not verified, as expected: %s", res.Error)
			}
		})
	}
}

// TestBundleIsNotLegacy checks that a real cosign v0.3 bundle (cosign's OCI attestation test
// data) is told apart from the legacy format, and is a normal bundle.
func TestBundleIsNotLegacy(t *testing.T) {
	data := testcorpus.Read(t, "sigstore/cosign/oci-attestation.sigstore.json")
	for _, mt := range []string{"application/vnd.dev.sigstore.bundle.v0.3+json", cosign.DSSEMediaType} {
		if _, err := cosign.BundleFromAttachment(mt, data, nil); !errors.Is(err, cosign.ErrSigstoreBundle) {
			t.Errorf("BundleFromAttachment(%s, bundle) = %v, want ErrSigstoreBundle", mt, err)
		}
	}
	entries, err := verify.ParseBundles(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Err != nil {
		t.Fatalf("ParseBundles = %+v, want one bundle", entries)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Version(); v != "v0.3" {
		t.Errorf("version %s, want v0.3", v)
	}
}

func TestBundleFromAttachmentErrors(t *testing.T) {
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	att := attestation(t, ss)
	sig := attachment{
		mediaType:   cosign.SimpleSigningMediaType,
		layer:       []byte(simpleSigning),
		annotations: map[string]string{cosign.SignatureAnnotation: base64.StdEncoding.EncodeToString([]byte("sig"))},
	}
	rekorBody := func(kind, version string) string {
		body := base64.StdEncoding.EncodeToString([]byte(`{"apiVersion":"` + version + `","kind":"` + kind + `","spec":{}}`))
		return `{"SignedEntryTimestamp":"c2V0","Payload":{"body":"` + body + `","integratedTime":1700000000,"logIndex":1,"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"}}`
	}
	for _, tc := range []struct {
		name string
		att  attachment
		want error
	}{
		{"unknown media type", attachment{"application/vnd.oci.image.layer.v1.tar+gzip", []byte("x"), nil}, cosign.ErrUnsupported},
		{"cosign SBOM attachment", attachment{"application/vnd.dev.cosign.artifact.sbom.v1+json", []byte("{}"), nil}, cosign.ErrUnsupported},
		{"Rekor rekord entry", sig.with(cosign.BundleAnnotation, rekorBody("rekord", "0.0.1")), cosign.ErrUnsupported},
		{"Rekor intoto 0.0.1 entry", att.with(cosign.BundleAnnotation, rekorBody("intoto", "0.0.1")), cosign.ErrUnsupported},
		{"DSSE timestamped but not logged", att.with(cosign.BundleAnnotation, "").with(cosign.RFC3161TimestampAnnotation, timestampAnnotation(t, []byte("tsr"))), cosign.ErrUnsupported},
		{"layer too large", attachment{cosign.SimpleSigningMediaType, make([]byte, cosign.MaxLayerSize+1), sig.annotations}, cosign.ErrMalformed},
		{"simple signing without signature", sig.with(cosign.SignatureAnnotation, ""), cosign.ErrMalformed},
		{"signature not base64", sig.with(cosign.SignatureAnnotation, "%%%"), cosign.ErrMalformed},
		{"certificate not PEM", sig.with(cosign.CertificateAnnotation, "not a certificate"), cosign.ErrMalformed},
		{"two leaf certificates", att.with(cosign.CertificateAnnotation, att.annotations[cosign.CertificateAnnotation]+att.annotations[cosign.CertificateAnnotation]), cosign.ErrMalformed},
		{"chain without certificate", sig.with(cosign.ChainAnnotation, att.annotations[cosign.ChainAnnotation]), cosign.ErrMalformed},
		{"chain not PEM", att.with(cosign.ChainAnnotation, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), cosign.ErrMalformed},
		{"Rekor bundle not JSON", sig.with(cosign.BundleAnnotation, "{"), cosign.ErrMalformed},
		{"Rekor bundle without SET", sig.with(cosign.BundleAnnotation, `{"Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}`), cosign.ErrMalformed},
		{"Rekor body not a string", sig.with(cosign.BundleAnnotation, `{"SignedEntryTimestamp":"c2V0","Payload":{"body":{},"integratedTime":1,"logIndex":1,"logID":"00"}}`), cosign.ErrMalformed},
		{"Rekor body without kind", sig.with(cosign.BundleAnnotation, `{"SignedEntryTimestamp":"c2V0","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}`), cosign.ErrMalformed},
		{"Rekor log ID not hex", sig.with(cosign.BundleAnnotation, strings.Replace(rekorBody("hashedrekord", "0.0.1"), `"logID":"c0`, `"logID":"zz`, 1)), cosign.ErrMalformed},
		{"Rekor body not a valid entry", sig.with(cosign.BundleAnnotation, rekorBody("hashedrekord", "0.0.1")), cosign.ErrMalformed},
		{"timestamp not JSON", sig.with(cosign.RFC3161TimestampAnnotation, "tsr"), cosign.ErrMalformed},
		{"timestamp empty", sig.with(cosign.RFC3161TimestampAnnotation, `{}`), cosign.ErrMalformed},
		{"DSSE layer not an envelope", attachment{cosign.DSSEMediaType, []byte(simpleSigning), nil}, cosign.ErrMalformed},
		{"DSSE layer not JSON", attachment{cosign.DSSEMediaType, []byte("envelope"), nil}, cosign.ErrMalformed},
		{"DSSE layer with two envelopes", attachment{cosign.DSSEMediaType, append(append(append([]byte{}, att.layer...), '\n'), att.layer...), att.annotations}, cosign.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := cosign.BundleFromAttachment(tc.att.mediaType, tc.att.layer, tc.att.annotations)
			if !errors.Is(err, tc.want) {
				t.Fatalf("BundleFromAttachment = %v, %v; want %v", b, err, tc.want)
			}
		})
	}
}
