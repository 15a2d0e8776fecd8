package cli_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/backend"
)

// TestBench runs a tiny benchmark and checks the shape of its JSON and, in the store it
// leaves behind, that every artifact was scored. It asserts no figures.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "bench", "-n", "5", "--sbom-components", "3", "--rescan", "--work-dir", dir, "--timeout", "2m")
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal, yet got %q", errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"artifacts_per_second", "sbom_components_per_second", "peak_rss_bytes", "bare_verify_per_second", "ratio", "rescan_cost_ratio", "seconds"} {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, res[k])
		}
	}
	if res["artifacts"] != 5.0 || res["scored"] != 5.0 || res["store"] != "sqlite" {
		t.Errorf("artifacts %v, scored %v, store %v; want 5, 5, sqlite", res["artifacts"], res["scored"], res["store"])
	}
	stages, _ := res["stages"].(map[string]any)
	for _, k := range []string{"fetch", "verify", "parse", "publish", "evaluate", "store"} {
		if v, ok := stages[k].(float64); !ok || v <= 0 {
			t.Errorf("stages.%s = %v, want a positive number of milliseconds", k, stages[k])
		}
	}

	// The store the run wrote: five artifacts, each with a current score.
	ctx := context.Background()
	st, err := backend.Open(ctx, backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(dir, "aspm.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	items, _, err := st.ListArtifacts(ctx, store.ArtifactQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 5 {
		t.Fatalf("the store lists %d artifacts, want 5", len(items))
	}
	for _, a := range items {
		scores, err := st.CurrentScores(ctx, a.Image.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(scores) != 1 || !scores[0].VerifiedProvenance {
			t.Errorf("%s: current scores %+v, want one with verified provenance", a.Image, scores)
		}
	}
}

func TestBenchHelp(t *testing.T) {
	code, out, _ := run(t, "bench", "--help")
	if code != cli.ExitOK || !strings.Contains(out, "aspm bench --sbom-components 0") || !strings.Contains(out, "rescan_cost_ratio") {
		t.Errorf("exit %d, help %q: want examples and the JSON fields explained", code, out)
	}
}
