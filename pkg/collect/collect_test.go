package collect_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/verify"
)

const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"

func statement(t *testing.T, subject evidence.Digest, predicateType string, predicate any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": "app", "digest": map[string]string{subject.Algorithm(): subject.Hex()}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var slsaPredicate = map[string]any{
	"buildDefinition": map[string]any{"buildType": "https://actions.github.io/buildtypes/workflow/v1",
		"resolvedDependencies": []any{map[string]any{"uri": "git+https://github.com/acme/app@refs/heads/main", "digest": map[string]string{"gitCommit": "abc"}}}},
	"runDetails": map[string]any{"builder": map[string]any{"id": "https://github.com/actions/runner/github-hosted"}},
}

var identity = demo.Identity{
	SAN: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", Issuer: demo.Issuer,
	SourceRepository: "https://github.com/acme/app", RunnerEnvironment: "github-hosted",
}

func TestCollect(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	client, err := oci.New(oci.Config{MaxBlobSize: 64 << 10, Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := client.PushImage(ctx, host+"/acme/app", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	other := evidence.Digest("sha256:cd00000000000000000000000000000000000000000000000000000000000000")

	signed, err := ss.SignKeyless(ctx, statement(t, ref.Digest, "https://slsa.dev/provenance/v1", slsaPredicate), identity)
	if err != nil {
		t.Fatal(err)
	}
	mismatched, err := ss.SignKeyless(ctx, statement(t, other, "https://slsa.dev/provenance/v1", slsaPredicate), identity)
	if err != nil {
		t.Fatal(err)
	}
	bom := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []any{map[string]any{"type": "library", "name": "x", "version": "1"}}}
	bomJSON, _ := json.Marshal(bom)
	attach := []struct {
		mediaType, annotation string
		data                  []byte
	}{
		{bundleType, "https://slsa.dev/provenance/v1", signed},
		{bundleType, "https://slsa.dev/provenance/v1", mismatched},
		{bundleType, "https://slsa.dev/provenance/v1", []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verif`)},
		{"application/vnd.in-toto+json", "", statement(t, ref.Digest, "https://slsa.dev/provenance/v1", slsaPredicate)},
		{"application/vnd.cyclonedx+json", "", bomJSON},
		{"application/vnd.example.unknown", "", []byte("?")},
		{"application/vnd.cyclonedx+json", "", []byte(strings.Repeat(" ", 70<<10) + "{}")},
	}
	for _, a := range attach {
		var ann map[string]string
		if a.annotation != "" {
			ann = map[string]string{"dev.sigstore.bundle.predicateType": a.annotation}
		}
		if _, err := client.Attach(ctx, ref, a.mediaType, a.mediaType, a.data, ann); err != nil {
			t.Fatal(err)
		}
	}

	v, err := verify.New([]verify.NamedRoot{{Name: "test", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := collect.New(client, v, collect.EnvelopeTrust{}).Collect(ctx, ref, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Image != ref || set.CollectedAt.IsZero() {
		t.Errorf("set header = %+v", set)
	}
	if len(set.Evidence) != len(attach) {
		t.Fatalf("%d evidence documents, want %d: %+v", len(set.Evidence), len(attach), set.Evidence)
	}
	// Referrers come back in no particular order: classify each.
	var seen = map[string]int{}
	for _, e := range set.Evidence {
		if err := e.Validate(); err != nil {
			t.Errorf("invalid evidence %+v: %v", e, err)
		}
		switch {
		case e.Kind == evidence.KindProvenance && e.Signed && e.Verification.Verified && e.SubjectMatch:
			seen["verified"]++
			if e.Provenance == nil || e.Provenance.BuilderID != "https://github.com/actions/runner/github-hosted" || e.Provenance.SourceRepository != "https://github.com/acme/app" {
				t.Errorf("provenance = %+v", e.Provenance)
			}
			if e.Verification.Signer == nil || e.Verification.Signer.Identity != identity.SAN || e.Verification.Signer.RunnerEnvironment != "github-hosted" {
				t.Errorf("signer = %+v", e.Verification.Signer)
			}
		case e.Kind == evidence.KindProvenance && e.Verification.Verified && !e.SubjectMatch:
			seen["mismatch"]++
			if len(e.Subjects) != 1 || e.Subjects[0] != other {
				t.Errorf("subjects = %v", e.Subjects)
			}
		case e.Kind == evidence.KindProvenance && e.Signed && e.Malformed != "":
			seen["malformed bundle"]++
		case e.Kind == evidence.KindProvenance && !e.Signed && e.SubjectMatch && e.Malformed == "":
			seen["unsigned"]++
		case e.Kind == evidence.KindSBOM && e.SBOM != nil && e.SBOM.Components == 1 && e.SubjectMatch:
			seen["sbom"]++
		case e.Kind == evidence.KindUnknown && strings.Contains(e.Malformed, "unsupported attachment"):
			seen["unsupported"]++
		case e.Kind == evidence.KindSBOM && strings.Contains(e.Malformed, "size limit"):
			seen["oversized"]++
		default:
			t.Errorf("unexpected evidence %+v", e)
		}
	}
	for _, k := range []string{"verified", "mismatch", "malformed bundle", "unsigned", "sbom", "unsupported", "oversized"} {
		if seen[k] != 1 {
			t.Errorf("%s: %d documents, want 1", k, seen[k])
		}
	}
	if !set.HasVerifiedProvenance() {
		t.Error("HasVerifiedProvenance = false")
	}

	// An organisation that expects another signer gets the same documents, but the
	// provenance that verified is now an identity mismatch, not verified provenance.
	elsewhere := verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `^https://github\.com/someone-else/`}
	if err := elsewhere.Validate(); err != nil {
		t.Fatal(err)
	}
	set, err = collect.New(client, v, collect.EnvelopeTrust{}).Collect(ctx, ref, verify.Options{Identities: []verify.IdentityPolicy{elsewhere}})
	if err != nil {
		t.Fatal(err)
	}
	if set.HasVerifiedProvenance() {
		t.Error("provenance from an unexpected signer counts as verified")
	}
	mismatches := 0
	for _, e := range set.Evidence {
		if e.Verification.IdentityMismatch {
			mismatches++
			if e.Verification.Signer == nil || e.Verification.Signer.Identity != identity.SAN {
				t.Errorf("a rejected signer must still be named: %+v", e.Verification)
			}
		}
	}
	if mismatches != 2 { // the matching provenance and the one about another digest
		t.Errorf("%d identity mismatches, want 2", mismatches)
	}
}

func TestCollectRegistryDown(t *testing.T) {
	client, err := oci.New(oci.Config{Timeout: 2e9, Retries: -1, Insecure: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := demo.NewSigstore()
	v, _ := verify.New([]verify.NamedRoot{{Name: "test", Material: ss.TrustedRoot()}}, nil)
	ref := evidence.ImageRef{Repository: "127.0.0.1:1/acme/app", Digest: "sha256:ab00000000000000000000000000000000000000000000000000000000000000"}
	if _, err := collect.New(client, v, collect.EnvelopeTrust{}).Collect(context.Background(), ref, verify.Options{}); err == nil {
		t.Error("collecting from an unreachable registry succeeded; it must fail so the message is retried")
	}
}
