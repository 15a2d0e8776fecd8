package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

// installTracing makes an SDK tracer provider recording every span, and the W3C trace-context
// propagator, the global ones until the test ends.
func installTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(context.Background())
	})
	return tp, rec
}

// endedSpan returns the ended span named name in trace id, waiting for it.
func endedSpan(t *testing.T, rec *tracetest.SpanRecorder, id trace.TraceID, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	waitFor(t, "span "+name, func() bool {
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == id && s.Name() == name {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestTraceCrossesTheBus publishes under a parent span and consumes the message: the publish
// span is the parent's child, the message carries its context in a traceparent header next to
// Nats-Msg-Id, and the consumer's span — the one in the handler's context — continues the same
// trace as the publish span's child. A dead-lettered message's process span records the error
// and its dead letter's publish span is the process span's child.
func TestTraceCrossesTheBus(t *testing.T) {
	tp, rec := installTracing(t)
	_, b := bustest.Connect(t)
	ctx := context.Background()
	t0 := time.Unix(1700000000, 0).UTC()

	var mu sync.Mutex
	handled := map[string]trace.SpanContext{} // subject → span context in the handler
	record := func(ctx context.Context, msg jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		handled[msg.Subject()] = trace.SpanContextFromContext(ctx)
	}
	consume(t, b, bus.ConsumerIngest, func(ctx context.Context, msg jetstream.Msg) error {
		record(ctx, msg)
		return nil
	}, bus.ConsumeOptions{})
	consume(t, b, bus.ConsumerScorer, func(ctx context.Context, msg jetstream.Msg) error {
		record(ctx, msg)
		return fmt.Errorf("%w: refusing it", bus.ErrPoison)
	}, bus.ConsumeOptions{})

	cases := []struct {
		subject  string
		msg      bus.Message
		consumer string
		dead     bool
	}{
		{event.SubjectDeployObserved, event.NewDeployObserved(deployment("prod", t0)), bus.ConsumerIngest, false},
		{event.SubjectEvidenceCollected, event.NewEvidenceCollected("trigger", evidence.ArtifactEvidence{Image: img, CollectedAt: t0, Evidence: []evidence.Evidence{}}), bus.ConsumerScorer, true},
	}
	for _, tc := range cases {
		t.Run(tc.subject, func(t *testing.T) {
			pctx, parent := tp.Tracer("test").Start(ctx, "observe")
			if err := b.Publish(pctx, tc.subject, tc.msg); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			parent.End()
			id := parent.SpanContext().TraceID()

			pub := endedSpan(t, rec, id, "publish "+tc.subject)
			if pub.SpanKind() != trace.SpanKindProducer || pub.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("publish span: kind %v, parent %v; want producer, child of %v", pub.SpanKind(), pub.Parent().SpanID(), parent.SpanContext().SpanID())
			}
			if got := attr(pub, "messaging.message.id").AsString(); got != tc.msg.MsgID() {
				t.Errorf("publish span messaging.message.id = %q, want %q", got, tc.msg.MsgID())
			}

			stream, err := b.JetStream().Stream(ctx, bus.StreamEvents)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := stream.GetLastMsgForSubject(ctx, tc.subject)
			if err != nil {
				t.Fatal(err)
			}
			wantTP := fmt.Sprintf("00-%s-%s-01", id, pub.SpanContext().SpanID())
			if got := raw.Header.Get("traceparent"); got != wantTP {
				t.Errorf("traceparent header = %q, want %q", got, wantTP)
			}
			if got := raw.Header.Get(jetstream.MsgIDHeader); got != tc.msg.MsgID() {
				t.Errorf("Nats-Msg-Id header = %q, want %q", got, tc.msg.MsgID())
			}

			proc := endedSpan(t, rec, id, "process "+tc.subject)
			if proc.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("process span kind = %v, want consumer", proc.SpanKind())
			}
			if !proc.Parent().IsRemote() || proc.Parent().SpanID() != pub.SpanContext().SpanID() {
				t.Errorf("process span parent = %v (remote %v), want the publish span %v", proc.Parent().SpanID(), proc.Parent().IsRemote(), pub.SpanContext().SpanID())
			}
			mu.Lock()
			inHandler := handled[tc.subject]
			mu.Unlock()
			if inHandler.SpanID() != proc.SpanContext().SpanID() {
				t.Errorf("handler's span = %v, want the process span %v", inHandler.SpanID(), proc.SpanContext().SpanID())
			}
			if got := attr(proc, "messaging.consumer.group.name").AsString(); got != tc.consumer {
				t.Errorf("process span consumer = %q, want %q", got, tc.consumer)
			}
			if got := attr(proc, "aspm.dead_lettered").AsBool(); got != tc.dead {
				t.Errorf("process span aspm.dead_lettered = %v, want %v", got, tc.dead)
			}
			if got := proc.Status().Code == codes.Error; got != tc.dead {
				t.Errorf("process span status = %v, want error %v", proc.Status(), tc.dead)
			}
			if tc.dead {
				dl := endedSpan(t, rec, id, "publish "+event.SubjectDeadPrefix+tc.consumer)
				if dl.Parent().SpanID() != proc.SpanContext().SpanID() {
					t.Errorf("dead letter's publish span parent = %v, want the process span %v", dl.Parent().SpanID(), proc.SpanContext().SpanID())
				}
			}
		})
	}
}
