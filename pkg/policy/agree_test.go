package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/aspmhq/aspm/pkg/policy"
)

// plainOPA evaluates the default policies the plain way: input as JSON, OPA's own caches and
// result conversion. The Engine's shortcuts must not change a decision.
func plainOPA(t *testing.T) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){rego.Query(policy.Query), rego.SetRegoVersion(ast.RegoV1), rego.StrictBuiltinErrors(true)}
	files, err := filepath.Glob(filepath.Join(policiesDir, "*.rego"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, rego.Module(f, string(src)))
	}
	aspm := map[string]any{}
	dataFiles, err := filepath.Glob(filepath.Join(policiesDir, "data", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range dataFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Aspm map[string]any }
		if err := util.UnmarshalJSON(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for k, v := range doc.Aspm {
			aspm[k] = v
		}
	}
	opts = append(opts, rego.Store(inmem.NewFromObject(map[string]any{"aspm": aspm})))
	q, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestEvaluateAgreesWithPlainOPA(t *testing.T) {
	engine := MustLoad(t)
	plain := plainOPA(t)
	inputs := map[string]policy.Input{"realistic": realisticInput()}
	paths, err := filepath.Glob(filepath.Join(policiesDir, "testdata", "*.input.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".input.json")
		inputs[name] = goldenInput(t, name)
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			got, err := engine.Evaluate(context.Background(), in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			raw, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := util.UnmarshalJSON(raw, &doc); err != nil {
				t.Fatal(err)
			}
			rs, err := plain.Eval(context.Background(), rego.EvalInput(doc))
			if err != nil || len(rs) != 1 {
				t.Fatalf("plain OPA: %v, %v", rs, err)
			}
			raw, err = json.Marshal(rs[0].Expressions[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			var want policy.Decision
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Evaluate differs from plain OPA (-plain +Evaluate):\n%s", diff)
			}
		})
	}
}
