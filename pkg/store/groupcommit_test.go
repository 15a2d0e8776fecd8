package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

// recorder is a real SQLite store that records the batches written through it, holds the
// first one until released, and fails every batch holding a digest in bad.
type recorder struct {
	*sqlite.Store
	release chan struct{}

	mu      sync.Mutex
	batches [][]evidence.Digest
	bad     map[evidence.Digest]bool
}

func (r *recorder) WriteEvaluations(ctx context.Context, evs []store.Evaluation) error {
	r.mu.Lock()
	first := len(r.batches) == 0
	var ds []evidence.Digest
	failed := false
	for _, ev := range evs {
		ds = append(ds, ev.Evidence.Image.Digest)
		failed = failed || r.bad[ev.Evidence.Image.Digest]
	}
	r.batches = append(r.batches, ds)
	r.mu.Unlock()
	if first {
		<-r.release
	}
	if failed {
		return errors.New("refused")
	}
	return r.Store.WriteEvaluations(ctx, evs)
}

func digestOf(name string) evidence.Digest {
	sum := sha256.Sum256([]byte(name))
	return evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// evaluationOf is artifact name deployed to prod and scored L3 at at.
func evaluationOf(name string, at time.Time) store.Evaluation {
	img := evidence.ImageRef{Repository: "registry.example.com/apps/" + name, Digest: digestOf(name)}
	dep := evidence.Deployment{Image: img, Environment: "prod", Cluster: "c", Namespace: "n", Workload: name, Org: "acme", Team: "pay", ObservedAt: at}
	sc := evidence.Score{Image: img, Environment: "prod", Org: "acme", Team: "pay", Level: evidence.Level(3), VerifiedProvenance: true,
		Explanation: []string{"level L3"}, PolicyVersion: "p1", EvaluationID: fmt.Sprintf("%s@%d", name, at.Unix()), EvaluatedAt: at}
	return store.Evaluation{Evidence: evidence.ArtifactEvidence{Image: img, CollectedAt: at}, Deployments: []evidence.Deployment{dep}, Scores: []evidence.Score{sc}}
}

func TestGroupCommit(t *testing.T) {
	ctx := t.Context()
	base, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "aspm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	rec := &recorder{Store: base, release: make(chan struct{}), bad: map[evidence.Digest]bool{digestOf("app-7"): true}}
	const limit = 8
	g := store.NewGroupCommit(rec, limit)

	// 30 artifacts, and app-0 … app-4 evaluated a second time, an hour later: 35 callers at
	// once, as a scorer's workers are.
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var evs []store.Evaluation
	for i := range 30 {
		evs = append(evs, evaluationOf(fmt.Sprintf("app-%d", i), at))
	}
	for i := range 5 {
		evs = append(evs, evaluationOf(fmt.Sprintf("app-%d", i), at.Add(time.Hour)))
	}
	errs := make([]error, len(evs))
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Go(func() { errs[i] = g.WriteEvaluation(ctx, ev) })
	}
	// The first batch is held until every caller has queued behind it (or 10 s have passed).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		n := len(rec.batches)
		rec.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(rec.release)
	wg.Wait()

	for i, err := range errs {
		bad := evs[i].Evidence.Image.Digest == digestOf("app-7")
		if bad != (err != nil) {
			t.Errorf("caller %d (%s): error %v; only app-7's caller must fail", i, evs[i].Evidence.Image.Repository, err)
		}
	}
	largest, written := 0, 0
	for _, b := range rec.batches {
		largest = max(largest, len(b))
		if len(b) > limit {
			t.Errorf("a batch of %d evaluations, more than the %d allowed", len(b), limit)
		}
		seen := map[evidence.Digest]bool{}
		for _, d := range b {
			if seen[d] {
				t.Errorf("two evaluations of %s in one batch", d)
			}
			seen[d] = true
		}
		written += len(b)
	}
	if largest < 2 {
		t.Errorf("largest batch %d: callers that queue while a batch is written must share the next", largest)
	}
	// The store holds 29 artifacts, and the later evaluation of app-0 … app-4.
	items, _, err := base.ListArtifacts(ctx, store.ArtifactQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 29 {
		t.Errorf("%d artifacts stored, want 29 (all but app-7)", len(items))
	}
	for i := range 5 {
		scores, err := base.CurrentScores(ctx, digestOf(fmt.Sprintf("app-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(scores) != 1 || !scores[0].EvaluatedAt.Equal(at.Add(time.Hour)) {
			t.Errorf("app-%d current scores %+v, want the later evaluation", i, scores)
		}
	}
	t.Logf("%d batches for %d evaluations (largest %d)", len(rec.batches), written, largest)

	// Invalid input fails at once, without a batch.
	before := len(rec.batches)
	bad := evaluationOf("app-x", at)
	bad.Evidence.Image.Digest = "sha256:nothex"
	if err := g.WriteEvaluation(ctx, bad); !errors.Is(err, evidence.ErrInvalid) {
		t.Errorf("invalid evaluation: error %v, want one wrapping evidence.ErrInvalid", err)
	}
	if len(rec.batches) != before {
		t.Error("an invalid evaluation was handed to the store")
	}
	// A caller whose context ends stops waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.WriteEvaluation(cctx, evaluationOf("app-y", at)); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: error %v", err)
	}
}
