package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/pkg/verify"
	"github.com/aspmhq/aspm/pkg/vsa"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

type vsaOutput struct {
	verdictJSON
	VSAs []struct {
		Referrer string `json:"referrer"`
		Source   string `json:"source"`
		Valid    bool   `json:"valid"`
		Error    string `json:"error"`
		VSA      *struct {
			VerifierID  string `json:"verifier_id"`
			ResourceURI string `json:"resource_uri"`
			Result      string `json:"verification_result"`
			Environment string `json:"environment"`
			Level       int    `json:"slsa_level"`
			Key         string `json:"key"`
		} `json:"vsa"`
	} `json:"vsas"`
}

// scoreWithVSAs runs the scorer with a fresh VSA key over the demo deployments of the images
// named, collecting their evidence from the seeded registry as ingest does, and waits until
// they are scored. It returns the VSA public key's path.
func scoreWithVSAs(t *testing.T, sr seededRegistry, names ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "vsa.key")
	if _, err := vsa.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	ns, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scorer.New(scorer.Config{
		Bus: bus.Config{URL: ns.ClientURL()},
		VSA: scorer.VSAConfig{KeyPath: keyPath, Registry: oci.Config{Insecure: []string{sr.host}}},
	}, scorer.Deps{Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scorer: %v", err)
		}
		st.Close()
	})

	tr, err := verify.LoadTrustedRoot(sr.rootPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := verify.LoadTrustedKey(demo.KeyName, sr.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := []verify.NamedRoot{{Name: "demo", Material: tr}}
	v, err := verify.New(roots, []verify.TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	client, err := oci.New(oci.Config{Insecure: []string{sr.host}})
	if err != nil {
		t.Fatal(err)
	}
	col := collect.New(client, v, collect.EnvelopeTrust{Keys: []verify.TrustedKey{key}, Roots: roots})
	want := map[evidence.Digest]int{}
	var sets []evidence.ArtifactEvidence
	for _, d := range sr.world.Deployments {
		for _, n := range names {
			if !strings.HasSuffix(d.Image.Repository, "/"+n) {
				continue
			}
			if err := b.PutDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
			if want[d.Image.Digest]++; want[d.Image.Digest] == 1 {
				set, err := col.Collect(ctx, d.Image, verify.Options{})
				if err != nil {
					t.Fatal(err)
				}
				sets = append(sets, set)
			}
		}
	}
	if len(want) != len(names) {
		t.Fatalf("found %d of the demo images %v", len(want), names)
	}
	for _, set := range sets {
		if err := b.Publish(ctx, event.SubjectEvidenceCollected, event.NewEvidenceCollected("deploy", set)); err != nil {
			t.Fatal(err)
		}
	}
	return waitScored(t, st, want, keyPath)
}

func waitScored(t *testing.T, st *sqlite.Store, want map[evidence.Digest]int, keyPath string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d, n := range want {
		for {
			h, err := st.ScoreHistory(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d scores, want %d", d, len(h), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return keyPath + ".pub"
}

// TestVerifyVSA is the end-to-end case: the scorer issues VSAs for what passes, pushes them
// to the registry, and aspm verify accepts them back with the public key.
func TestVerifyVSA(t *testing.T) {
	sr := seed(t)
	pub := scoreWithVSAs(t, sr, "payments-api", "auth-service")
	var pass, fail evidence.ImageRef
	for _, e := range sr.world.Expected {
		switch {
		case strings.HasSuffix(e.Image.Repository, "/payments-api"):
			pass = e.Image
		case strings.HasSuffix(e.Image.Repository, "/auth-service"):
			fail = e.Image
		}
	}
	// The VSAs are pushed after the scores are written.
	c, err := oci.New(oci.Config{Insecure: []string{sr.host}})
	if err != nil {
		t.Fatal(err)
	}
	var found []vsa.Attached
	for deadline := time.Now().Add(10 * time.Second); len(found) < 2 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if found, err = vsa.Find(context.Background(), c, pass); err != nil {
			t.Fatal(err)
		}
	}
	base := append([]string{"--insecure-registry", sr.host, "--key", "vsa=" + pub}, sr.trustArgs()...)
	vsaJSON := func(wantCode int, args ...string) vsaOutput {
		t.Helper()
		code, out, errOut := run(t, append(append([]string{"verify", "-o", "json"}, args...), base...)...)
		if code != wantCode {
			t.Fatalf("verify %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
		}
		var v vsaOutput
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out)
		}
		return v
	}

	// The passing artifact has one valid VSA per environment, and prod's is L3.
	v := vsaJSON(cli.ExitOK, pass.String(), "--vsa-env", "prod", "--vsa-level", "3", "--vsa-verifier", vsa.DefaultVerifierID)
	if v.SLSALevel != 3 || len(v.VSAs) != 2 {
		t.Fatalf("level %d, %d VSAs, want L3 and 2: %+v", v.SLSALevel, len(v.VSAs), v.VSAs)
	}
	envs := map[string]bool{}
	for _, r := range v.VSAs {
		if r.VSA == nil || r.VSA.Key != "vsa" || r.VSA.Result != "PASSED" || r.VSA.Level != 3 || r.VSA.ResourceURI != pass.String() || r.Source != oci.SourceReferrers {
			t.Errorf("VSA %+v", r)
			continue
		}
		envs[r.VSA.Environment] = true
		// Valid means it meets the requirements too: only prod's does.
		if r.Valid != (r.VSA.Environment == "prod") {
			t.Errorf("VSA for %s: valid %v, error %q", r.VSA.Environment, r.Valid, r.Error)
		}
	}
	if !envs["prod"] || !envs["staging"] {
		t.Errorf("VSAs for %v, want prod and staging", envs)
	}
	// Ingest's collector sees the VSAs as VSA attestations, not as provenance, and their
	// signatures as checked with the VSA key.
	n := 0
	for _, e := range v.Evidence {
		if e.PredicateType == vsa.PredicateType {
			n++
			if e.Kind != "vsa" || e.BuilderID != "" || !e.Verified || e.Signer == nil || e.Signer.Identity != "vsa" {
				t.Errorf("VSA evidence %+v", e)
			}
		}
	}
	if n != 2 {
		t.Errorf("the collector found %d VSAs, want 2", n)
	}

	// Text output names them.
	code, out, errOut := run(t, append([]string{"verify", pass.String(), "--vsa-env", "staging"}, base...)...)
	if code != cli.ExitOK || !strings.Contains(out, "PASSED, SLSA_BUILD_LEVEL_3 in staging") || !strings.Contains(out, "status       valid") ||
		!strings.Contains(out, `signature verified, but not what is required: VSA rejected: environment "prod", want "staging"`) {
		t.Errorf("text: exit %d\n%s\n%s", code, out, errOut)
	}

	// Requirements no VSA meets fail the gate.
	for _, args := range [][]string{
		{pass.String(), "--vsa-env", "dev"},
		{pass.String(), "--vsa-verifier", "https://other.example/verifier"},
		{fail.String(), "--require-vsa"},
	} {
		code, out, errOut := run(t, append(append([]string{"verify"}, args...), base...)...)
		if code != cli.ExitFailure || !strings.Contains(errOut, "gate not met") {
			t.Errorf("verify %v: exit %d, want %d\n%s\n%s", args, code, cli.ExitFailure, out, errOut)
		}
	}
	v = vsaJSON(cli.ExitFailure, fail.String(), "--vsa-level", "2")
	if len(v.VSAs) != 0 {
		t.Errorf("the artifact below prod's level has VSAs: %+v", v.VSAs)
	}

	// Signed by another key, the VSAs are invalid.
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := vsa.GenerateKey(other); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, append([]string{"verify", "-o", "json", pass.String(), "--require-vsa", "--insecure-registry", sr.host,
		"--key", "vsa=" + other + ".pub"}, sr.trustArgs()...)...)
	var wrong vsaOutput
	if err := json.Unmarshal([]byte(out), &wrong); err != nil || code != cli.ExitFailure || len(wrong.VSAs) != 2 {
		t.Fatalf("wrong key: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	for _, r := range wrong.VSAs {
		if r.Valid || r.VSA != nil || !strings.Contains(r.Error, "no trusted key verifies it") {
			t.Errorf("VSA checked with the wrong key: %+v", r)
		}
	}
	for _, e := range wrong.Evidence {
		if e.PredicateType == vsa.PredicateType && e.Verified {
			t.Errorf("VSA evidence verified with the wrong key: %+v", e)
		}
	}

	// A VSA bundle file is checked against --digest.
	file := filepath.Join(t.TempDir(), "vsa.sigstore.json")
	if err := os.WriteFile(file, found[0].Bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "verify", "-o", "json", "--bundle", file, "--digest", string(pass.Digest), "--key", "vsa="+pub, "--require-vsa")
	var fromFile vsaOutput
	if err := json.Unmarshal([]byte(out), &fromFile); err != nil || code != cli.ExitOK || len(fromFile.VSAs) != 1 || !fromFile.VSAs[0].Valid ||
		len(fromFile.Evidence) != 1 || fromFile.Evidence[0].Kind != "vsa" || !fromFile.Evidence[0].Verified {
		t.Errorf("VSA file: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if code, out, errOut := run(t, "verify", "--bundle", file, "--digest", string(fail.Digest), "--key", "vsa="+pub, "--require-vsa"); code != cli.ExitFailure {
		t.Errorf("VSA file about another artifact: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestVerifyVSAUsage(t *testing.T) {
	for _, args := range [][]string{
		{"verify", "registry.example/a@sha256:" + strings.Repeat("a", 64), "--vsa-env", "prod"},
		{"verify", "registry.example/a@sha256:" + strings.Repeat("a", 64), "--vsa-level", "4", "--key", "k=x.pub"},
		{"verify", "--bundle", "x.json", "--require-vsa", "--key", "k=x.pub"},
	} {
		if code, _, errOut := run(t, args...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, cli.ExitUsage, errOut)
		}
	}
}
