package cli_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/cmd/aspm/internal/up"
	"github.com/aspmhq/aspm/policies"
)

// demoData runs aspm up --demo until the demo is scored, then stops it, leaving its store.
func demoData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- up.Run(ctx, up.Config{Listen: "127.0.0.1:0", DataDir: dir, Demo: true, OnReady: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("aspm up --demo: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("demo not ready in 2 minutes")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return dir
}

func candidatePolicy(t *testing.T, edit func(name string, b []byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), edit(p, b), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPolicySimulate asks what happens on the demo data if prod required only L2.
func TestPolicySimulate(t *testing.T) {
	data := demoData(t)
	candidate := candidatePolicy(t, func(name string, b []byte) []byte {
		if name != "data/environments.json" {
			return b
		}
		var m map[string]map[string]map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m["aspm"]["environments"]["prod"].(map[string]any)["min_level"] = 2
		out, _ := json.Marshal(m)
		return out
	})
	code, out, errOut := run(t, "policy", "simulate", "--policies", candidate, "--data-dir", data, "--env", "prod", "-o", "json")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Environments map[string]struct {
			Artifacts int
			Levels    map[string]struct{ Before, After int }
			Gaps      map[string]struct{ Before, After int }
			Changed   []struct {
				Image      string
				From, To   string
				GapsClosed []string `json:"gaps_closed"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.Environments) != 1 {
		t.Fatalf("environments %v, want only prod", res.Environments)
	}
	prod := res.Environments["prod"]
	// Levels do not move: the requirement changes, not the evidence.
	for l, c := range prod.Levels {
		if c.Before != c.After {
			t.Errorf("%s: %d -> %d", l, c.Before, c.After)
		}
	}
	// auth-service (L2 in prod) stops being below the requirement; legacy-batch (L0) does not.
	g := prod.Gaps["level.below_required"]
	if g.Before != 2 || g.After != 1 {
		t.Errorf("level.below_required in prod: %d -> %d, want 2 -> 1", g.Before, g.After)
	}
	if len(prod.Changed) != 1 || !strings.Contains(prod.Changed[0].Image, "/acme/auth-service@") || len(prod.Changed[0].GapsClosed) != 1 {
		t.Errorf("changed = %+v", prod.Changed)
	}

	// The text report names the artifact and the gap.
	code, out, _ = run(t, "policy", "simulate", "--policies", candidate, "--data-dir", data)
	if code != cli.ExitOK || !strings.Contains(out, "auth-service") || !strings.Contains(out, "-level.below_required") {
		t.Errorf("text report:\n%s", out)
	}
	// YAML has the JSON's fields; table and text are the report above.
	if res := sameData(t, "policy", "simulate", "--policies", candidate, "--data-dir", data).(map[string]any); res["environments"] == nil {
		t.Errorf("simulate -o json: %v", res)
	}
	sameHuman(t, "policy", "simulate", "--policies", candidate, "--data-dir", data)
	// The unchanged policy changes nothing.
	same := candidatePolicy(t, func(_ string, b []byte) []byte { return b })
	code, out, _ = run(t, "policy", "simulate", "--policies", same, "--data-dir", data, "-o", "json")
	if code != cli.ExitOK || strings.Contains(out, `"image"`) {
		t.Errorf("the built-in policy against its own scores changed something:\n%s", out)
	}
	if code, _, errOut = run(t, "policy", "simulate", "--data-dir", data); code != cli.ExitUsage || !strings.Contains(errOut, "--policies") {
		t.Errorf("without --policies: %d %s", code, errOut)
	}
}
