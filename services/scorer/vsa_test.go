package scorer_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestPasses(t *testing.T) {
	ok := evidence.Score{VerifiedProvenance: true, Level: 3, Gaps: []evidence.Gap{{Code: "sbom.unsigned", Severity: "medium"}, {Code: "tlog.missing", Severity: "low"}}}
	tests := []struct {
		name string
		edit func(*evidence.Score)
		want bool
	}{
		{"verified, only medium and low gaps", func(*evidence.Score) {}, true},
		{"no verified provenance", func(s *evidence.Score) { s.VerifiedProvenance = false }, false},
		{"below the environment's level", func(s *evidence.Score) {
			s.Gaps = append(s.Gaps, evidence.Gap{Code: "level.below_required", Severity: "medium"})
		}, false},
		{"a high gap", func(s *evidence.Score) { s.Gaps = append(s.Gaps, evidence.Gap{Code: "sbom.missing", Severity: "high"}) }, false},
		{"a critical gap", func(s *evidence.Score) {
			s.Gaps = append(s.Gaps, evidence.Gap{Code: "signature.invalid", Severity: "critical"})
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			s.Gaps = slices.Clone(ok.Gaps)
			tc.edit(&s)
			if got := scorer.Passes(s); got != tc.want {
				t.Errorf("Passes = %v, want %v", got, tc.want)
			}
		})
	}
}

// vsaWorld is the demo seeded into an in-process registry, with a collector that trusts it.
type vsaWorld struct {
	host   string
	client *oci.Client
	world  *demo.World
	col    *collect.Collector
}

func seedVSAWorld(t *testing.T) vsaWorld {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	w, err := demo.Seed(ctx, client, host, ss)
	if err != nil {
		t.Fatal(err)
	}
	roots := []verify.NamedRoot{{Name: "demo", Material: ss.TrustedRoot()}}
	keys := []verify.TrustedKey{{Name: demo.KeyName, PublicKey: ss.PublicKey()}}
	v, err := verify.New(roots, keys)
	if err != nil {
		t.Fatal(err)
	}
	return vsaWorld{host: host, client: client, world: w, col: collect.New(client, v, collect.EnvelopeTrust{Keys: keys, Roots: roots})}
}

func (w vsaWorld) image(t *testing.T, name string) evidence.ImageRef {
	t.Helper()
	for _, d := range w.world.Deployments {
		if strings.HasSuffix(d.Image.Repository, "/"+name) {
			return d.Image
		}
	}
	t.Fatalf("no demo artifact %s", name)
	return evidence.ImageRef{}
}

// observe puts img's demo deployments and publishes its collected evidence as trigger.
func (w vsaWorld) observe(t *testing.T, b *bus.Bus, img evidence.ImageRef, trigger string) {
	t.Helper()
	ctx := context.Background()
	for _, d := range w.world.Deployments {
		if d.Image == img {
			if err := b.PutDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	set, err := w.col.Collect(ctx, img, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, event.SubjectEvidenceCollected, event.NewEvidenceCollected(trigger, set)); err != nil {
		t.Fatal(err)
	}
}

// runScorer runs a scorer until the returned function (or the test's cleanup) stops it.
func runScorer(t *testing.T, cfg scorer.Config, deps scorer.Deps) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := scorer.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitScores(t *testing.T, st *sqlite.Store, d evidence.Digest, n int) []evidence.Score {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h, err := st.ScoreHistory(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) >= n || time.Now().After(deadline) {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vsas returns the VSAs attached to img that verify with key, by environment.
func vsas(t *testing.T, c *oci.Client, v *vsa.Verifier, img evidence.ImageRef) map[string][]vsa.Result {
	t.Helper()
	found, err := vsa.Find(context.Background(), c, img)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]vsa.Result{}
	for _, f := range found {
		if f.Err != nil {
			t.Fatalf("reading VSA %s: %v", f.Attachment.Digest, f.Err)
		}
		res, err := v.Verify(f.Bundle, img.Digest, vsa.Requirements{})
		if err != nil {
			t.Fatalf("VSA %s: %v", f.Attachment.Digest, err)
		}
		out[res.Environment] = append(out[res.Environment], res)
	}
	return out
}

// TestIssueVSA runs the scorer with a VSA key on real evidence collected from a registry: the
// artifact that passes gets one VSA per environment, pushed once however often it is
// rescored; the one that fails gets none; ingest then sees the VSAs as VSA attestations, and
// they change no score.
func TestIssueVSA(t *testing.T) {
	ctx := context.Background()
	w := seedVSAWorld(t)
	ns, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "vsa.key")
	key, err := vsa.GenerateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := scorer.Config{
		Bus: bus.Config{URL: ns.ClientURL()},
		VSA: scorer.VSAConfig{KeyPath: keyPath, Registry: oci.Config{Insecure: []string{w.host}}},
	}
	stop := runScorer(t, cfg, scorer.Deps{Store: st, Policy: pol})
	ver, err := vsa.NewVerifier(vsa.PublicKey{Name: "scorer", Key: key.GetPublicKey()})
	if err != nil {
		t.Fatal(err)
	}

	pass := w.image(t, "payments-api") // prod and staging, L3, no gaps
	fail := w.image(t, "auth-service") // prod, L2: level.below_required
	w.observe(t, b, pass, "deploy-1")
	w.observe(t, b, fail, "deploy-1")
	if h := waitScores(t, st, pass.Digest, 2); len(h) != 2 {
		t.Fatalf("%d scores of %s, want 2", len(h), pass)
	}
	if h := waitScores(t, st, fail.Digest, 1); len(h) != 1 {
		t.Fatalf("%d scores of %s, want 1", len(h), fail)
	}
	var got map[string][]vsa.Result
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = vsas(t, w.client, ver, pass); len(got["prod"])+len(got["staging"]) == 2 {
			break
		}
	}
	for _, env := range []string{"prod", "staging"} {
		if len(got[env]) != 1 {
			t.Fatalf("%d VSAs for %s, want 1 (all: %+v)", len(got[env]), env, got)
		}
		r := got[env][0]
		if r.Level != 3 || r.ResourceURI != pass.String() || r.VerifierID != vsa.DefaultVerifierID ||
			r.PolicyDigest[vsa.PolicyDigestAlgorithm] != pol.Version() || len(r.InputAttestations) < 2 {
			t.Errorf("%s VSA = %+v; want L3 for %s, policy %s, provenance and SBOM as inputs", env, r, pass, pol.Version())
		}
	}
	if n := vsas(t, w.client, ver, fail); len(n) != 0 {
		t.Errorf("the failing artifact got VSAs: %+v", n)
	}

	// Ingest sees the VSAs as VSA attestations about the artifact, not as provenance; a rescan
	// that finds them scores the same and pushes no more VSAs.
	set, err := w.col.Collect(ctx, pass, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range set.Evidence {
		if e.PredicateType == vsa.PredicateType {
			n++
			if e.Kind != evidence.KindAttestation || !e.SubjectMatch || e.Malformed != "" || e.Provenance != nil {
				t.Errorf("VSA evidence %+v", e)
			}
		}
	}
	if n != 2 {
		t.Errorf("ingest found %d VSAs, want 2", n)
	}
	w.observe(t, b, pass, "rescan-1")
	h := waitScores(t, st, pass.Digest, 4)
	if len(h) != 4 {
		t.Fatalf("%d scores after the rescan, want 4", len(h))
	}
	for _, s := range h {
		if s.Level != 3 || len(s.Gaps) != 0 {
			t.Errorf("score after the VSAs were attached: %s %s %v", s.Environment, s.Level, s.GapCodes())
		}
	}
	// A restarted scorer, which remembers nothing, finds the VSAs in the registry.
	stop()
	runScorer(t, cfg, scorer.Deps{Store: st, Policy: pol})
	w.observe(t, b, pass, "rescan-2")
	if h := waitScores(t, st, pass.Digest, 6); len(h) != 6 {
		t.Fatalf("%d scores after the second rescan, want 6", len(h))
	}
	time.Sleep(300 * time.Millisecond)
	if got := vsas(t, w.client, ver, pass); len(got["prod"]) != 1 || len(got["staging"]) != 1 {
		t.Errorf("after rescans: %d prod and %d staging VSAs, want 1 each", len(got["prod"]), len(got["staging"]))
	}
}

// TestIssueVSAPushFailure: a registry that cannot be reached does not lose the score; the
// message is retried.
func TestIssueVSAPushFailure(t *testing.T) {
	ctx := context.Background()
	w := seedVSAWorld(t)
	ns, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "vsa.key")
	if _, err := vsa.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	// The scorer cannot reach the artifact's registry: its client is not allowed plain HTTP
	// to it, as if it were down.
	runScorer(t, scorer.Config{
		Bus: bus.Config{URL: ns.ClientURL()},
		VSA: scorer.VSAConfig{KeyPath: keyPath, Environments: []string{"prod"}, Registry: oci.Config{Retries: -1, Timeout: time.Second}},
	}, scorer.Deps{Store: st, Policy: pol})
	pass := w.image(t, "payments-api")
	w.observe(t, b, pass, "deploy-1")
	h := waitScores(t, st, pass.Digest, 2)
	if len(h) < 2 {
		t.Fatalf("%d scores, want both environments scored although the VSA push failed", len(h))
	}
	ci, err := b.JetStream().Consumer(ctx, bus.StreamEvents, bus.ConsumerScorer)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := ci.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumRedelivered > 0 || info.NumAckPending > 0 && info.Delivered.Consumer > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message whose VSA push failed was not retried: %+v", info)
		}
	}
	if n := len(vsas(t, w.client, mustVerifier(t, keyPath), pass)); n != 0 {
		t.Errorf("%d VSAs pushed through an untrusted connection", n)
	}
}

func mustVerifier(t *testing.T, keyPath string) *vsa.Verifier {
	t.Helper()
	k, err := vsa.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vsa.NewVerifier(vsa.PublicKey{Name: "scorer", Key: k.GetPublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
