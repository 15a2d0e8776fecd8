package verify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/verify"
)

const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":"https://example.com/builder"}}}}`

var ghIdentity = demo.Identity{
	SAN:               "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
	Issuer:            "https://token.actions.githubusercontent.com",
	SourceRepository:  "https://github.com/acme/app",
	SourceRef:         "refs/heads/main",
	BuildSignerURI:    "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
	BuildConfigURI:    "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
	RunnerEnvironment: "github-hosted",
}

func mustBundle(t *testing.T, data []byte) *bundle.Bundle {
	t.Helper()
	var b bundle.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("parsing bundle: %v", err)
	}
	return &b
}

// reloaded returns ss's trusted root after a round trip through trusted_root.json, as the demo
// and services load it.
func reloaded(t *testing.T, ss *demo.Sigstore) *root.TrustedRoot {
	t.Helper()
	js, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(js)
	if err != nil {
		t.Fatalf("parsing trusted root: %v", err)
	}
	return tr
}

func TestVerifyKeyless(t *testing.T) {
	ctx := context.Background()
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ss.SignKeyless(ctx, []byte(statement), ghIdentity)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "test", Material: reloaded(t, ss)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyBundle(mustBundle(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified {
		t.Fatalf("not verified: %s", res.Error)
	}
	want := evidence.Signer{
		Type: evidence.SignatureKeyless, Issuer: ghIdentity.Issuer, Identity: ghIdentity.SAN,
		SourceRepository: ghIdentity.SourceRepository, SourceRef: ghIdentity.SourceRef,
		BuildSignerURI: ghIdentity.BuildSignerURI, BuildConfigURI: ghIdentity.BuildConfigURI,
		RunnerEnvironment: "github-hosted",
	}
	if *res.Signer != want {
		t.Errorf("signer = %+v, want %+v", *res.Signer, want)
	}
	if res.TlogEntries != 1 || res.Timestamps != 1 {
		t.Errorf("tlog entries %d, timestamps %d; want 1 and 1", res.TlogEntries, res.Timestamps)
	}
	if string(res.Payload) != statement || res.PayloadType != demo.InTotoPayloadType {
		t.Errorf("payload not handed back: %q %q", res.PayloadType, res.Payload)
	}

	// Another instance's root must not verify it.
	other, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := verify.New([]verify.NamedRoot{{Name: "test", Material: other.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = v2.VerifyBundle(mustBundle(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || res.Error == "" {
		t.Errorf("verified against a foreign root: %+v", res)
	}
}

func TestVerifyKeyed(t *testing.T) {
	ctx := context.Background()
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ss.SignKeyed(ctx, []byte(statement))
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := ss.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	key, err := verify.ParseTrustedKey("tekton-chains", pemKey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := demo.NewSigstore()
	otherPEM, _ := other.PublicKeyPEM()
	wrong, err := verify.ParseTrustedKey("other", otherPEM)
	if err != nil {
		t.Fatal(err)
	}
	tr := reloaded(t, ss)

	v, err := verify.New([]verify.NamedRoot{{Name: "test", Material: tr}}, []verify.TrustedKey{wrong, key})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyBundle(mustBundle(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified {
		t.Fatalf("not verified: %s", res.Error)
	}
	if res.Signer.Type != evidence.SignatureKey || res.Signer.Identity != "tekton-chains" {
		t.Errorf("signer = %+v, want key tekton-chains", res.Signer)
	}
	if res.TlogEntries != 0 || res.Timestamps != 1 {
		t.Errorf("tlog entries %d, timestamps %d; want 0 and 1", res.TlogEntries, res.Timestamps)
	}

	v, err = verify.New([]verify.NamedRoot{{Name: "test", Material: tr}}, []verify.TrustedKey{wrong})
	if err != nil {
		t.Fatal(err)
	}
	res, err = v.VerifyBundle(mustBundle(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || !strings.Contains(res.Error, "no trusted key") {
		t.Errorf("verified with the wrong key: %+v", res)
	}
}

func TestVerifyTamperedPayload(t *testing.T) {
	ctx := context.Background()
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ss.SignKeyless(ctx, []byte(statement), ghIdentity)
	if err != nil {
		t.Fatal(err)
	}
	b := mustBundle(t, data)
	b.GetDsseEnvelope().Payload = []byte(strings.Replace(statement, "aaaa", "bbbb", 1))
	v, err := verify.New([]verify.NamedRoot{{Name: "test", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified {
		t.Fatal("tampered payload verified")
	}
}

func TestNewNeedsMaterial(t *testing.T) {
	if _, err := verify.New(nil, nil); err != verify.ErrNoTrustedMaterial {
		t.Errorf("err = %v, want ErrNoTrustedMaterial", err)
	}
}

func digest(s string) evidence.Digest { return evidence.Digest(s) }
