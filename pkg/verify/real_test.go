package verify_test

import (
	"encoding/json"
	"testing"

	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// TestRealBundles checks real public-good bundles against the public-good trusted root, with
// the outcome their upstream tests expect (see the corpus's SOURCES.md). Their certificates
// expired minutes after signing: verification must use the log's signing time, not now.
func TestRealBundles(t *testing.T) {
	tr, err := verify.LoadTrustedRoot(testcorpus.Path(t, "sigstore/trusted-roots/public-good.prod.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "test", Material: tr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, identity, subject string
		verified                bool
	}{
		{
			file:     "slsa-verifier/bundle/valid-v0.3.intoto.sigstore",
			verified: true,
			identity: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/heads/main",
			subject:  "sha256:2892146b063a94cb4a4318c0e98d38af12dcf2b1e29237486b58463b59607bbd",
		},
		{
			file:     "sigstore/sigstore-go/sigstore.js@2.0.0-provenance.sigstore.json",
			verified: true,
			identity: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
			subject:  "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c",
		},
		{file: "slsa-verifier/bundle/invalid-dsse-sig.intoto.sigstore", verified: false},
		{file: "sigstore/sigstore-go/dsse-2sigs.sigstore.json", verified: false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			res, err := v.VerifyBundle(mustBundle(t, testcorpus.Read(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified != tc.verified {
				t.Fatalf("verified = %v (error %q), want %v", res.Verified, res.Error, tc.verified)
			}
			if !tc.verified {
				if res.Error == "" || res.Signer != nil {
					t.Errorf("a failed verification must say why and name no signer: %+v", res)
				}
				return
			}
			if res.Signer.Identity != tc.identity || res.Signer.Issuer != "https://token.actions.githubusercontent.com" {
				t.Errorf("signer = %+v", res.Signer)
			}
			if res.TlogEntries != 1 {
				t.Errorf("tlog entries = %d, want 1", res.TlogEntries)
			}
			st, err := provenance.ParseStatement(res.Payload)
			if err != nil {
				t.Fatal(err)
			}
			subjects, _ := json.Marshal(st.SubjectDigests())
			if !st.Names(digest(tc.subject)) {
				t.Errorf("subjects %s do not include %s", subjects, tc.subject)
			}
		})
	}
}
