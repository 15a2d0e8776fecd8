package dsse_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/aspmhq/aspm/pkg/dsse"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// Names for the corpus keys, as an operator would configure them.
const (
	keyVSA       = "google-vsa"
	keyGlobal    = "gcb-global"
	keyUSWest2   = "gcb-us-west2"
	keyPAEWorker = "gcb-google-hosted-worker"
	keyPAESigner = "gcb-provenance-signer"
)

var corpusKeys = map[string]string{
	keyVSA:       "slsa-verifier/vsa/vsa_signing_public_key.pem",
	keyGlobal:    "slsa-verifier/gcb/keys/global.key",
	keyUSWest2:   "slsa-verifier/gcb/keys/us-west2.key",
	keyPAEWorker: "slsa-verifier/gcb/keys/global-pae-google-hosted-worker_1.key",
	keyPAESigner: "slsa-verifier/gcb/keys/global-pae-provenanceSigner_1.key",
}

func mustKeys(tb testing.TB, names ...string) []verify.TrustedKey {
	tb.Helper()
	var out []verify.TrustedKey
	for _, n := range names {
		k, err := verify.LoadTrustedKey(n, testcorpus.Path(tb, corpusKeys[n]))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

func mustEnvelope(tb testing.TB, rel string, i int) dsse.Envelope {
	tb.Helper()
	envs, err := dsse.Parse(testcorpus.Read(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	if i >= len(envs) {
		tb.Fatalf("%s has %d envelopes, want #%d", rel, len(envs), i)
	}
	return envs[i]
}

// outcome is what the tests compare of a verify.Result.
type outcome struct {
	Verified bool
	Signer   *evidence.Signer
}

func keyed(name string) outcome {
	return outcome{Verified: true, Signer: &evidence.Signer{Type: evidence.SignatureKey, Identity: name}}
}

func TestVerifyWithKeysCorpus(t *testing.T) {
	all := []string{keyVSA, keyGlobal, keyUSWest2, keyPAEWorker, keyPAESigner}
	gcbRaw := dsse.AllowRawPayload(keyGlobal, keyUSWest2)
	for _, tc := range []struct {
		name string
		file string
		env  int
		keys []string
		opts []dsse.KeyOption
		want outcome
		// says is in Result.Error when the envelope does not verify.
		says string
	}{
		{name: "VSA with Google's VSA key (P1363 signature over PAE)", file: "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", keys: []string{keyVSA}, want: keyed(keyVSA)},
		{name: "VSA with another key", file: "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", keys: []string{keyGlobal, keyPAEWorker}, opts: []dsse.KeyOption{gcbRaw}, says: "no trusted key verifies the envelope's signature"},
		{name: "GCB v0.2, raw payload, global key", file: "slsa-verifier/gcb/v0.2/gcloud-container-github.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyGlobal)},
		{name: "GCB v0.2 when raw payloads are not allowed", file: "slsa-verifier/gcb/v0.2/gcloud-container-github.json", keys: all,
			says: "signature 0 is over the raw payload, which key gcb-global is not allowed to sign"},
		{name: "GCB v0.3, raw payload, us-west2 key", file: "slsa-verifier/gcb/v0.3/gcloud-container-github.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyUSWest2)},
		{name: "GCB v0.3 with the global key only", file: "slsa-verifier/gcb/v0.3/gcloud-container-github.json", keys: []string{keyGlobal}, opts: []dsse.KeyOption{gcbRaw}, says: "no trusted key verifies"},
		{name: "GCB v0.3 image summary edited: signature still valid", file: "slsa-verifier/gcb/v0.3/gcloud-container-mismatch-summary-digest.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyUSWest2)},
		{name: "GCB v0.3 payload edited", file: "slsa-verifier/gcb/v0.3/gcloud-container-mismatch-payload-digest.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, says: "no trusted key verifies the envelope's signature"},
		{name: "GCB v1.0 SLSA v1 entry, PAE, google-hosted-worker key", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyPAEWorker)},
		{name: "GCB v1.0 SLSA v1 entry, provenanceSigner key", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", keys: []string{keyPAESigner}, says: "no trusted key verifies"},
		{name: "GCB v1.0 v0.1 entry, PAE, provenanceSigner key", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", env: 1, keys: all, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyPAESigner)},
		{name: "GCB v1.0 v0.1 entry, second signature, raw, us-west2 key", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", env: 1, keys: []string{keyUSWest2}, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyUSWest2)},
		{name: "GCB v1.0 v0.1 entry, us-west2 key without raw", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", env: 1, keys: []string{keyUSWest2}, opts: []dsse.KeyOption{dsse.AllowRawPayload(keyGlobal)},
			says: "no trusted key verifies any of 2 signatures: signature 1 is over the raw payload, which key gcb-us-west2 is not allowed to sign"},
		{name: "GCB v1.0 single", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-single.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, want: keyed(keyPAEWorker)},
		{name: "GCB v1.0 single, invalid signature", file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-single-invalid-sig.json", keys: all, opts: []dsse.KeyOption{gcbRaw}, says: "no trusted key verifies"},
		{name: "no keys", file: "slsa-verifier/gcb/v0.3/gcloud-container-github.json", says: "no trusted key is configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := mustEnvelope(t, tc.file, tc.env)
			res := dsse.VerifyWithKeys(env, mustKeys(t, tc.keys...), tc.opts...)
			if diff := cmp.Diff(tc.want, outcome{Verified: res.Verified, Signer: res.Signer}); diff != "" {
				t.Errorf("VerifyWithKeys (-want +got):\n%s\nerror: %s", diff, res.Error)
			}
			if tc.want.Verified != (res.Error == "") {
				t.Errorf("Verified = %v with Error %q", res.Verified, res.Error)
			}
			if !strings.Contains(res.Error, tc.says) {
				t.Errorf("Error = %q, want it to say %q", res.Error, tc.says)
			}
			if res.PayloadType != env.PayloadType || string(res.Payload) != string(env.Payload) {
				t.Error("Result does not carry the envelope's payload")
			}
		})
	}
}

func TestVerifyWithKeysValidity(t *testing.T) {
	env := mustEnvelope(t, "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", 0)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(from, until time.Time) []verify.TrustedKey {
		k := mustKeys(t, keyVSA)
		k[0].ValidFrom, k[0].ValidUntil = from, until
		return k
	}
	for _, tc := range []struct {
		name        string
		from, until time.Time
		want        outcome
		says        string
	}{
		{name: "unbounded", want: keyed(keyVSA)},
		{name: "within the window", from: now.AddDate(-1, 0, 0), until: now.AddDate(1, 0, 0), want: keyed(keyVSA)},
		{name: "expired", until: now.AddDate(0, 0, -1), says: "signature 0 verifies with key google-vsa, but the key's validity ended at 2025-12-31T00:00:00Z"},
		{name: "not valid yet", from: now.AddDate(0, 0, 1), says: "the key is only valid from 2026-01-02T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := dsse.VerifyWithKeys(env, key(tc.from, tc.until), dsse.At(now))
			if diff := cmp.Diff(tc.want, outcome{Verified: res.Verified, Signer: res.Signer}); diff != "" {
				t.Errorf("VerifyWithKeys (-want +got):\n%s\nerror: %s", diff, res.Error)
			}
			if !strings.Contains(res.Error, tc.says) {
				t.Errorf("Error = %q, want it to say %q", res.Error, tc.says)
			}
		})
	}
}

// TestVerifyWithKeysAlgorithms signs with every key type and encoding VerifyWithKeys accepts.
func TestVerifyWithKeysAlgorithms(t *testing.T) {
	const payloadType = "application/vnd.in-toto+json"
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	pae := ssldsse.PAE(payloadType, payload)
	mustEC := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, p384, p521 := mustEC(elliptic.P256()), mustEC(elliptic.P384()), mustEC(elliptic.P521())
	der := func(k *ecdsa.PrivateKey, h crypto.Hash, msg []byte) []byte {
		sig, err := ecdsa.SignASN1(rand.Reader, k, digest(h, msg))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	p1363 := func(k *ecdsa.PrivateKey, h crypto.Hash, msg []byte) []byte {
		r, s, err := ecdsa.Sign(rand.Reader, k, digest(h, msg))
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		return append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	}
	pkcs1 := func(h crypto.Hash) []byte {
		sig, err := rsa.SignPKCS1v15(rand.Reader, rsaKey, h, digest(h, pae))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pss := func(h crypto.Hash) []byte {
		sig, err := rsa.SignPSS(rand.Reader, rsaKey, h, digest(h, pae), nil)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	for _, tc := range []struct {
		name string
		pub  crypto.PublicKey
		sig  []byte
		raw  bool
		want bool
	}{
		{"ECDSA P-256 DER", p256.Public(), der(p256, crypto.SHA256, pae), false, true},
		{"ECDSA P-256 P1363", p256.Public(), p1363(p256, crypto.SHA256, pae), false, true},
		{"ECDSA P-384 DER", p384.Public(), der(p384, crypto.SHA384, pae), false, true},
		{"ECDSA P-521 P1363", p521.Public(), p1363(p521, crypto.SHA512, pae), false, true},
		{"ECDSA P-256 over the raw payload, allowed", p256.Public(), der(p256, crypto.SHA256, payload), true, true},
		{"ECDSA P-256 over the raw payload, not allowed", p256.Public(), der(p256, crypto.SHA256, payload), false, false},
		{"ECDSA P-256 key, P-384 signature", p256.Public(), der(p384, crypto.SHA384, pae), false, false},
		{"ECDSA P1363 of the wrong length", p256.Public(), p1363(p256, crypto.SHA256, pae)[1:], false, false},
		{"RSA PKCS#1 v1.5 SHA-256", rsaKey.Public(), pkcs1(crypto.SHA256), false, true},
		{"RSA PKCS#1 v1.5 SHA-512", rsaKey.Public(), pkcs1(crypto.SHA512), false, true},
		{"RSA PSS SHA-256", rsaKey.Public(), pss(crypto.SHA256), false, true},
		{"RSA PSS SHA-384", rsaKey.Public(), pss(crypto.SHA384), false, true},
		{"Ed25519", edPub, ed25519.Sign(edKey, pae), false, true},
		{"Ed25519 pointer", &edPub, ed25519.Sign(edKey, pae), false, true},
		{"Ed25519 over another message", edPub, ed25519.Sign(edKey, payload), false, false},
		{"Ed25519 key of the wrong size", edPub[:31], ed25519.Sign(edKey, pae), false, false},
		{"empty signature", p256.Public(), nil, false, false},
		{"unsupported key type", "not a key", []byte("sig"), false, false},
		{"nil ECDSA key", (*ecdsa.PublicKey)(nil), []byte("sig"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := dsse.Envelope{PayloadType: payloadType, Payload: payload, Signatures: []dsse.Signature{{Sig: tc.sig}}}
			var opts []dsse.KeyOption
			if tc.raw {
				opts = append(opts, dsse.AllowRawPayload("k"))
			}
			res := dsse.VerifyWithKeys(env, []verify.TrustedKey{{Name: "k", PublicKey: tc.pub}}, opts...)
			if res.Verified != tc.want {
				t.Errorf("Verified = %v, want %v (error %q)", res.Verified, tc.want, res.Error)
			}
		})
	}
}

func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	panic(fmt.Sprintf("digest: unexpected hash %v", h))
}

func TestVerifyWithKeysUnsigned(t *testing.T) {
	res := dsse.VerifyWithKeys(dsse.Envelope{PayloadType: "t", Payload: []byte("p")}, mustKeys(t, keyVSA))
	want := verify.Result{PayloadType: "t", Payload: []byte("p")}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("VerifyWithKeys (-want +got):\n%s", diff)
	}
}

func mustRoot(tb testing.TB, rel string) root.TrustedMaterial {
	tb.Helper()
	tr, err := verify.LoadTrustedRoot(testcorpus.Path(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

const (
	actionsIssuer = "https://token.actions.githubusercontent.com"
	generator     = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
)

// rawWithCert lists every raw DSSE envelope with an embedded certificate in the corpus and
// what offline verification can establish about it (SOURCES.md §3a, §3c).
var rawWithCert = []struct {
	file   string
	want   error
	signer *evidence.Signer // checked when set
}{
	{
		// 2022: issued by the CN=sigstore root directly, v1 Fulcio extensions only.
		file: "slsa-verifier/gha_generic/v1.2.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		want: dsse.ErrNoTransparencyProof,
		signer: &evidence.Signer{
			Type:             evidence.SignatureKeyless,
			Issuer:           actionsIssuer,
			Identity:         generator + "generator_generic_slsa3.yml@refs/tags/v1.2.0",
			SourceRepository: "slsa-framework/example-package",
			SourceRef:        "refs/tags/v13.0.30",
			SourceDigest:     "67f34fa5b9e346c678fda315742fb51b449eedca",
		},
	},
	{
		file: "slsa-verifier/gha_go/v1.2.2/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		want: dsse.ErrNoTransparencyProof,
		signer: &evidence.Signer{
			Type:             evidence.SignatureKeyless,
			Issuer:           actionsIssuer,
			Identity:         generator + "builder_go_slsa3.yml@refs/tags/v1.2.2",
			SourceRepository: "slsa-framework/example-package",
			SourceRef:        "refs/tags/v13.0.30",
			SourceDigest:     "fd3ab12c1618b53d037c769a960d342d56b95fbf",
		},
	},
	{
		file: "slsa-verifier/gha_go/v2.0.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		want: dsse.ErrNoTransparencyProof,
		signer: &evidence.Signer{
			Type:              evidence.SignatureKeyless,
			Issuer:            actionsIssuer,
			Identity:          generator + "builder_go_slsa3.yml@refs/tags/v2.0.0",
			SourceRepository:  "https://github.com/slsa-framework/example-package",
			SourceRef:         "refs/tags/v13.0.30",
			SourceDigest:      "693130cb6cb840a7bc9cb18c6510d536a95dc7e6",
			BuildSignerURI:    generator + "builder_go_slsa3.yml@refs/tags/v2.0.0",
			BuildConfigURI:    "https://github.com/slsa-framework/example-package/.github/workflows/verifier-e2e.all.workflow_dispatch.main.all.slsa3.yml@refs/tags/v13.0.30",
			RunnerEnvironment: "github-hosted",
		},
	},
	{file: "slsa-verifier/gha_go/v2.0.0/binary-linux-amd64-workflow_dispatch.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{file: "slsa-verifier/gha_generic/v2.0.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{file: "slsa-verifier/gha_generic/v2.0.0/binary-linux-amd64-workflow_dispatch.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{file: "slsa-verifier/edge/annotated-tag.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{file: "slsa-verifier/edge/binary-linux-amd64-e2e-builder-repo.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	// Expired-cert and no-tlog-upload are upstream FAIL cases that only a Rekor lookup catches:
	// offline they look exactly like the others, which is why none of these is Verified.
	{file: "slsa-verifier/edge/binary-linux-amd64-expired-cert.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{file: "slsa-verifier/edge/binary-linux-amd64-no-tlog-upload.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{file: "slsa-verifier/edge/binary-linux-amd64-multi-subject-first.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	{
		// Signed by a fork of the generator: cryptographically fine, a policy matter.
		file: "slsa-verifier/edge/binary-linux-amd64-untrusted-builder.intoto.jsonl",
		want: dsse.ErrNoTransparencyProof,
		signer: &evidence.Signer{
			Type:             evidence.SignatureKeyless,
			Issuer:           actionsIssuer,
			Identity:         "https://github.com/asraa/slsa-github-generator/.github/workflows/builder_go_slsa3.yml@refs/tags/v1.4.0",
			SourceRepository: "asraa/slsa-on-github-test",
			SourceRef:        "refs/heads/main",
			SourceDigest:     "d674cb41a5d97a117426ef18c6881b3185f4e33a",
		},
	},
	{file: "slsa-verifier/edge/workflow-inputs.intoto.jsonl", want: dsse.ErrNoTransparencyProof},
	// The pre-GA generator format: a keyless signature with no certificate in the envelope.
	{file: "slsa-verifier/edge/binary-linux-amd64-sharded.intoto.jsonl", want: dsse.ErrNoCertificate},
}

func TestVerifyWithEmbeddedCertCorpus(t *testing.T) {
	roots := []root.TrustedMaterial{mustRoot(t, "sigstore/trusted-roots/public-good.prod.json")}
	for _, tc := range rawWithCert {
		t.Run(tc.file, func(t *testing.T) {
			env := mustEnvelope(t, tc.file, 0)
			res, err := dsse.VerifyWithEmbeddedCert(env, roots)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyWithEmbeddedCert error = %v, want %v", err, tc.want)
			}
			if res.Verified || res.Error != err.Error() {
				t.Errorf("Result Verified = %v, Error = %q; want false, %q", res.Verified, res.Error, err)
			}
			if tc.want == dsse.ErrNoTransparencyProof && (res.Signer == nil || res.Signer.Identity == "") {
				t.Errorf("Signer = %+v, want the certificate's identity", res.Signer)
			}
			if tc.signer != nil {
				if diff := cmp.Diff(tc.signer, res.Signer); diff != "" {
					t.Errorf("Signer (-want +got):\n%s", diff)
				}
			}
			if res.PayloadType != env.PayloadType || len(res.Payload) == 0 {
				t.Error("Result does not carry the envelope's payload")
			}
		})
	}
}

// TestRawWithCertIsComplete checks that rawWithCert covers every raw DSSE envelope under the
// corpus directories it is drawn from (the .intoto.jsonl files there that are not bundles).
func TestRawWithCertIsComplete(t *testing.T) {
	var listed, found []string
	for _, tc := range rawWithCert {
		listed = append(listed, tc.file)
	}
	dir := testcorpus.Dir(t)
	for _, sub := range []string{"slsa-verifier/gha_go", "slsa-verifier/gha_generic", "slsa-verifier/edge"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".intoto.jsonl") {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if _, err := dsse.Parse(testcorpus.Read(t, rel)); errors.Is(err, dsse.ErrNotEnvelope) {
				return nil // a Sigstore bundle
			} else if err != nil {
				return err
			}
			found = append(found, rel)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(listed)
	slices.Sort(found)
	if diff := cmp.Diff(listed, found); diff != "" {
		t.Errorf("raw DSSE files (-listed +found):\n%s", diff)
	}
}

func TestVerifyWithEmbeddedCertFailures(t *testing.T) {
	prod := mustRoot(t, "sigstore/trusted-roots/public-good.prod.json")
	staging := mustRoot(t, "sigstore/trusted-roots/staging.json")
	good := mustEnvelope(t, "slsa-verifier/gha_go/v2.0.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", 0)
	edited := good
	edited.Payload = append([]byte(nil), good.Payload...)
	edited.Payload[len(edited.Payload)-2] ^= 1
	retyped := good
	retyped.PayloadType = "application/json"
	noCert := good
	noCert.Signatures = []dsse.Signature{{Sig: good.Signatures[0].Sig}}
	badPEM := good
	badPEM.Signatures = []dsse.Signature{{Sig: good.Signatures[0].Sig, Cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}
	// A second, good signature after a bad one: the best outcome wins.
	twoSigs := good
	twoSigs.Signatures = []dsse.Signature{{Sig: []byte("junk"), Cert: good.Signatures[0].Cert}, good.Signatures[0]}
	unsigned := good
	unsigned.Signatures = nil
	for _, tc := range []struct {
		name  string
		env   dsse.Envelope
		roots []root.TrustedMaterial
		want  error
	}{
		{"payload edited", edited, []root.TrustedMaterial{prod}, dsse.ErrSignatureMismatch},
		{"payload type changed", retyped, []root.TrustedMaterial{prod}, dsse.ErrSignatureMismatch},
		{"staging root only", good, []root.TrustedMaterial{staging}, dsse.ErrUntrustedCertificate},
		{"staging then production", good, []root.TrustedMaterial{staging, prod}, dsse.ErrNoTransparencyProof},
		{"no roots", good, nil, dsse.ErrUntrustedCertificate},
		{"no certificate", noCert, []root.TrustedMaterial{prod}, dsse.ErrNoCertificate},
		{"certificate not parseable", badPEM, []root.TrustedMaterial{prod}, dsse.ErrUntrustedCertificate},
		{"a bad signature, then a good one", twoSigs, []root.TrustedMaterial{prod}, dsse.ErrNoTransparencyProof},
		{"unsigned", unsigned, []root.TrustedMaterial{prod}, dsse.ErrNoCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := dsse.VerifyWithEmbeddedCert(tc.env, tc.roots)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyWithEmbeddedCert error = %v, want %v", err, tc.want)
			}
			if res.Verified {
				t.Error("Verified = true")
			}
			wantErr := err.Error()
			if len(tc.env.Signatures) == 0 {
				wantErr = "" // unsigned
			}
			if res.Error != wantErr {
				t.Errorf("Result.Error = %q, want %q", res.Error, wantErr)
			}
			if (res.Signer != nil) != (tc.want == dsse.ErrNoTransparencyProof) {
				t.Errorf("Signer = %+v; want it only when the chain verifies", res.Signer)
			}
		})
	}
}
