package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	// MinBackoff and MaxBackoff bound the redelivery delay, which doubles with each attempt.
	MinBackoff, MaxBackoff time.Duration
	// OnResult, when set, is called after each message with the handler's error (nil on
	// success) and whether the message was dead-lettered; services count metrics with it.
	// It may be called from several goroutines.
	OnResult func(subject string, err error, dead bool)
	// Workers is how many messages are handled at once; default 1.
	Workers int
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
	it, err := cons.Messages(jetstream.PullMaxMessages(max(16, 2*workers)))
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

func (b *Bus) handle(ctx context.Context, consumer string, msg jetstream.Msg, h Handler, opts ConsumeOptions, log *slog.Logger) {
	herr := h(ctx, msg)
	dead := false
	switch {
	case herr == nil:
		if err := msg.DoubleAck(ctx); err != nil {
			log.Warn("acking message", "consumer", consumer, "subject", msg.Subject(), "err", err)
		}
	case isPoison(herr):
		dead = true
		log.Error("dead-lettering message", "consumer", consumer, "subject", msg.Subject(), "err", herr)
		dl := event.NewDeadLetter(consumer, msg.Subject(), msg.Data(), herr, time.Now())
		if err := b.Publish(ctx, event.SubjectDeadPrefix+consumer, dl); err != nil {
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
		if ctx.Err() == nil {
			log.Warn("message failed; will retry", "consumer", consumer, "subject", msg.Subject(), "retry_in", delay, "err", herr)
		}
		_ = msg.NakWithDelay(delay)
	}
	if opts.OnResult != nil {
		opts.OnResult(msg.Subject(), herr, dead)
	}
}
