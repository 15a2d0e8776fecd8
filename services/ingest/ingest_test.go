package ingest_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/services/ingest"
)

// TestIngest runs the service on a real NATS server against an in-process registry: an
// observed deployment yields one evidence event with the verified provenance, the deployment
// lands in the KV bucket, and a poison message is dead-lettered without stopping the flow.
func TestIngest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, b := bustest.Connect(t)

	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64, 1)
	ref, err := client.PushImage(ctx, host+"/acme/app", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
		"subject":   []any{map[string]any{"name": "app", "digest": map[string]string{"sha256": ref.Digest.Hex()}}},
		"predicate": map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": "https://tekton.dev/chains/v2"}}},
	})
	bundle, err := ss.SignKeyed(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Attach(ctx, ref, demo.BundleMediaType, demo.BundleMediaType, bundle, nil); err != nil {
		t.Fatal(err)
	}
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
		Registry: oci.Config{Insecure: []string{host}},
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

	// Watch what ingest publishes.
	cons, err := b.JetStream().CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		FilterSubject: event.SubjectEvidenceCollected, AckPolicy: jetstream.AckNonePolicy,
	})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := b.JetStream().Publish(ctx, event.SubjectDeployObserved, []byte(`{"schema":"aspm.deploy.observed/v9","id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	dep := evidence.Deployment{Image: ref, Environment: "prod", Org: "acme", Workload: "app", ObservedAt: time.Now().UTC().Truncate(time.Second)}
	m := event.NewDeployObserved(dep)
	if err := b.Publish(ctx, event.SubjectDeployObserved, m); err != nil {
		t.Fatal(err)
	}

	msg, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("no evidence event: %v", err)
	}
	var got event.EvidenceCollected
	if err := event.Decode(msg.Data(), event.SchemaEvidenceCollected, &got); err != nil {
		t.Fatal(err)
	}
	if got.Trigger != m.ID || got.Artifact.Image != ref || len(got.Artifact.Evidence) != 1 {
		t.Fatalf("evidence event = %+v", got)
	}
	e := got.Artifact.Evidence[0]
	if !e.Verification.Verified || e.Verification.Signer == nil || e.Verification.Signer.Identity != "tekton-chains" || !e.SubjectMatch || e.Kind != evidence.KindProvenance {
		t.Errorf("evidence = %+v", e)
	}
	deps, err := b.Deployments(ctx, ref.Digest)
	if err != nil || len(deps) != 1 || deps[0].Environment != "prod" {
		t.Errorf("deployments in KV = %+v, %v", deps, err)
	}

	// A rescan that finds the same documents announces nothing, but records when it looked;
	// one that finds a new document announces the new set.
	before, _, err := b.Evidence(ctx, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rescan := func(want string) {
		t.Helper()
		n := rescans(t, svc, want)
		if err := b.Publish(ctx, event.SubjectScanRequested, event.NewScanRequested(ref, time.Now())); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for rescans(t, svc, want) == n {
			if time.Now().After(deadline) {
				t.Fatalf("no %s rescan counted", want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	rescan("unchanged")
	if msg, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond)); err == nil {
		t.Errorf("a rescan of unchanged evidence announced %s", msg.Data())
	}
	after, _, err := b.Evidence(ctx, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !after.CollectedAt.After(before.CollectedAt) || len(after.Evidence) != 1 {
		t.Errorf("stored evidence after an unchanged rescan: collected %s (before %s), %d documents", after.CollectedAt, before.CollectedAt, len(after.Evidence))
	}
	sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`)
	if _, err := client.Attach(ctx, ref, "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", sbom, nil); err != nil {
		t.Fatal(err)
	}
	rescan("changed")
	msg, err = cons.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("no evidence event after a rescan found a new document: %v", err)
	}
	if err := event.Decode(msg.Data(), event.SchemaEvidenceCollected, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Artifact.Evidence) != 2 {
		t.Errorf("rescan announced %d documents, want 2", len(got.Artifact.Evidence))
	}

	// The unknown-schema message went to the dead-letter stream.
	deadStream, err := b.JetStream().Stream(ctx, bus.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := deadStream.GetLastMsgForSubject(ctx, event.SubjectDeadPrefix+bus.ConsumerIngest)
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var dl event.DeadLetter
	if err := json.Unmarshal(raw.Data, &dl); err != nil || !strings.Contains(dl.Reason, "unknown schema") {
		t.Errorf("dead letter = %+v, %v", dl, err)
	}
	if err := svc.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestNewNeedsTrustedMaterial(t *testing.T) {
	if _, err := ingest.New(ingest.Config{Bus: bus.Config{URL: "nats://127.0.0.1:1"}}, ingest.Deps{}); err == nil {
		t.Error("ingest without trusted roots or keys was accepted")
	}
	if _, err := ingest.New(ingest.Config{Bus: bus.Config{URL: "nats://127.0.0.1:1"}, TrustedRoots: []string{"/nonexistent.json"}}, ingest.Deps{}); err == nil {
		t.Error("a missing trusted root file was accepted")
	}
}

// TestInventorySource: a workload in the inventory file, named by tag, becomes a deployment
// observation (the tag resolved to its digest) and then an evidence event.
func TestInventorySource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, b := bustest.Connect(t)
	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64, 1)
	ref, err := client.PushImage(ctx, host+"/acme/app", "v1.2", img)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootJSON, _ := ss.TrustedRootJSON()
	rootPath := filepath.Join(dir, "root.json")
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(rootPath, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: app\n        namespace: shop\n        team: web\n        images: [" + host + "/acme/app:v1.2]\n"
	if err := os.WriteFile(inv, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(ingest.Config{
		Bus: bus.Config{URL: ns.ClientURL()}, TrustedRoots: []string{rootPath},
		Registry: oci.Config{Insecure: []string{host}}, Inventory: inv,
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
	cons, err := b.JetStream().CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		FilterSubject: event.SubjectEvidenceCollected, AckPolicy: jetstream.AckNonePolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("no evidence event from the inventory: %v", err)
	}
	var got event.EvidenceCollected
	if err := event.Decode(msg.Data(), event.SchemaEvidenceCollected, &got); err != nil {
		t.Fatal(err)
	}
	if got.Artifact.Image != ref {
		t.Errorf("evidence about %s, want %s (the tag's digest)", got.Artifact.Image, ref)
	}
	deps, err := b.Deployments(ctx, ref.Digest)
	if err != nil || len(deps) != 1 || deps[0].Environment != "prod" || deps[0].Team != "web" || deps[0].Workload != "app" || deps[0].Namespace != "shop" {
		t.Errorf("deployments = %+v, %v", deps, err)
	}
}

// rescans reads aspm_ingest_rescans_total{result} from svc's metrics.
func rescans(t *testing.T, svc *ingest.Service, result string) float64 {
	t.Helper()
	fams, err := svc.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "aspm_ingest_rescans_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
