package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/aspmhq/aspm/pkg/event"
)

// ErrPoison marks an error that redelivery cannot cure (bad JSON, an unknown schema, an invalid
// body): the message goes to the dead-letter subject instead of being retried. Errors wrapping
// event.ErrMalformed or event.ErrUnknownSchema are treated the same way.
var ErrPoison = errors.New("poison message")

// Handler processes one message. Returning nil acks it; an error that is poison (see ErrPoison)
// dead-letters it; any other error naks it for redelivery after a back-off.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// ConsumeOptions tune Consume.
type ConsumeOptions struct {
	// Logger receives one line per failure; nil discards.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the redelivery delay, which doubles with each attempt
	// and is jittered (between half and all of it) so that messages failing together, as when
	// a store is down, do not all come back at the same moment.
	MinBackoff, MaxBackoff time.Duration
	// OnResult, when set, is called after each message with the handler's error (nil on
	// success) and whether the message was dead-lettered; services count metrics with it.
	// It may be called from several goroutines.
	OnResult func(subject string, err error, dead bool)
	// Workers is how many messages are handled at once; default 1.
	Workers int
	// Metrics, when set, counts the redeliveries handed to the handler.
	Metrics *QueueMetrics
}

type loggerKey struct{}

// MessageLogger returns the logger of the message being handled: the one Consume puts in its
// handler's context, which is ConsumeOptions.Logger with the message's msg_id (its
// Nats-Msg-Id, the event ID) and stream_seq. Without one in ctx it returns fallback.
func MessageLogger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// messageLogger is log with the message's ID and stream sequence.
func messageLogger(log *slog.Logger, msg jetstream.Msg) *slog.Logger {
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	return log.With("msg_id", msg.Headers().Get(jetstream.MsgIDHeader), "stream_seq", seq)
}

func isPoison(err error) bool {
	return errors.Is(err, ErrPoison) || errors.Is(err, event.ErrMalformed) || errors.Is(err, event.ErrUnknownSchema)
}

// Consume pulls from the durable consumer named consumer until ctx is done, handing each
// message to h on one of opts.Workers goroutines. It returns nil when ctx is cancelled, after
// the messages being handled are done.
func (b *Bus) Consume(ctx context.Context, consumer string, h Handler, opts ConsumeOptions) error {
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cons, err := b.js.Consumer(ctx, StreamEvents, consumer)
	if err != nil {
		return fmt.Errorf("looking up consumer %s: %w", consumer, err)
	}
	workers := max(1, opts.Workers)
	// A pull request waits on the consumer's leader; when that node dies, the request dies with
	// it, and the client only notices by missing two heartbeats (half the expiry each). The
	// default 30s expiry left a replica idle that long while work waited; 5s bounds it to 5s.
	it, err := cons.Messages(jetstream.PullMaxMessages(max(16, 2*workers)), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return fmt.Errorf("pulling from consumer %s: %w", consumer, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	work := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range work {
				b.handle(ctx, consumer, msg, h, opts, log)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			log.Warn("pulling message", "consumer", consumer, "err", err)
			// Do not spin on a persistent error (e.g. the consumer was deleted).
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(opts.MinBackoff):
			}
			continue
		}
		select {
		case work <- msg:
		case <-ctx.Done():
			// Not handled: hand it back for another replica (or the next start) at once.
			_ = msg.Nak()
			return nil
		}
	}
}

// pullExpiry is how long a pull request of Consume waits on the server before it is renewed.
const pullExpiry = 5 * time.Second

// MaxConsumeSize is the largest message a consumer hands to its handler: nothing this package
// publishes for a consumer is larger (see MaxEventSize), so a larger one is poison.
const MaxConsumeSize = MaxEventSize

func (b *Bus) handle(ctx context.Context, consumer string, msg jetstream.Msg, h Handler, opts ConsumeOptions, log *slog.Logger) {
	opts.Metrics.ObserveDelivery(consumer, msg)
	// The span continues the trace of the publish, whose context the headers carry.
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier(msg.Headers()))
	ctx, span := otel.Tracer(tracerName).Start(ctx, "process "+msg.Subject(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(append(spanAttributes(msg.Subject(), msg.Headers().Get(jetstream.MsgIDHeader)),
			attribute.String("messaging.consumer.group.name", consumer))...))
	log = messageLogger(log, msg)
	if opts.Logger != nil {
		ctx = context.WithValue(ctx, loggerKey{}, log)
	}
	var herr error
	if n := len(msg.Data()); n > MaxConsumeSize {
		herr = fmt.Errorf("%w: message of %d bytes exceeds the %d-byte limit", ErrPoison, n, MaxConsumeSize)
	} else {
		herr = h(ctx, msg)
	}
	dead := false
	switch {
	case herr == nil:
		if err := msg.DoubleAck(ctx); err != nil {
			log.Warn("acking message", "consumer", consumer, "subject", msg.Subject(), "err", err)
		}
	case isPoison(herr):
		dead = true
		log.Error("dead-lettering message", "consumer", consumer, "subject", msg.Subject(), "err", herr)
		if err := b.deadLetter(ctx, consumer, msg, herr); err != nil {
			// Without a dead-letter record the message must not be dropped: retry later.
			log.Error("publishing dead letter", "consumer", consumer, "err", err)
			_ = msg.NakWithDelay(opts.MaxBackoff)
			break
		}
		if err := msg.TermWithReason(herr.Error()); err != nil {
			log.Warn("terminating message", "consumer", consumer, "err", err)
		}
	default:
		delay := opts.MinBackoff
		if md, err := msg.Metadata(); err == nil {
			for i := uint64(1); i < md.NumDelivered && delay < opts.MaxBackoff; i++ {
				delay *= 2
			}
		}
		delay = min(delay, opts.MaxBackoff)
		delay = delay/2 + rand.N(delay/2+1)
		if ctx.Err() == nil {
			log.Warn("message failed; will retry", "consumer", consumer, "subject", msg.Subject(), "retry_in", delay, "err", herr)
		}
		_ = msg.NakWithDelay(delay)
	}
	span.SetAttributes(attribute.Bool("aspm.dead_lettered", dead))
	endSpan(span, herr)
	if opts.OnResult != nil {
		opts.OnResult(msg.Subject(), herr, dead)
	}
}

// deadLetter publishes the dead letter of msg. A payload too large to travel in the dead letter
// (a huge message, or one whose bytes grow when encoded) is kept in the object store as
// "dead/<dead letter ID>" and the reason says so.
func (b *Bus) deadLetter(ctx context.Context, consumer string, msg jetstream.Msg, reason error) error {
	dl := event.NewDeadLetter(consumer, msg.Subject(), msg.Data(), reason, time.Now())
	data, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encoding dead letter: %w", err)
	}
	if len(data) > MaxEventSize {
		ref := DeadLetterPrefix + dl.ID
		if err := b.putObject(ctx, ref, msg.Data()); err != nil {
			return err
		}
		dl.Data, dl.Raw, dl.RawBytes = nil, "", nil
		dl.Reason = fmt.Sprintf("%s (the %d-byte payload is kept in object store %s as %s)", dl.Reason, len(msg.Data()), ObjectStoreSBOMs, ref)
	}
	return b.Publish(ctx, event.SubjectDeadPrefix+consumer, dl)
}

// DeadLetterPrefix prefixes the object-store name of a dead-lettered payload too large for its
// dead letter; the dead letter's ID follows.
const DeadLetterPrefix = "dead/"
