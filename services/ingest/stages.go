package ingest

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/verify"
)

// The stages of one artifact's collection that aspm_ingest_stage_seconds times.
const (
	StageFetch   = "fetch"   // asking the registry: discovery and blobs
	StageVerify  = "verify"  // verifying signatures
	StageParse   = "parse"   // the rest of collecting: parsing statements, provenance and SBOMs
	StagePublish = "publish" // storing SBOM documents and the evidence set, publishing the event
)

// tracerName names the tracer of ingest's spans.
const tracerName = "github.com/aspmhq/aspm/services/ingest"

func newStageHistogram() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "aspm_ingest_stage_seconds",
		Help:    "Time spent in each stage of collecting and announcing artifacts' evidence (fetch, verify, parse, publish); a rescan or deployment that reuses evidence observes only publish.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"stage"})
}

// stageTimes adds up the time one collection spends in each stage.
type stageTimes struct{ fetch, verify, docs atomic.Int64 }

func since(acc *atomic.Int64, start time.Time) { acc.Add(int64(time.Since(start))) }

// timedRegistry, timedVerifier and timedDocuments time what a collection asks of them.
type timedRegistry struct {
	collect.Registry
	t *stageTimes
}

func (r timedRegistry) Discover(ctx context.Context, img evidence.ImageRef) (oci.Discovery, error) {
	defer since(&r.t.fetch, time.Now())
	return r.Registry.Discover(ctx, img)
}

func (r timedRegistry) Blob(ctx context.Context, repo string, l oci.Layer) ([]byte, error) {
	defer since(&r.t.fetch, time.Now())
	return r.Registry.Blob(ctx, repo, l)
}

type timedVerifier struct {
	collect.Verifier
	t *stageTimes
}

// Version is the wrapped verifier's, so that evidence it verified can be cached.
func (v timedVerifier) Version() string {
	if x, ok := v.Verifier.(interface{ Version() string }); ok {
		return x.Version()
	}
	return ""
}

func (v timedVerifier) Verify(b *bundle.Bundle, opts verify.Options) (verify.Result, error) {
	defer since(&v.t.verify, time.Now())
	return v.Verifier.Verify(b, opts)
}

type timedDocuments struct {
	collect.Documents
	t *stageTimes
}

func (d timedDocuments) PutDocument(ctx context.Context, ref evidence.Digest, data []byte) error {
	defer since(&d.t.docs, time.Now())
	return d.Documents.PutDocument(ctx, ref, data)
}

// collect collects img's evidence with a collector whose registry, verifier and document
// store are timed, and records the stages of fetching, verifying and parsing; it returns the
// time spent storing SBOM documents, which belongs to publishing. A "collect" span covers it,
// with the time of each stage.
func (s *Service) collect(ctx context.Context, img evidence.ImageRef, opts verify.Options) (evidence.ArtifactEvidence, time.Duration, error) {
	var t stageTimes
	c := collect.New(timedRegistry{s.reg, &t}, timedVerifier{s.ver, &t}, s.env, slices.Concat(s.collectOpts, []collect.Option{collect.WithDocuments(timedDocuments{s.bus, &t})})...)
	ctx, span := otel.Tracer(tracerName).Start(ctx, "collect", trace.WithAttributes(attribute.String("aspm.image", img.String())))
	defer span.End()
	start := time.Now()
	set, err := c.Collect(ctx, img, opts)
	total := time.Since(start)
	fetch, ver, docs := time.Duration(t.fetch.Load()), time.Duration(t.verify.Load()), time.Duration(t.docs.Load())
	span.SetAttributes(attribute.Float64("aspm.fetch_seconds", fetch.Seconds()), attribute.Float64("aspm.verify_seconds", ver.Seconds()),
		attribute.Int("aspm.evidence", len(set.Evidence)))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return set, 0, err
	}
	s.metrics.stages.WithLabelValues(StageFetch).Observe(fetch.Seconds())
	s.metrics.stages.WithLabelValues(StageVerify).Observe(ver.Seconds())
	s.metrics.stages.WithLabelValues(StageParse).Observe(max(0, total-fetch-ver-docs).Seconds())
	return set, docs, nil
}
