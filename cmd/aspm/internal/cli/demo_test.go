package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// TestDemoSeed seeds a real in-process registry, NATS and a SQLite store as docker-compose.yml's
// seeder does, runs it again (nothing pushed twice, the same trust, the same tokens), then on an
// empty registry (seeded afresh) — and checks the evidence verifies against the files it wrote.
func TestDemoSeed(t *testing.T) {
	ctx := context.Background()
	reg := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	ns, b := bustest.Connect(t)
	dir := t.TempDir()
	trust, tokens := filepath.Join(dir, "trust"), filepath.Join(dir, "tokens")
	seedArgs := func(host string) []string {
		return []string{"demo", "seed", "--registry", host, "--plain-http", "--trust-dir", trust,
			"--nats-url", ns.ClientURL(), "--token-dir", tokens, "--store", "sqlite",
			"--sqlite-path", filepath.Join(dir, "aspm.db"), "--dashboard-url", "http://localhost:8080/"}
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	verifyPayments := func(host string) {
		t.Helper()
		var deps []evidence.Deployment
		if err := json.Unmarshal([]byte(read(filepath.Join(trust, "demo-deployments.json"))), &deps); err != nil {
			t.Fatal(err)
		}
		img := ""
		for _, d := range deps {
			if d.Workload == "payments-api" && d.Environment == "prod" && strings.HasPrefix(d.Image.Repository, host+"/") {
				img = d.Image.String()
			}
		}
		if img == "" {
			t.Fatalf("the seeded deployments lack payments-api in prod on %s", host)
		}
		v := verifyJSON(t, cli.ExitOK, img, "--env", "prod", "--insecure-registry", host,
			"--trusted-root", "demo="+filepath.Join(trust, "trusted_root.json"),
			"--key", demo.KeyName+"="+filepath.Join(trust, demo.KeyName+".pub"))
		if v.SLSALevel != 3 || len(v.Gaps) != 0 {
			t.Errorf("payments-api against the written trust: level %d, gaps %v; want 3 and none", v.SLSALevel, v.Gaps)
		}
	}

	code, out, errOut := run(t, seedArgs(host)...)
	if code != cli.ExitOK {
		t.Fatalf("first seed: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Seeded " + host, "made an admin token", "Dashboard: http://localhost:8080/#token=aspm_"} {
		if !strings.Contains(out, want) {
			t.Errorf("first seed's output lacks %q:\n%s", want, out)
		}
	}
	info, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != uint64(demo.Deployments()) {
		t.Errorf("stream holds %d messages, want the %d demo deployments", si.State.Msgs, demo.Deployments())
	}
	root, demoTok, adminTok := read(filepath.Join(trust, "trusted_root.json")), read(filepath.Join(tokens, "demo-token")), read(filepath.Join(tokens, "admin-token"))
	if strings.Contains(out, strings.TrimSpace(adminTok)) {
		t.Error("the admin token's secret was printed")
	}
	if fi, err := os.Stat(filepath.Join(tokens, "admin-token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	verifyPayments(host)

	// Again: already seeded, the same root and tokens, no second admin token.
	code, out, errOut = run(t, seedArgs(host)...)
	if code != cli.ExitOK {
		t.Fatalf("second seed: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Demo already seeded") || strings.Contains(out, "admin token") {
		t.Errorf("second seed's output:\n%s", out)
	}
	if read(filepath.Join(trust, "trusted_root.json")) != root || read(filepath.Join(tokens, "demo-token")) != demoTok {
		t.Error("second seed changed the trusted root or the demo token")
	}
	verifyPayments(host) // no second, differently signed provenance attached

	// A registry without the demo (its volume removed): seeded afresh, under a new root.
	reg2 := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(reg2.Close)
	host2 := strings.TrimPrefix(reg2.URL, "http://")
	code, out, errOut = run(t, seedArgs(host2)...)
	if code != cli.ExitOK {
		t.Fatalf("seed of a new registry: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Seeded "+host2) || read(filepath.Join(trust, "trusted_root.json")) == root {
		t.Errorf("a new registry was not seeded afresh:\n%s", out)
	}
	verifyPayments(host2)

	code, _, errOut = run(t, "demo", "seed", "--trust-dir", trust)
	if code != cli.ExitUsage || !strings.Contains(errOut, "--registry") {
		t.Errorf("without --registry: exit %d, %s", code, errOut)
	}
	var buf bytes.Buffer
	if cli.Main([]string{"demo", "seed", "--registry", host, "--trust-dir", trust, "--token-dir", tokens, "--store", "nope"}, &buf, &buf) != cli.ExitUsage {
		t.Errorf("a bad store driver was accepted: %s", buf.String())
	}
}
