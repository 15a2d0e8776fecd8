package scorer_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// TestScorerTrace publishes collected evidence under a parent span, as ingest does, to a
// running scorer: the scorer's "process" span continues that trace as the publish span's
// child, and the policy evaluation of each environment, the store write and the score
// announcements are the process span's children.
func TestScorerTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	runScorer(t, scorer.Config{Bus: bus.Config{URL: ns.ClientURL()}}, scorer.Deps{Store: st, Policy: pol})

	t0 := time.Unix(1700000000, 0).UTC()
	for _, env := range []string{"prod", "staging"} {
		if err := b.PutDeployment(ctx, evidence.Deployment{Image: img, Environment: env, Org: "acme", Team: "pay", Workload: "app", ObservedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	pctx, parent := tp.Tracer("test").Start(ctx, "ingest")
	m := event.NewEvidenceCollected("deploy-1", evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(time.Minute), Evidence: []evidence.Evidence{}})
	if err := b.Publish(pctx, event.SubjectEvidenceCollected, m); err != nil {
		t.Fatal(err)
	}
	parent.End()
	id := parent.SpanContext().TraceID()

	// The process span ends after the ack, once everything else of the message is done.
	procName := "process " + event.SubjectEvidenceCollected
	var spans tracetest.SpanStubs
	deadline := time.Now().Add(15 * time.Second)
	for {
		spans = spans[:0]
		ended := false
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == id {
				spans = append(spans, s)
				ended = ended || s.Name == procName
			}
		}
		if ended {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q span in the trace after 15s; spans: %v", procName, names(spans))
		}
		time.Sleep(20 * time.Millisecond)
	}
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	pub, proc := byName["publish "+event.SubjectEvidenceCollected], byName[procName]
	if len(pub) != 1 || len(proc) != 1 {
		t.Fatalf("trace has %d publish and %d process spans of the evidence, want 1 each; spans: %v", len(pub), len(proc), names(spans))
	}
	if got := proc[0].Parent.SpanID(); got != pub[0].SpanContext.SpanID() || proc[0].SpanKind != trace.SpanKindConsumer {
		t.Errorf("process span: parent %v, kind %v; want the publish span %v, consumer", got, proc[0].SpanKind, pub[0].SpanContext.SpanID())
	}
	for name, want := range map[string]int{
		"policy.evaluate":                       2, // prod and staging
		"store.write_evaluation":                1,
		"publish " + event.SubjectScoreComputed: 2,
	} {
		if got := len(byName[name]); got != want {
			t.Errorf("%d %q spans, want %d; spans: %v", got, name, want, names(spans))
		}
		for _, s := range byName[name] {
			if s.Parent.SpanID() != proc[0].SpanContext.SpanID() {
				t.Errorf("%q span's parent is %v, want the process span %v", name, s.Parent.SpanID(), proc[0].SpanContext.SpanID())
			}
		}
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
