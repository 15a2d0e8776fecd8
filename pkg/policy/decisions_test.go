package policy_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/policy"
)

// TestDecisionCache: a repeated input gets the same decision from the cache, a caller cannot
// change a cached decision, and a different input is evaluated afresh.
func TestDecisionCache(t *testing.T) {
	ctx := context.Background()
	cached := MustLoad(t, policy.WithDecisionCache(2))
	plain := MustLoad(t, policy.WithDecisionCache(0))
	in := realisticInput()
	first, err := cached.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Gaps) == 0 {
		t.Fatal("the realistic input has no gaps; the test needs some")
	}
	first.Gaps[0].Code = "tampered"
	again, err := cached.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("cached decision differs from a fresh one (-fresh +cached):\n%s", diff)
	}
	other := in
	other.Environment = "dev"
	d, err := cached.Evaluate(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := plain.Evaluate(ctx, other)
	if diff := cmp.Diff(fresh, d); diff != "" {
		t.Errorf("another environment got a stale decision (-fresh +cached):\n%s", diff)
	}
}
