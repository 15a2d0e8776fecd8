package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/aspmhq/aspm/pkg/tracing"
)

// restoreGlobals puts back the global tracer provider and propagator when the test ends.
func restoreGlobals(t *testing.T) {
	t.Helper()
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		if otel.GetTracerProvider() != tp {
			otel.SetTracerProvider(tp)
		}
		if otel.GetTextMapPropagator() != prop {
			otel.SetTextMapPropagator(prop)
		}
	})
}

// TestSetupWithoutEndpointInstallsNothing: with no OTLP endpoint in the environment, or with
// the SDK disabled, Setup leaves the global provider and propagator alone and its shutdown
// does nothing.
func TestSetupWithoutEndpointInstallsNothing(t *testing.T) {
	for _, tc := range []struct{ name, endpoint, disabled string }{
		{"no endpoint", "", ""},
		{"sdk disabled", "http://127.0.0.1:1", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restoreGlobals(t)
			t.Setenv(tracing.EnvEndpoint, tc.endpoint)
			t.Setenv(tracing.EnvTracesEndpoint, "")
			t.Setenv(tracing.EnvSDKDisabled, tc.disabled)
			if tracing.Enabled() {
				t.Fatal("Enabled() = true, want false")
			}
			tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
			shutdown, err := tracing.Setup(context.Background(), "aspm-test", nil)
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if got := otel.GetTracerProvider(); got != tp {
				t.Errorf("global tracer provider changed to %T", got)
			}
			if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
				t.Error("an SDK tracer provider is installed")
			}
			if got := otel.GetTextMapPropagator(); got != prop || len(got.Fields()) != 0 {
				t.Errorf("global propagator changed to %T with fields %v", got, got.Fields())
			}
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

// TestSetupExportsOverOTLP points the environment at an HTTP server standing in for an OTLP
// collector: Setup installs an SDK provider and the trace-context propagator, and shutdown
// flushes a span to /v1/traces, named by the service — or by OTEL_SERVICE_NAME when set.
func TestSetupExportsOverOTLP(t *testing.T) {
	for _, tc := range []struct{ name, envName, want string }{
		{"binary name", "", "aspm-test"},
		{"OTEL_SERVICE_NAME", "scorer-eu", "scorer-eu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restoreGlobals(t)
			var mu sync.Mutex
			var reqs []*coltrace.ExportTraceServiceRequest
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req coltrace.ExportTraceServiceRequest
				if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
					t.Errorf("collector got %s %s (%s), not an OTLP/HTTP protobuf export", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
					http.Error(w, "bad request", http.StatusBadRequest)
					return
				}
				mu.Lock()
				reqs = append(reqs, &req)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/x-protobuf")
			}))
			defer srv.Close()
			t.Setenv(tracing.EnvEndpoint, srv.URL)
			t.Setenv(tracing.EnvTracesEndpoint, "")
			t.Setenv(tracing.EnvSDKDisabled, "")
			t.Setenv("OTEL_SERVICE_NAME", tc.envName)
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")

			shutdown, err := tracing.Setup(context.Background(), "aspm-test", nil)
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
				t.Errorf("global tracer provider is %T, want the SDK's", otel.GetTracerProvider())
			}
			if fields := otel.GetTextMapPropagator().Fields(); !slices.Contains(fields, "traceparent") {
				t.Errorf("propagator fields = %v, want traceparent among them", fields)
			}
			_, span := otel.Tracer("test").Start(context.Background(), "work")
			span.End()
			if err := shutdown(context.Background()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			mu.Lock()
			defer mu.Unlock()
			var services, spans []string
			for _, req := range reqs {
				for _, rs := range req.GetResourceSpans() {
					for _, kv := range rs.GetResource().GetAttributes() {
						if kv.GetKey() == "service.name" {
							services = append(services, kv.GetValue().GetStringValue())
						}
					}
					for _, ss := range rs.GetScopeSpans() {
						for _, s := range ss.GetSpans() {
							spans = append(spans, s.GetName())
						}
					}
				}
			}
			if !slices.Equal(spans, []string{"work"}) || !slices.Equal(services, []string{tc.want}) {
				t.Errorf("exported spans %v of services %v, want [work] of [%s]", spans, services, tc.want)
			}
		})
	}
}
