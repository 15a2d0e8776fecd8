package scorer_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// copyPolicies writes the built-in policies to a directory a test can change.
func copyPolicies(t *testing.T) string {
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
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPolicyHotReload changes the policy under a running scorer: a good change is picked up
// without a restart and recorded on scores; a broken one is rejected and the previous policy
// keeps serving.
func TestPolicyHotReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := copyPolicies(t)
	pol, err := policy.LoadPath(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	v1 := pol.Version()
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: ns.ClientURL()}, PolicyPath: dir, PolicyReloadInterval: 20 * time.Millisecond},
		scorer.Deps{Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t0 := time.Unix(1700000000, 0).UTC()
	if err := b.PutDeployment(ctx, evidence.Deployment{Image: img, Environment: "prod", Org: "acme", ObservedAt: t0}); err != nil {
		t.Fatal(err)
	}
	score := func(n int) evidence.Score {
		t.Helper()
		m := event.NewEvidenceCollected("t"+string(rune('a'+n)), evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(time.Duration(n) * time.Minute), Evidence: []evidence.Evidence{}})
		if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			cur, err := st.CurrentScores(ctx, img.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(cur) == 1 && cur[0].EvaluatedAt.Equal(t0.Add(time.Duration(n)*time.Minute)) {
				return cur[0]
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("evaluation %d not scored", n)
		return evidence.Score{}
	}
	if s := score(1); s.PolicyVersion != v1 || s.Risk == 0 {
		t.Fatalf("first score: version %s risk %d; want %s and some risk", s.PolicyVersion, s.Risk, v1)
	}

	// A good change: prod's weight drops to zero, so risk does too.
	envFile := filepath.Join(dir, "data", "environments.json")
	data, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(data), `"weight": 1`, `"weight": 0`, 1)
	if changed == string(data) {
		t.Fatalf("environments.json has no prod weight of 1 to change:\n%s", data)
	}
	if err := os.WriteFile(envFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	var v2 string
	deadline := time.Now().Add(10 * time.Second)
	for n := 2; time.Now().Before(deadline); n++ {
		if s := score(n); s.PolicyVersion != v1 {
			v2 = s.PolicyVersion
			if s.Risk != 0 {
				t.Errorf("after the change: risk %d, want 0", s.Risk)
			}
			break
		}
	}
	if v2 == "" {
		t.Fatal("the changed policy was never picked up")
	}

	// A broken change is rejected: scores keep the last good version.
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package aspm\n\nthis is not rego"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several reload intervals
	if s := score(100); s.PolicyVersion != v2 {
		t.Errorf("after a broken change: version %s, want the last good %s", s.PolicyVersion, v2)
	}
}
