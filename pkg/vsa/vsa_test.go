package vsa_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/vsa"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestC = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func summary() vsa.Summary {
	return vsa.Summary{
		Image:             evidence.ImageRef{Repository: "registry.example/acme/app", Digest: digestA},
		VerifierID:        vsa.DefaultVerifierID,
		TimeVerified:      time.Date(2026, 11, 29, 1, 2, 3, 456, time.UTC),
		PolicyURI:         vsa.DefaultPolicyURI,
		PolicyVersion:     "0123456789ab",
		Environment:       "prod",
		InputAttestations: []evidence.Digest{digestC, digestB, digestC},
		Result:            vsa.Passed,
		Level:             3,
	}
}

// TestStatementGolden pins the statement's bytes; testdata/statement.golden.json was checked
// by hand against https://slsa.dev/spec/v1.0/verification_summary.
func TestStatementGolden(t *testing.T) {
	got, err := vsa.Statement(summary())
	if err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	golden := filepath.Join("testdata", "statement.golden.json")
	if *update {
		if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), indented.String()); diff != "" {
		t.Errorf("statement (-golden +got):\n%s", diff)
	}
	again, err := vsa.Statement(summary())
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("Statement is not deterministic (%v)", err)
	}

	// The project's own parser reads it back as what was issued.
	st, err := provenance.ParseStatement(got)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind() != evidence.KindAttestation || !st.Names(digestA) {
		t.Errorf("kind %s, names artifact %v", st.Kind(), st.Names(digestA))
	}
	p, err := st.VSA()
	if err != nil {
		t.Fatal(err)
	}
	tv := time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)
	want2 := &provenance.VSA{
		VerifierID:   vsa.DefaultVerifierID,
		TimeVerified: &tv,
		ResourceURI:  "registry.example/acme/app@" + digestA,
		PolicyURI:    vsa.DefaultPolicyURI + "?env=prod",
		PolicyDigest: map[string]string{vsa.PolicyDigestAlgorithm: "0123456789ab"},
		InputAttestations: []evidence.Dependency{
			{Digest: map[string]string{"sha256": strings.Repeat("b", 64)}},
			{Digest: map[string]string{"sha256": strings.Repeat("c", 64)}},
		},
		Result:         vsa.Passed,
		VerifiedLevels: []string{"SLSA_BUILD_LEVEL_3"},
		SLSAVersion:    "1.0",
	}
	if diff := cmp.Diff(want2, p); diff != "" {
		t.Errorf("parsed VSA (-want +got):\n%s", diff)
	}
}

func TestStatementInvalid(t *testing.T) {
	for name, mutate := range map[string]func(*vsa.Summary){
		"no digest":       func(s *vsa.Summary) { s.Image.Digest = "" },
		"no verifier":     func(s *vsa.Summary) { s.VerifierID = "" },
		"no time":         func(s *vsa.Summary) { s.TimeVerified = time.Time{} },
		"no environment":  func(s *vsa.Summary) { s.Environment = "" },
		"no policy":       func(s *vsa.Summary) { s.PolicyVersion = "" },
		"bad result":      func(s *vsa.Summary) { s.Result = "OK" },
		"bad level":       func(s *vsa.Summary) { s.Level = 4 },
		"bad input":       func(s *vsa.Summary) { s.InputAttestations = []evidence.Digest{"sha256:xyz"} },
		"too many inputs": func(s *vsa.Summary) { s.InputAttestations = make([]evidence.Digest, vsa.MaxInputAttestations+1) },
	} {
		t.Run(name, func(t *testing.T) {
			s := summary()
			mutate(&s)
			if _, err := vsa.Statement(s); !errors.Is(err, vsa.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestLevelsAndEnvironment(t *testing.T) {
	for _, l := range []evidence.Level{0, 1, 2, 3} {
		got, ok := vsa.ParseLevel(vsa.LevelName(l))
		if !ok || got != l {
			t.Errorf("ParseLevel(LevelName(%d)) = %d, %v", l, got, ok)
		}
	}
	for _, s := range []string{"SLSA_BUILD_LEVEL_4", "SLSA_SOURCE_LEVEL_3", "FAILED", "SLSA_BUILD_LEVEL_x"} {
		if _, ok := vsa.ParseLevel(s); ok {
			t.Errorf("ParseLevel(%q) accepted", s)
		}
	}
	if got := vsa.EnvironmentOf(vsa.PolicyURIFor("https://p.example/x?rev=2", "staging")); got != "staging" {
		t.Errorf("environment = %q", got)
	}
	if got := vsa.EnvironmentOf("https://p.example/x"); got != "" {
		t.Errorf("environment of a URI without one = %q", got)
	}
}

// ecdsaKey writes a fresh P-256 key with GenerateKey and returns it.
func ecdsaKey(t *testing.T) (*vsa.Key, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vsa.key")
	k, err := vsa.GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k, path
}

func ed25519Key(t *testing.T) *vsa.Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := vsa.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verifier(t *testing.T, keys ...*vsa.Key) *vsa.Verifier {
	t.Helper()
	var pubs []vsa.PublicKey
	for i, k := range keys {
		pubs = append(pubs, vsa.PublicKey{Name: "k" + string(rune('0'+i)), Key: k.GetPublicKey()})
	}
	v, err := vsa.NewVerifier(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signed(t *testing.T, k *vsa.Key, s vsa.Summary) []byte {
	t.Helper()
	st, err := vsa.Statement(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := vsa.Sign(context.Background(), k, st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper rewrites the DSSE payload of a bundle with edit, keeping the signature.
func tamper(t *testing.T, bundle []byte, edit func(string) string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	env := m["dsseEnvelope"].(map[string]any)
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(payload))
	if changed == string(payload) {
		t.Fatal("tamper changed nothing")
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(changed))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignVerify(t *testing.T) {
	ec, ecPath := ecdsaKey(t)
	ed := ed25519Key(t)
	for name, k := range map[string]*vsa.Key{"ecdsa-p256": ec, "ed25519": ed} {
		t.Run(name, func(t *testing.T) {
			b := signed(t, k, summary())
			res, err := verifier(t, k).Verify(b, digestA, vsa.Requirements{VerifierID: vsa.DefaultVerifierID, Environment: "prod", MinLevel: 3})
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if res.Level != 3 || res.Environment != "prod" || res.Key != "k0" || res.ResourceURI != "registry.example/acme/app@"+digestA || !res.Passed() {
				t.Errorf("result %+v", res)
			}
			// Any of several trusted keys will do.
			if _, err := verifier(t, ed25519Key(t), k).Verify(b, digestA, vsa.Requirements{}); err != nil {
				t.Errorf("second trusted key: %v", err)
			}
		})
	}
	// The public key GenerateKey wrote verifies what the private key signed.
	pubPEM, err := os.ReadFile(ecPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pubPEM)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vsa.NewVerifier(vsa.PublicKey{Name: "file", Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(signed(t, ec, summary()), digestA, vsa.Requirements{}); err != nil {
		t.Errorf("verifying with the written public key: %v", err)
	}
	// GenerateKey keeps an existing key.
	again, err := vsa.GenerateKey(ecPath)
	if err != nil || !again.GetPublicKey().(*ecdsa.PublicKey).Equal(ec.GetPublicKey()) {
		t.Errorf("GenerateKey on an existing key: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	k, _ := ecdsaKey(t)
	good := signed(t, k, summary())
	failed := summary()
	failed.Result = vsa.Failed
	level1 := summary()
	level1.Level = 1
	otherVerifier := summary()
	otherVerifier.VerifierID = "https://evil.example/verifier"
	provStatement := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + strings.Repeat("a", 64) +
		`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`
	notVSA, err := vsa.Sign(context.Background(), k, []byte(provStatement))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		bundle  []byte
		keys    []*vsa.Key
		subject evidence.Digest
		req     vsa.Requirements
		want    error
	}{
		{"tampered result", tamper(t, good, func(p string) string { return strings.Replace(p, `"PASSED"`, `"FAILED"`, 1) }), []*vsa.Key{k}, digestA, vsa.Requirements{}, vsa.ErrRejected},
		{"tampered level", tamper(t, good, func(p string) string { return strings.Replace(p, "LEVEL_3", "LEVEL_2", 1) }), []*vsa.Key{k}, digestA, vsa.Requirements{}, vsa.ErrRejected},
		{"tampered subject", tamper(t, good, func(p string) string { return strings.ReplaceAll(p, strings.Repeat("a", 64), strings.Repeat("b", 64)) }), []*vsa.Key{k}, digestB, vsa.Requirements{}, vsa.ErrRejected},
		{"wrong key", good, []*vsa.Key{ed25519Key(t)}, digestA, vsa.Requirements{}, vsa.ErrRejected},
		{"other artifact", good, []*vsa.Key{k}, digestB, vsa.Requirements{}, vsa.ErrRejected},
		{"failed result", signed(t, k, failed), []*vsa.Key{k}, digestA, vsa.Requirements{}, vsa.ErrRejected},
		{"other environment", good, []*vsa.Key{k}, digestA, vsa.Requirements{Environment: "staging"}, vsa.ErrRejected},
		{"level too low", signed(t, k, level1), []*vsa.Key{k}, digestA, vsa.Requirements{MinLevel: 2}, vsa.ErrRejected},
		{"other verifier", signed(t, k, otherVerifier), []*vsa.Key{k}, digestA, vsa.Requirements{VerifierID: vsa.DefaultVerifierID}, vsa.ErrRejected},
		{"not a bundle", []byte(`{"x":1}`), []*vsa.Key{k}, digestA, vsa.Requirements{}, vsa.ErrRejected},
		{"oversized", bytes.Repeat([]byte(" "), vsa.MaxBundleSize+1), []*vsa.Key{k}, digestA, vsa.Requirements{}, vsa.ErrRejected},
		{"provenance, not a VSA", notVSA, []*vsa.Key{k}, digestA, vsa.Requirements{}, vsa.ErrNotVSA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifier(t, tc.keys...).Verify(tc.bundle, tc.subject, tc.req)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseKeyUnsupported(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, priv := range map[string]any{"P-384": p384, "RSA": rsaKey} {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vsa.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); !errors.Is(err, vsa.ErrUnsupportedKey) {
			t.Errorf("%s: err = %v, want ErrUnsupportedKey", name, err)
		}
	}
	if _, err := vsa.ParseKey([]byte("not pem")); err == nil {
		t.Error("ParseKey accepted non-PEM")
	}
	sec1, err := x509.MarshalECPrivateKey(mustP256(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vsa.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Errorf("SEC 1 P-256 key: %v", err)
	}
}

func mustP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
