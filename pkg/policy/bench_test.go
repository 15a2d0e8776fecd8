package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aspmhq/aspm/pkg/policy"
)

// BenchmarkEvaluate measures one decision on the largest golden input.
func BenchmarkEvaluate(b *testing.B) {
	engine := MustLoad(b)
	raw, err := os.ReadFile(filepath.Join(policiesDir, "testdata", "l1-identity-mismatch-prod.input.json"))
	if err != nil {
		b.Fatal(err)
	}
	var in policy.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
