package collect_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// documentCollector trusts the public-good root, npm's registry key, Google's VSA key and
// Cloud Build's keys (the regional ones signing raw payloads).
func documentCollector(t testing.TB) *collect.Collector {
	t.Helper()
	pg, err := verify.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	roots := []verify.NamedRoot{{Name: verify.PublicGoodName, Material: pg}}
	var keys []verify.TrustedKey
	for name, rel := range map[string]string{
		"npm":                   "sigstore/sigstore-go/publish_key.pub",
		"google-vsa":            "slsa-verifier/vsa/vsa_signing_public_key.pem",
		"gcb-global":            "slsa-verifier/gcb/keys/global.key",
		"gcb-us-west2":          "slsa-verifier/gcb/keys/us-west2.key",
		"gcb-google-hosted":     "slsa-verifier/gcb/keys/global-pae-google-hosted-worker_1.key",
		"gcb-provenance-signer": "slsa-verifier/gcb/keys/global-pae-provenanceSigner_1.key",
	} {
		k, err := verify.LoadTrustedKey(name, testcorpus.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	v, err := verify.New(roots, keys)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := oci.New(oci.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return collect.New(reg, v, collect.EnvelopeTrust{Keys: keys, RawPayloadKeys: []string{"gcb-global", "gcb-us-west2"}, Roots: roots})
}

func TestFromDocument(t *testing.T) {
	c := documentCollector(t)
	gcbDigest := evidence.Digest(strings.TrimSpace(string(testcorpus.Read(t, "slsa-verifier/gcb/v0.3/gcloud-container-github.digest"))))
	tests := []struct {
		file     string
		digest   evidence.Digest
		n        int
		kind     evidence.Kind
		verified bool
		signer   string
		match    bool
		errHas   string
	}{
		{file: "sigstore/sigstore-go/bundle-provenance.json", n: 1, kind: evidence.KindProvenance, verified: true, match: true,
			signer: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"},
		{file: "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", n: 1, kind: evidence.KindAttestation, verified: true, signer: "google-vsa", match: true},
		{file: "slsa-verifier/gcb/v0.3/gcloud-container-github.json", n: 1, kind: evidence.KindProvenance, verified: true, signer: "gcb-us-west2",
			digest: gcbDigest, match: true},
		{file: "slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-single.json", n: 1, kind: evidence.KindProvenance, verified: true, signer: "gcb-google-hosted", match: true},
		{file: "slsa-verifier/gcb/v0.3/gcloud-container-mismatch-payload-digest.json", n: 1, kind: evidence.KindProvenance, errHas: "no trusted key", match: true},
		{file: "slsa-verifier/gha_generic/v2.0.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", n: 1, kind: evidence.KindProvenance, match: true,
			signer: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0",
			errHas: "cannot be proven offline"},
		{file: "slsa-verifier/gcb/v0.3/gcloud-container-no-signature.json", n: 1, kind: evidence.KindUnknown, errHas: "malformed DSSE"},
		{file: "misc/kubernetes/guac-kubectl-linux-amd64.slsa-v0.2.statement.json", n: 1, kind: evidence.KindProvenance, match: true},
		{file: "sbom/spdx/guac-alpine.syft.spdx-2.2.json", n: 1, kind: evidence.KindSBOM, match: true},
		{file: "sbom/cyclonedx/invalid/guac-invalid-cyclonedx.xml", n: 1, kind: evidence.KindUnknown, errHas: "not a Sigstore bundle"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			evs := c.FromDocument(context.Background(), testcorpus.Read(t, tc.file), evidence.ImageRef{Digest: tc.digest}, verify.Options{})
			if len(evs) != tc.n {
				t.Fatalf("%d evidence, want %d: %+v", len(evs), tc.n, evs)
			}
			e := evs[0]
			if err := e.ID.Validate(); err != nil || e.Source != collect.SourceFile {
				t.Errorf("id %q source %q", e.ID, e.Source)
			}
			if e.Kind != tc.kind || e.Verification.Verified != tc.verified || e.SubjectMatch != tc.match {
				t.Errorf("kind %s verified %v subject_match %v; want %s %v %v (error %q, malformed %q)",
					e.Kind, e.Verification.Verified, e.SubjectMatch, tc.kind, tc.verified, tc.match, e.Verification.Error, e.Malformed)
			}
			if tc.signer != "" && (e.Verification.Signer == nil || e.Verification.Signer.Identity != tc.signer) {
				t.Errorf("signer %+v, want %s", e.Verification.Signer, tc.signer)
			}
			if got := e.Verification.Error + " " + e.Malformed; !strings.Contains(got, tc.errHas) {
				t.Errorf("errors %q lack %q", got, tc.errHas)
			}
		})
	}
}

func TestFromDocumentIsNeverEmpty(t *testing.T) {
	c := documentCollector(t)
	for _, in := range []string{"", "null", "[1,2]", "{}", `{"payloadType":"x"}`, "\xff\xfe"} {
		evs := c.FromDocument(context.Background(), []byte(in), evidence.ImageRef{}, verify.Options{})
		if len(evs) == 0 || evs[0].Malformed == "" {
			t.Errorf("%q: %+v; want one malformed evidence", in, evs)
		}
	}
}
