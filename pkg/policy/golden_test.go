package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite policies/testdata/*.decision.json and policies/testdata/real/*.decision.json from the current policies")

// TestGolden evaluates each policies/testdata/<case>.input.json with the default policies and
// compares the decision with <case>.decision.json; -update rewrites the decisions.
func TestGolden(t *testing.T) {
	engine := MustLoad(t)
	inputs, err := filepath.Glob(filepath.Join(policiesDir, "testdata", "*.input.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s/testdata: %v", policiesDir, err)
	}
	for _, inPath := range inputs {
		name := strings.TrimSuffix(filepath.Base(inPath), ".input.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			var in policy.Input
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				t.Fatalf("decoding %s: %v", inPath, err)
			}
			got, err := engine.Evaluate(context.Background(), in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			gotJSON, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gotJSON = append(gotJSON, '\n')
			outPath := strings.TrimSuffix(inPath, ".input.json") + ".decision.json"
			if *update {
				if err := os.WriteFile(outPath, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(gotJSON)); diff != "" {
				t.Errorf("decision for %s differs from %s (-want +got):\n%s", inPath, outPath, diff)
			}
		})
	}
}
