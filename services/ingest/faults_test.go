package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/oci/registrytest"
	"github.com/aspmhq/aspm/services/ingest"
)

// faultyFront stands in front of a registry: while faults remain it answers each request with
// a 500 or, every third one, by never answering (until the client gives up); then it passes
// requests through.
type faultyFront struct {
	next                        http.Handler
	faults                      atomic.Int64
	served500, hung, passedThru atomic.Int64
}

func (f *faultyFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := f.faults.Add(-1); n >= 0 {
		if n%3 == 0 {
			f.hung.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return
		}
		f.served500.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`))
		return
	}
	f.faults.Store(0)
	f.passedThru.Add(1)
	f.next.ServeHTTP(w, r)
}

// hostKeychain answers the registry's credentials for one host (the front) and anonymous
// access elsewhere.
type hostKeychain struct {
	host string
	reg  *registrytest.Registry
}

func (k hostKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if res.RegistryStr() != k.host {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.reg.Username, Password: k.reg.Password}), nil
}

func counter(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			for _, want := range labels {
				if !slices.Contains(vals, want) {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

const cycloneDX = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[` +
	`{"type":"library","name":"left-pad","version":"1.3.0","purl":"pkg:npm/left-pad@1.3.0"},` +
	`{"type":"library","name":"lodash","version":"4.17.21","purl":"pkg:npm/lodash@4.17.21"}]}`

// TestRegistryFaultsAndPoisonMessages runs ingest against a real registry (docker-registry, with
// authentication) behind a front that answers 500s and hangs for a while: collection retries —
// go-containerregistry's per-request retries, then ingest's redelivery with back-off — and then
// succeeds, publishing exactly one, complete evidence set (never a partial one). Then poison
// messages on ingest's subjects go to the dead-letter subject with their reasons while the valid
// message after them is still handled.
func TestRegistryFaultsAndPoisonMessages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := registrytest.Start(t)
	ns, b := bustest.Connect(t)
	js := b.JetStream()

	// The artifact, a keyed provenance bundle and an SBOM, pushed straight to the registry.
	pusher, err := oci.New(oci.Config{Insecure: []string{reg.Host}, Keychain: reg.Keychain()})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64, 1)
	pushed, err := pusher.PushImage(ctx, reg.Repo("acme/app"), "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
		"subject":   []any{map[string]any{"name": "app", "digest": map[string]string{"sha256": pushed.Digest.Hex()}}},
		"predicate": map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": "https://tekton.dev/chains/v2"}}},
	})
	bundle, err := ss.SignKeyed(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pusher.Attach(ctx, pushed, demo.BundleMediaType, demo.BundleMediaType, bundle,
		map[string]string{"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pusher.Attach(ctx, pushed, "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", []byte(cycloneDX), nil); err != nil {
		t.Fatal(err)
	}

	// The front ingest reaches the registry through.
	target, _ := url.Parse("http://" + reg.Host)
	front := &faultyFront{next: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := evidence.ImageRef{Repository: host + "/acme/app", Digest: pushed.Digest}

	dir := t.TempDir()
	rootJSON, _ := ss.TrustedRootJSON()
	keyPEM, _ := ss.PublicKeyPEM()
	rootPath, keyPath := filepath.Join(dir, "root.json"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(rootPath, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(ingest.Config{
		Bus: bus.Config{URL: ns.ClientURL()}, TrustedRoots: []string{rootPath}, TrustedKeys: map[string]string{"tekton-chains": keyPath},
		Registry: oci.Config{
			Insecure: []string{host}, Keychain: hostKeychain{host: host, reg: reg},
			Timeout: time.Second, RetryDelay: 20 * time.Millisecond,
		},
		Workers: 1, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
	}, ingest.Deps{})
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

	// Twelve faults: more than go-containerregistry's four attempts of one request absorb, so
	// ingest's own retry is needed too.
	const faults = 12
	front.faults.Store(faults)
	start := time.Now()
	prod := event.NewDeployObserved(evidence.Deployment{Image: ref, Environment: "prod", Org: "acme", Workload: "app", ObservedAt: time.Now().UTC().Truncate(time.Second)})
	if err := b.Publish(ctx, event.SubjectDeployObserved, prod); err != nil {
		t.Fatal(err)
	}
	drained := func(what string) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			c, err := js.Consumer(ctx, bus.StreamEvents, bus.ConsumerIngest)
			if err != nil {
				t.Fatal(err)
			}
			ci := c.CachedInfo()
			if ci.NumPending == 0 && ci.NumAckPending == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: ingest still has %d pending and %d unacked messages", what, ci.NumPending, ci.NumAckPending)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	drained("registry faults")
	t.Logf("collected through %d 500s and %d hung requests in %v; %d requests passed through; %v redeliveries",
		front.served500.Load(), front.hung.Load(), time.Since(start).Round(10*time.Millisecond), front.passedThru.Load(),
		counter(t, svc.Gatherer(), "aspm_ingest_messages_total", event.SubjectDeployObserved, "retry"))
	if got := front.served500.Load() + front.hung.Load(); got != faults {
		t.Errorf("%d faults served, want all %d", got, faults)
	}
	if front.hung.Load() != faults/3 {
		t.Errorf("%d hung requests, want %d", front.hung.Load(), faults/3)
	}
	if n := counter(t, svc.Gatherer(), "aspm_ingest_messages_total", event.SubjectDeployObserved, "retry"); n < 1 {
		t.Error("ingest never retried the message: the faults were all absorbed below it")
	}

	// Poison messages, then a valid message after them.
	for _, p := range [][]byte{
		[]byte(`{"schema":`),
		[]byte(`{"schema":"aspm.deploy.observed/v9","id":"x"}`),
		[]byte(`{"schema":"aspm.scan.requested/v1","id":"` + strings.Repeat("y", bus.MaxConsumeSize) + `"}`),
	} {
		subject := event.SubjectDeployObserved
		if bytes.Contains(p, []byte("scan.requested")) {
			subject = event.SubjectScanRequested
		}
		if _, err := js.Publish(ctx, subject, p); err != nil {
			t.Fatal(err)
		}
	}
	staging := event.NewDeployObserved(evidence.Deployment{Image: ref, Environment: "staging", Org: "acme", Workload: "app", ObservedAt: time.Now().UTC().Truncate(time.Second)})
	if err := b.Publish(ctx, event.SubjectDeployObserved, staging); err != nil {
		t.Fatal(err)
	}
	drained("poison messages")

	// Exactly two evidence events, one per valid message, each with the complete evidence.
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectEvidenceCollected}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for msg := range batch.Messages() {
		var m event.EvidenceCollected
		if err := event.Decode(msg.Data(), event.SchemaEvidenceCollected, &m); err != nil {
			t.Fatal(err)
		}
		if err := b.LoadEvidence(ctx, &m); err != nil {
			t.Fatal(err)
		}
		triggers = append(triggers, m.Trigger)
		checkComplete(t, m.Artifact, ref)
	}
	if want := []string{prod.ID, staging.ID}; !slices.Equal(triggers, want) {
		t.Errorf("evidence events triggered by %v, want %v (one per valid message, in order)", triggers, want)
	}
	set, found, err := b.Evidence(ctx, ref.Digest)
	if err != nil || !found {
		t.Fatalf("stored evidence: %v, found %v", err, found)
	}
	checkComplete(t, set, ref)

	// The three poison messages are dead-lettered, each with its reason.
	dead, err := js.Stream(ctx, bus.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dead.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("%d dead letters, want 3", info.State.Msgs)
	}
	for i, want := range []string{"malformed message", "unknown schema", "exceeds the"} {
		raw, err := dead.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		var dl event.DeadLetter
		if err := json.Unmarshal(raw.Data, &dl); err != nil {
			t.Fatal(err)
		}
		if raw.Subject != event.SubjectDeadPrefix+bus.ConsumerIngest || dl.Consumer != bus.ConsumerIngest || !strings.Contains(dl.Reason, want) {
			t.Errorf("dead letter %d on %s: consumer %q reason %q; want one containing %q", i+1, raw.Subject, dl.Consumer, dl.Reason, want)
		}
	}
	if ok, deadN := counter(t, svc.Gatherer(), "aspm_ingest_messages_total", "ok"), counter(t, svc.Gatherer(), "aspm_ingest_messages_total", "dead"); ok != 2 || deadN != 3 {
		t.Errorf("ingest handled %v messages ok and dead-lettered %v; want 2 and 3", ok, deadN)
	}
}

// checkComplete checks that set holds exactly the artifact's two documents, both sound.
func checkComplete(t *testing.T, set evidence.ArtifactEvidence, ref evidence.ImageRef) {
	t.Helper()
	if set.Image != ref || len(set.Errors) != 0 || len(set.Evidence) != 2 {
		t.Fatalf("evidence of %s: %d documents, errors %q; want the 2 documents and no errors", set.Image, len(set.Evidence), set.Errors)
	}
	var kinds []string
	for _, e := range set.Evidence {
		kinds = append(kinds, string(e.Kind))
		switch e.Kind {
		case evidence.KindProvenance:
			if !e.Verification.Verified || e.Verification.Signer == nil || e.Verification.Signer.Identity != "tekton-chains" || !e.SubjectMatch || e.Malformed != "" {
				t.Errorf("provenance: %+v", e)
			}
		case evidence.KindSBOM:
			if e.SBOM == nil || e.SBOM.Components != 2 || e.Malformed != "" || !e.SubjectMatch {
				t.Errorf("SBOM: %+v", e)
			}
		}
	}
	slices.Sort(kinds)
	if want := []string{string(evidence.KindProvenance), string(evidence.KindSBOM)}; !slices.Equal(kinds, want) {
		t.Errorf("evidence kinds %v, want %v", kinds, want)
	}
}
