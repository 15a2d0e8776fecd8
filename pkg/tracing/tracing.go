// Package tracing turns on OpenTelemetry tracing when the standard OTEL_* environment asks for
// it: an SDK tracer provider exporting spans over OTLP/HTTP and the W3C trace-context
// propagator, installed as the global ones the rest of the code (pkg/bus, the services) reads.
// Without an OTLP endpoint in the environment it installs nothing, and tracing costs nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The environment variables that turn tracing on: either names the OTLP/HTTP collector
// (e.g. http://otel-collector:4318). OTEL_SDK_DISABLED=true keeps it off regardless.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// ShutdownTimeout bounds how long the function Setup returns waits to flush the last spans.
const ShutdownTimeout = 5 * time.Second

// Enabled reports whether the environment asks for traces to be exported.
func Enabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv(EnvSDKDisabled)), "true") {
		return false
	}
	return os.Getenv(EnvEndpoint) != "" || os.Getenv(EnvTracesEndpoint) != ""
}

// Setup installs, when Enabled, a global tracer provider that batches spans to the OTLP/HTTP
// endpoint of the environment (the exporter reads every OTEL_EXPORTER_OTLP_* variable:
// headers, timeout, TLS), samples by OTEL_TRACES_SAMPLER (default: parent-based, always on),
// and names the service by OTEL_SERVICE_NAME or else service; and the W3C trace-context and
// baggage propagators. Export errors go to log at warn level (nil discards them).
//
// It returns the function that flushes and stops the provider: it waits at most
// ShutdownTimeout, even when ctx is already cancelled, so call it on the way out of main.
// When tracing is not Enabled, Setup installs nothing and returns a function that does nothing.
// It returns an error when the environment's exporter settings are invalid.
func Setup(ctx context.Context, service string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over service
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("describing the traced resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	if log != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("exporting traces", "err", err) }))
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flushing traces: %w", err)
		}
		return nil
	}, nil
}
