// Package bus is the JetStream plumbing the services share: connecting, creating the streams,
// consumers, key-value buckets and object store they use (idempotently), publishing with
// de-duplication IDs, and consuming with ack-after-success, back-off and dead-lettering.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/aspmhq/aspm/pkg/event"
)

// Stream, consumer, bucket and object store names.
const (
	StreamEvents     = "ASPM_EVENTS"
	StreamDead       = "ASPM_DEAD"
	BucketEvidence   = "aspm_evidence"
	BucketDeploy     = "aspm_deployments"
	BucketDecisions  = "aspm_decisions"
	ObjectStoreSBOMs = "aspm_sboms"

	ConsumerIngest = "ingest"
	ConsumerScorer = "scorer"
)

// DuplicateWindow is how long JetStream remembers message IDs to drop re-published messages.
const DuplicateWindow = 10 * time.Minute

// Config says how to reach NATS.
type Config struct {
	// URL is the NATS server URL, or a comma-separated list for a cluster.
	URL string
	// Name identifies this connection in the server's monitoring.
	Name string
	// Replicas is the replica count of streams, buckets and the object store (1 or 3).
	Replicas int
	// ConnectTimeout bounds the first connection.
	ConnectTimeout time.Duration
}

// Validate fills in defaults and reports whether c is usable.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("bus: a NATS URL is required")
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		return fmt.Errorf("bus: replicas %d: want 1, 3 or 5", c.Replicas)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Name == "" {
		c.Name = "aspm"
	}
	return nil
}

// Bus is a connection to NATS with JetStream.
type Bus struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int
	// buckets and stores hold the handles of the buckets and object stores opened (see
	// bucket), by name.
	buckets sync.Map // string → jetstream.KeyValue
	stores  sync.Map // string → jetstream.ObjectStore
}

// Connect connects to NATS; it keeps reconnecting for ever once connected.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL,
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.RetryOnFailedConnect(false),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	return &Bus{nc: nc, js: js, replicas: cfg.Replicas}, nil
}

// JetStream returns the JetStream handle, for callers that need more than this package offers.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Connected reports whether the connection is up.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Close drains the connection: pending publishes are flushed, subscriptions finish.
func (b *Bus) Close() error {
	if b.nc.IsClosed() {
		return nil
	}
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
		return fmt.Errorf("draining NATS connection: %w", err)
	}
	return nil
}

// EnsureStreams creates or updates the streams, consumers, buckets and object store. It is
// idempotent and safe to run from every replica at start.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	streams := []jetstream.StreamConfig{
		{
			Name: StreamEvents,
			Subjects: []string{
				event.SubjectDeployObserved, event.SubjectScanRequested, event.SubjectEvidenceCollected,
				event.SubjectScoreComputed, event.SubjectGapOpened, event.SubjectGapClosed,
			},
			Storage:    jetstream.FileStorage,
			Retention:  jetstream.LimitsPolicy,
			MaxAge:     7 * 24 * time.Hour,
			Duplicates: DuplicateWindow,
			Replicas:   b.replicas,
		},
		{
			Name:      StreamDead,
			Subjects:  []string{event.SubjectDeadPrefix + ">"},
			Storage:   jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy,
			MaxAge:    30 * 24 * time.Hour,
			Replicas:  b.replicas,
		},
	}
	for _, sc := range streams {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("creating stream %s: %w", sc.Name, err)
		}
	}
	for _, cc := range consumers {
		if _, err := b.js.CreateOrUpdateConsumer(ctx, StreamEvents, cc); err != nil {
			return fmt.Errorf("creating consumer %s: %w", cc.Durable, err)
		}
	}
	for _, kc := range []jetstream.KeyValueConfig{
		{Bucket: BucketEvidence, Description: "latest evidence set per artifact digest", History: 1, Storage: jetstream.FileStorage, Replicas: b.replicas},
		{Bucket: BucketDeploy, Description: "deployments per artifact digest", History: 1, Storage: jetstream.FileStorage, Replicas: b.replicas},
		{Bucket: BucketDecisions, Description: "last policy decision per artifact and environment", History: 1, Storage: jetstream.FileStorage, Replicas: b.replicas},
	} {
		if _, err := b.js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("creating key-value bucket %s: %w", kc.Bucket, err)
		}
	}
	if _, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: ObjectStoreSBOMs, Description: "raw SBOM documents keyed by digest", Storage: jetstream.FileStorage, Replicas: b.replicas,
	}); err != nil {
		return fmt.Errorf("creating object store %s: %w", ObjectStoreSBOMs, err)
	}
	return nil
}

// consumers are the durable pull consumers of StreamEvents, one per service; replicas of a
// service share one.
var consumers = []jetstream.ConsumerConfig{
	{
		Durable:        ConsumerIngest,
		Description:    "ingest: collect and verify evidence for observed deployments and rescans",
		FilterSubjects: []string{event.SubjectDeployObserved, event.SubjectScanRequested},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        2 * time.Minute,
		MaxDeliver:     -1,
		MaxAckPending:  256,
	},
	{
		Durable:        ConsumerScorer,
		Description:    "scorer: evaluate policy and store scores for collected evidence",
		FilterSubjects: []string{event.SubjectEvidenceCollected},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        time.Minute,
		MaxDeliver:     -1,
		MaxAckPending:  256,
	},
}

// Message is implemented by every event: it knows its de-duplication ID.
type Message interface {
	MsgID() string
}

// Publish sends m as JSON on subject and waits for JetStream to store it. A message with an ID
// published before within DuplicateWindow is dropped by the server, and Publish still succeeds.
// It traces the publish as a producer span, child of ctx's, whose context travels in the
// message's headers (see the global propagator) for Consume to continue.
func (b *Bus) Publish(ctx context.Context, subject string, m Message) (err error) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(spanAttributes(subject, m.MsgID())...))
	defer func() { endSpan(span, err) }()
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding %s message: %w", subject, err)
	}
	if max := b.nc.MaxPayload(); int64(len(data)) > max {
		return fmt.Errorf("publishing on %s: message of %d bytes exceeds the server's %d byte limit", subject, len(data), max)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier(msg.Header))
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.MsgID())); err != nil {
		return fmt.Errorf("publishing on %s: %w", subject, err)
	}
	return nil
}

// tracerName names the tracer of this package's spans.
const tracerName = "github.com/aspmhq/aspm/pkg/bus"

// spanAttributes describe a message on a span (OpenTelemetry's messaging conventions).
func spanAttributes(subject, msgID string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.destination.name", subject),
		attribute.String("messaging.message.id", msgID),
	}
}

// endSpan records err, if any, on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// headerCarrier carries trace context in NATS message headers, whose keys are case-sensitive:
// they are kept as the propagator writes them ("traceparent").
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string { return nats.Header(h).Get(key) }

func (h headerCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
