package cli_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

type verdictJSON struct {
	Artifact struct {
		Digest   string   `json:"digest"`
		Subjects []string `json:"subjects"`
	} `json:"artifact"`
	Evidence []struct {
		Kind              string `json:"kind"`
		PredicateType     string `json:"predicate_type"`
		Verified          bool   `json:"verified"`
		Error             string `json:"error"`
		BuilderID         string `json:"builder_id"`
		SourceURI         string `json:"source_uri"`
		SourceDigest      string `json:"source_digest"`
		RunnerEnvironment string `json:"runner_environment"`
		Format            string `json:"format"`
		Components        *int   `json:"components"`
		Signer            *struct {
			Issuer   string `json:"issuer"`
			Identity string `json:"identity"`
		} `json:"signer"`
	} `json:"evidence"`
	SLSALevel int      `json:"slsa_level"`
	Gaps      []string `json:"gaps"`
	Risk      int      `json:"risk"`
}

func verifyJSON(t *testing.T, wantCode int, args ...string) verdictJSON {
	t.Helper()
	code, out, errOut := run(t, append([]string{"verify", "-o", "json"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, wantCode, out, errOut)
	}
	var v verdictJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("stdout is not the verdict JSON: %v\n%s", err, out)
	}
	return v
}

// TestVerifyRealBundle is the acceptance case: the sigstore-go example provenance,
// offline against the embedded public-good root.
func TestVerifyRealBundle(t *testing.T) {
	bundle := testcorpus.Path(t, "sigstore/sigstore-go/bundle-provenance.json")
	code, out, errOut := run(t, "verify", "--bundle", bundle)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"builder    https://github.com/actions/runner",
		"source     https://github.com/sigstore/sigstore-js @ dae8bd8eb433a4147b4655c00fe73e0f22bc0fb1",
		"signature  verified",
		"SLSA level  L2 (in prod)",
		"level.below_required",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	v := verifyJSON(t, cli.ExitOK, "--bundle", bundle, "--digest",
		"sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751")
	e := v.Evidence[0]
	if len(v.Evidence) != 1 || e.Kind != "provenance" || !e.Verified || e.BuilderID != "https://github.com/actions/runner" ||
		e.SourceURI != "https://github.com/sigstore/sigstore-js" || e.Signer == nil || e.Signer.Issuer != "https://token.actions.githubusercontent.com" ||
		e.RunnerEnvironment != "github-hosted" || v.SLSALevel != 2 {
		t.Errorf("verdict = %+v", v)
	}

	// The wrong artifact: the provenance is not about it.
	v = verifyJSON(t, cli.ExitOK, "--bundle", bundle, "--digest", "sha256:"+strings.Repeat("0", 64))
	if v.SLSALevel != 0 || !contains(v.Gaps, "subject.mismatch") || !contains(v.Gaps, "provenance.missing") {
		t.Errorf("wrong digest: %+v", v)
	}
	// An unexpected signer: the signature is fine but the identity is not.
	v = verifyJSON(t, cli.ExitOK, "--bundle", bundle, "--issuer", "https://token.actions.githubusercontent.com", "--identity", "^https://github.com/acme/")
	if v.Evidence[0].Verified || v.SLSALevel != 1 || !contains(v.Gaps, "signer.identity_mismatch") || contains(v.Gaps, "signature.invalid") {
		t.Errorf("unexpected signer: %+v", v)
	}
	// Gates.
	code, _, errOut = run(t, "verify", "--bundle", bundle, "--min-level", "3")
	if code != cli.ExitFailure || !strings.Contains(errOut, "below the required L3") {
		t.Errorf("--min-level 3: exit %d, %s", code, errOut)
	}
	code, _, errOut = run(t, "verify", "--bundle", bundle, "--deny-gaps", "sbom.missing,tlog.missing")
	if code != cli.ExitFailure || !strings.Contains(errOut, "denied gap sbom.missing") {
		t.Errorf("--deny-gaps: exit %d, %s", code, errOut)
	}
	if code, _, _ = run(t, "verify", "--bundle", bundle, "--min-level", "2", "--deny-gaps", "tlog.missing"); code != cli.ExitOK {
		t.Errorf("a met gate exits %d", code)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestVerifyFormats(t *testing.T) {
	// A message signature over a.txt (sigstore-conformance), bound to the artifact file.
	dir := "sigstore/conformance/bundle-verify/"
	v := verifyJSON(t, cli.ExitOK, "--bundle", testcorpus.Path(t, dir+"happy-path-v0.3/bundle.sigstore.json"), "--artifact", testcorpus.Path(t, dir+"a.txt"))
	if len(v.Evidence) != 1 || v.Evidence[0].Kind != "other" || !v.Evidence[0].Verified {
		t.Errorf("message signature: %+v", v)
	}
	// npm's attestations response: the provenance (keyless) and the publish attestation,
	// which is key-signed by the npm registry key.
	v = verifyJSON(t, cli.ExitOK, "--bundle", testcorpus.Path(t, "slsa-verifier/npm/npm-attestations.intoto.sigstore"),
		"--key", "npm="+testcorpus.Path(t, "sigstore/sigstore-go/publish_key.pub"), "--env", "dev")
	if len(v.Evidence) != 2 || !v.Evidence[0].Verified || !v.Evidence[1].Verified || v.Evidence[1].Signer.Identity != "npm" {
		t.Errorf("npm attestations: %+v", v)
	}
	// A raw DSSE envelope: Google's VSA, key-signed in IEEE P1363 form.
	v = verifyJSON(t, cli.ExitOK, "--bundle", testcorpus.Path(t, "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl"),
		"--key", "google-vsa="+testcorpus.Path(t, "slsa-verifier/vsa/vsa_signing_public_key.pem"))
	if len(v.Evidence) != 1 || v.Evidence[0].Kind != "vsa" || !v.Evidence[0].Verified {
		t.Errorf("VSA: %+v", v)
	}
	// Cloud Build provenance signed over the raw payload: only when the key is allowed to.
	gcb := testcorpus.Path(t, "slsa-verifier/gcb/v0.3/gcloud-container-github.json")
	key := "gcb-us-west2=" + testcorpus.Path(t, "slsa-verifier/gcb/keys/us-west2.key")
	v = verifyJSON(t, cli.ExitOK, "--bundle", gcb, "--key", key)
	if v.Evidence[0].Verified || !strings.Contains(v.Evidence[0].Error, "raw payload") {
		t.Errorf("GCB without --raw-payload-key: %+v", v.Evidence[0])
	}
	v = verifyJSON(t, cli.ExitOK, "--bundle", gcb, "--key", key, "--raw-payload-key", "gcb-us-west2")
	if !v.Evidence[0].Verified || v.Evidence[0].BuilderID != "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3" || v.SLSALevel != 3 {
		t.Errorf("GCB: level %d, %+v", v.SLSALevel, v.Evidence[0])
	}
	// An older slsa-github-generator envelope with its certificate: signer shown, not verified.
	v = verifyJSON(t, cli.ExitOK, "--bundle", testcorpus.Path(t, "slsa-verifier/gha_go/v1.2.2/binary-linux-amd64-push-v13.0.30.intoto.jsonl"))
	if v.Evidence[0].Verified || v.Evidence[0].Signer == nil || !strings.Contains(v.Evidence[0].Error, "offline") || v.SLSALevel != 1 {
		t.Errorf("raw DSSE with certificate: level %d, %+v", v.SLSALevel, v.Evidence[0])
	}
	// A bare SBOM counts its components.
	v = verifyJSON(t, cli.ExitOK, "--bundle", testcorpus.Path(t, "sbom/cyclonedx/guac-alpine.syft.cdx-1.4.json"))
	if len(v.Evidence) != 1 || v.Evidence[0].Kind != "sbom" || v.Evidence[0].Format != "cyclonedx" || v.Evidence[0].Components == nil || *v.Evidence[0].Components == 0 {
		t.Errorf("SBOM: %+v", v)
	}
}

func TestVerifyUsage(t *testing.T) {
	bundle := testcorpus.Path(t, "sigstore/sigstore-go/bundle-provenance.json")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"verify"}, "--bundle FILE"},
		{[]string{"verify", "--bundle", bundle, "--digest", "sha256:ab", "--artifact", bundle}, "give one"},
		{[]string{"verify", "--bundle", bundle, "--identity", "x"}, "--issuer"},
		{[]string{"verify", "--bundle", bundle, "--digest", "md5:abc"}, "--digest"},
		{[]string{"verify", "--bundle", bundle, "-o", "xml"}, "want table, text, json, yaml"},
		{[]string{"verify", "--bundle", "/nonexistent.json"}, "--bundle"},
		{[]string{"verify", "--bundle", bundle, "--trusted-root", "/nonexistent.json"}, "--trusted-root"},
		{[]string{"verify", "--bundle", bundle, "--min-level", "4"}, "0 to 3"},
		{[]string{"verify", "registry.example/app:latest"}, "digest"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", tc.args, code, errOut, tc.msg)
		}
	}
}

// seededRegistry is an in-process registry holding the demo world, with the files that
// trust its signatures.
type seededRegistry struct {
	host, rootPath, keyPath string
	world                   *demo.World
}

func seed(t *testing.T) seededRegistry {
	t.Helper()
	ctx := context.Background()
	reg := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(reg.Close)
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(reg.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	world, err := demo.Seed(ctx, client, host, ss)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootJSON, _ := ss.TrustedRootJSON()
	keyPEM, _ := ss.PublicKeyPEM()
	sr := seededRegistry{host: host, rootPath: filepath.Join(dir, "demo.json"), keyPath: filepath.Join(dir, "key.pub"), world: world}
	if err := os.WriteFile(sr.rootPath, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sr.keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return sr
}

func (sr seededRegistry) trustArgs() []string {
	return []string{"--trusted-root", "demo=" + sr.rootPath, "--key", demo.KeyName + "=" + sr.keyPath}
}

// TestVerifyImage fetches the evidence of demo images from a real in-process registry.
func TestVerifyImage(t *testing.T) {
	sr := seed(t)
	for _, e := range sr.world.Expected {
		v := verifyJSON(t, cli.ExitOK, append([]string{e.Image.String(), "--env", e.Environment, "--insecure-registry", sr.host}, sr.trustArgs()...)...)
		if v.SLSALevel != int(e.Level) || v.Artifact.Digest != string(e.Image.Digest) {
			t.Errorf("%s in %s: level %d, want %d", e.Image, e.Environment, v.SLSALevel, e.Level)
		}
		for _, g := range e.Gaps {
			if !contains(v.Gaps, g) {
				t.Errorf("%s in %s: gaps %v lack %s", e.Image, e.Environment, v.Gaps, g)
			}
		}
		if len(v.Gaps) != len(e.Gaps) {
			t.Errorf("%s in %s: gaps %v, want %v", e.Image, e.Environment, v.Gaps, e.Gaps)
		}
	}
}

// TestScan crawls the seeded registry: every artifact once, with every attachment format.
func TestScan(t *testing.T) {
	sr := seed(t)
	code, out, errOut := run(t, append([]string{"scan", sr.host, "--insecure", "-o", "json"}, sr.trustArgs()...)...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var results []struct {
		Image     string `json:"image"`
		SLSALevel int    `json:"slsa_level"`
		Evidence  []struct {
			Kind     string `json:"kind"`
			Source   string `json:"source"`
			Verified bool   `json:"verified"`
		} `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	artifacts := map[string]bool{}
	for _, e := range sr.world.Expected {
		artifacts[e.Image.String()] = true
	}
	if len(results) != len(artifacts) {
		t.Fatalf("%d results, want %d (one per artifact)", len(results), len(artifacts))
	}
	for _, r := range results {
		if !artifacts[r.Image] {
			t.Errorf("unexpected artifact %s", r.Image)
		}
		if !strings.Contains(r.Image, "/acme/release-train@") {
			continue
		}
		sources := map[string]bool{}
		for _, e := range r.Evidence {
			sources[e.Kind+" "+e.Source] = true
		}
		for _, want := range []string{"provenance oci-referrers", "provenance cosign-tag", "other cosign-tag", "sbom cosign-tag", "sbom oci-referrers"} {
			if !sources[want] {
				t.Errorf("release-train lacks %s: %v", want, sources)
			}
		}
		if r.SLSALevel != 3 {
			t.Errorf("release-train level %d, want 3", r.SLSALevel)
		}
	}
	// Filters: one repository, and a pattern that matches nothing.
	code, out, _ = run(t, append([]string{"scan", sr.host, "--insecure", "-o", "json", "--include", "acme/payments-*"}, sr.trustArgs()...)...)
	if code != cli.ExitOK || strings.Count(out, `"image":`) != 1 || !strings.Contains(out, "payments-api") {
		t.Errorf("--include acme/payments-*: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, append([]string{"scan", sr.host, "--insecure", "-o", "json", "--exclude", "acme/*"}, sr.trustArgs()...)...)
	if code != cli.ExitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("--exclude acme/*: exit %d\n%s", code, out)
	}
	// Without --insecure, plain HTTP to the registry is refused, with a hint.
	code, _, errOut = run(t, append([]string{"scan", sr.host}, sr.trustArgs()...)...)
	if code != cli.ExitFailure || !strings.Contains(errOut, "insecure") {
		t.Errorf("without --insecure: exit %d, %s", code, errOut)
	}
	// A gate over the whole crawl.
	code, _, errOut = run(t, append([]string{"scan", sr.host, "--insecure", "--min-level", "1"}, sr.trustArgs()...)...)
	if code != cli.ExitFailure || !strings.Contains(errOut, "legacy-batch") {
		t.Errorf("--min-level 1 over the demo: exit %d, %s", code, errOut)
	}
}
