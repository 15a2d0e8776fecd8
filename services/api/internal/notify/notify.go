// Package notify is the notifier: it turns aspm.gap.opened and aspm.gap.closed events into
// signed webhook calls and into Jira or GitHub issues, one per gap or per configured group of
// gaps. Tickets are created exactly once per group, even under redelivery and restarts: the
// group's state lives in a JetStream key-value bucket updated by compare-and-swap, and before
// creating a ticket the notifier looks for one carrying the group's marker label. Failed
// deliveries are retried through JetStream redelivery with back-off; after the configured
// number of attempts the event becomes a dead letter the API lists.
package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/event"
)

// ConsumerName is the durable JetStream consumer the notifier pulls gap events from.
const ConsumerName = "notifier"

// ackWait is how long a delivery may take before JetStream redelivers it; the notifier
// signals progress between sinks.
const ackWait = 2 * time.Minute

// maxRetryAfter caps how long a server's Retry-After may postpone a redelivery.
const maxRetryAfter = time.Hour

type nowFunc func() time.Time

// Gap is what the notifier needs to know of a gap to route it and find its tickets.
type Gap struct {
	Fingerprint string
	Digest      string
	Environment string
	Org         string
	Team        string
	Code        string
	Severity    string
}

func gapOf(ev event.GapChanged) Gap {
	return Gap{Fingerprint: ev.Fingerprint, Digest: string(ev.Image.Digest), Environment: ev.Environment,
		Org: ev.Org, Team: ev.Team, Code: ev.Gap.Code, Severity: ev.Gap.Severity}
}

// groupKey is the group g belongs to under rule.
func groupKey(rule string, g Gap) string {
	switch rule {
	case GroupWorkload:
		return "workload:" + g.Digest + "@" + g.Environment
	case GroupTeamCode:
		return "team-code:" + g.Org + "/" + g.Team + "/" + g.Environment + "/" + g.Code
	}
	return "fingerprint:" + g.Fingerprint
}

// issue is the text of a new ticket.
type issue struct{ title, body string }

// tracker is an issue tracker: Jira or GitHub.
type tracker interface {
	// find returns the oldest ticket labelled marker; nil when there is none.
	find(ctx context.Context, marker string) (*Ticket, error)
	create(ctx context.Context, marker string, is issue) (Ticket, error)
	comment(ctx context.Context, t Ticket, text string) error
	close(ctx context.Context, t Ticket) error
	reopen(ctx context.Context, t Ticket) error
}

var (
	_ tracker = (*jira)(nil)
	_ tracker = (*gitHub)(nil)
)

type sink struct {
	cfg     SinkConfig
	tracker tracker  // nil for a webhook
	hook    *webhook // nil for a tracker
}

// Deps are what the notifier works with.
type Deps struct {
	// JetStream is the connection to the bus; required.
	JetStream jetstream.JetStream
	// Replicas is the replica count of the notifier's buckets; default 1.
	Replicas int
	Logger   *slog.Logger
	// HTTPClient sends the requests to sinks; default one with the configured timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Queue, when set, counts the redeliveries of the notifier's consumer.
	Queue *bus.QueueMetrics
}

// Notifier delivers gap events to the configured sinks.
type Notifier struct {
	cfg   Config
	sinks []sink
	st    *state
	js    jetstream.JetStream
	log   *slog.Logger
	now   nowFunc
	queue *bus.QueueMetrics
}

// New validates cfg, reads the sinks' secrets from the environment or files, and creates the
// notifier's buckets and consumer. Errors about the configuration wrap ErrConfig.
func New(ctx context.Context, cfg Config, deps Deps) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JetStream == nil {
		return nil, errors.New("notify: a JetStream connection is required")
	}
	n := &Notifier{cfg: cfg, js: deps.JetStream, log: deps.Logger, now: deps.Now, queue: deps.Queue}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	hc := deps.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Duration(cfg.RequestTimeout)}
	}
	for _, sc := range cfg.Sinks {
		s := sink{cfg: sc}
		var err error
		switch sc.Kind {
		case KindWebhook:
			s.hook, err = newWebhook(sc.Name, *sc.Webhook, hc, n.now)
		case KindJira:
			s.tracker, err = newJira(sc.Name, *sc.Jira, hc, n.now)
		case KindGitHub:
			s.tracker, err = newGitHub(sc.Name, *sc.GitHub, hc, n.now)
		}
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", sc.Name, err)
		}
		n.sinks = append(n.sinks, s)
	}
	st, err := openState(ctx, deps.JetStream, deps.Replicas)
	if err != nil {
		return nil, err
	}
	n.st = st
	if _, err := deps.JetStream.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:        ConsumerName,
		Description:    "api notifier: webhooks and tickets for opened and closed gaps",
		FilterSubjects: []string{event.SubjectGapOpened, event.SubjectGapClosed},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1, // the notifier counts attempts itself and dead-letters
		MaxAckPending:  64,
	}); err != nil {
		return nil, fmt.Errorf("creating consumer %s: %w", ConsumerName, err)
	}
	return n, nil
}

// Run pulls gap events and delivers them until ctx is done; it returns nil then.
func (n *Notifier) Run(ctx context.Context) error {
	cons, err := n.js.Consumer(ctx, bus.StreamEvents, ConsumerName)
	if err != nil {
		return fmt.Errorf("looking up consumer %s: %w", ConsumerName, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(16))
	if err != nil {
		return fmt.Errorf("pulling from consumer %s: %w", ConsumerName, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			n.log.Warn("pulling gap event", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Duration(n.cfg.MinBackoff)):
			}
			continue
		}
		n.process(ctx, msg)
	}
}

// sinkError is a sink's failure to take an event.
type sinkError struct {
	sink string
	err  error
}

func (e sinkError) Error() string { return e.sink + ": " + e.err.Error() }
func (e sinkError) Unwrap() error { return e.err }

// settleContext bounds acknowledging and dead-lettering a message, which happen even when
// ctx has ended meanwhile: the work is done.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// process handles one message and acks it, naks it with a delay, or dead-letters it.
func (n *Notifier) process(ctx context.Context, msg jetstream.Msg) {
	hctx, cancel := context.WithTimeout(ctx, ackWait-10*time.Second)
	defer cancel()
	n.queue.ObserveDelivery(ConsumerName, msg)
	attempts := 1
	if md, err := msg.Metadata(); err == nil {
		attempts = int(md.NumDelivered)
	}
	var ev event.GapChanged
	schema := event.SchemaGapClosed
	if msg.Subject() == event.SubjectGapOpened {
		schema = event.SchemaGapOpened
	}
	if err := event.Decode(msg.Data(), schema, &ev); err != nil {
		actx, acancel := settleContext(ctx)
		defer acancel()
		n.deadLetter(actx, msg, []sinkError{{sink: "", err: err}}, ev, attempts)
		return
	}
	var failed []sinkError
	for i := range n.sinks {
		s := &n.sinks[i]
		if !s.cfg.Filter.matches(gapOf(ev)) {
			continue
		}
		_ = msg.InProgress()
		var err error
		if s.hook != nil {
			err = n.deliverWebhook(hctx, s, msg.Subject(), ev)
		} else {
			err = n.applyTicket(hctx, s, ev, msg.Subject() == event.SubjectGapOpened)
		}
		if err != nil {
			failed = append(failed, sinkError{sink: s.cfg.Name, err: err})
		}
	}
	actx, acancel := settleContext(ctx)
	defer acancel()
	switch {
	case len(failed) > 0 && ctx.Err() != nil:
		// Shutting down: the failures may be the cancellation's; hand the event back rather
		// than dead-letter it.
		_ = msg.Nak()
	case len(failed) == 0:
		if err := msg.DoubleAck(actx); err != nil {
			n.log.Warn("acking gap event", "id", ev.ID, "err", err)
		}
	case attempts >= n.cfg.MaxAttempts:
		n.deadLetter(actx, msg, failed, ev, attempts)
	default:
		var errs []error
		for _, f := range failed {
			errs = append(errs, f)
		}
		err := errors.Join(errs...)
		delay := time.Duration(n.cfg.MinBackoff)
		for i := 1; i < attempts && delay < time.Duration(n.cfg.MaxBackoff); i++ {
			delay *= 2
		}
		delay = min(delay, time.Duration(n.cfg.MaxBackoff))
		delay = max(delay, min(retryAfter(err), maxRetryAfter))
		if ctx.Err() == nil {
			n.log.Warn("notification failed; will retry", "id", ev.ID, "subject", msg.Subject(), "attempt", attempts,
				"retry_in", delay, "err", err)
		}
		_ = msg.NakWithDelay(delay)
	}
}

// deadLetter records one dead letter per failed sink and acks the message; when the record
// cannot be written the message is retried instead of dropped.
func (n *Notifier) deadLetter(ctx context.Context, msg jetstream.Msg, failed []sinkError, ev event.GapChanged, attempts int) {
	id := ev.ID
	if id == "" {
		id = hashHex(string(msg.Data()))[:40]
	}
	for _, f := range failed {
		d := DeadLetter{Sink: f.sink, Subject: msg.Subject(), EventID: id, Org: ev.Org, Team: ev.Team, Env: ev.Environment,
			Reason: f.err.Error(), Attempts: attempts, Time: n.now().UTC(), Event: append([]byte(nil), msg.Data()...)}
		if !json.Valid(d.Event) || !bytes.HasPrefix(bytes.TrimSpace(d.Event), []byte("{")) {
			d.Event = nil // not a JSON object: the reason says what it was
		}
		n.log.Error("dead-lettering notification", "sink", f.sink, "id", id, "attempts", attempts, "err", f.err)
		if err := n.st.putDeadLetter(ctx, d); err != nil {
			n.log.Error("writing dead letter", "err", err)
			_ = msg.NakWithDelay(time.Duration(n.cfg.MaxBackoff))
			return
		}
	}
	if err := msg.DoubleAck(ctx); err != nil {
		n.log.Warn("acking dead-lettered gap event", "id", id, "err", err)
	}
}

func (n *Notifier) deliverWebhook(ctx context.Context, s *sink, subject string, ev event.GapChanged) error {
	done, err := n.st.delivered(ctx, s.cfg.Name, ev.ID)
	if err != nil || done {
		return err
	}
	typ := strings.TrimPrefix(subject, "aspm.")
	p := WebhookPayload{Type: typ, Sink: s.cfg.Name, Group: groupKey(s.cfg.Group, gapOf(ev)), Event: ev}
	if err := s.hook.deliver(ctx, subject, p); err != nil {
		return err
	}
	n.log.Info("webhook delivered", "sink", s.cfg.Name, "id", ev.ID, "type", typ)
	return n.st.markDelivered(ctx, s.cfg.Name, ev.ID, n.now())
}

// maxCASRetries bounds the compare-and-swap loop of one event.
const maxCASRetries = 10

// applyTicket applies ev to its group's record in sink s and makes the tracker agree: a ticket
// for a group that has open gaps, closed when the last closes.
func (n *Notifier) applyTicket(ctx context.Context, s *sink, ev event.GapChanged, opened bool) error {
	g := gapOf(ev)
	group := groupKey(s.cfg.Group, g)
	key := recordKey(s.cfg.Name, group)
	for range maxCASRetries {
		rec, rev, err := n.st.get(ctx, key)
		if err != nil {
			return err
		}
		if slices.Contains(rec.Applied, ev.ID) {
			return nil // a redelivery of an event already applied
		}
		if rec.Gaps == nil {
			rec.Sink, rec.Group, rec.Marker, rec.Gaps = s.cfg.Name, group, markerLabel(s.cfg.Name, group), map[string]GapState{}
		}
		prev, had := rec.Gaps[g.Fingerprint]
		wasOpen := had && prev.Open
		if !had || !ev.Time.Before(prev.At) {
			rec.Gaps[g.Fingerprint] = GapState{Open: opened, At: ev.Time, Code: g.Code}
			if opened != wasOpen {
				if err := n.act(ctx, s, &rec, ev, opened); err != nil {
					return err
				}
			}
		}
		rec.Applied = append(rec.Applied, ev.ID)
		rec.Updated = n.now().UTC()
		switch err := n.st.put(ctx, key, rec, rev); {
		case errors.Is(err, errConflict):
			continue
		case err != nil:
			return err
		}
		return nil
	}
	return fmt.Errorf("notify: record %s kept changing under %d attempts", key, maxCASRetries)
}

// act brings the tracker in line with a gap of rec that just opened or closed.
func (n *Notifier) act(ctx context.Context, s *sink, rec *Record, ev event.GapChanged, opened bool) error {
	log := n.log.With("sink", s.cfg.Name, "group", rec.Group, "fingerprint", ev.Fingerprint)
	what := fmt.Sprintf("%s (%s) on %s in %s", ev.Gap.Code, ev.Gap.Severity, ev.Image, ev.Environment)
	if opened {
		log.Info("gap opened", "code", ev.Gap.Code)
		if rec.Ticket == nil {
			t, err := s.tracker.find(ctx, rec.Marker)
			if err != nil {
				return err
			}
			if t == nil {
				created, err := s.tracker.create(ctx, rec.Marker, newIssue(s.cfg.Group, rec.Marker, ev))
				if err != nil {
					return err
				}
				log.Info("ticket created", "key", created.Key, "url", created.URL)
				rec.Ticket = &created
				return nil
			}
			log.Info("ticket found by its marker label", "key", t.Key, "state", t.State)
			rec.Ticket = t
			if t.State == StateOpen {
				if rec.openCount() > 1 {
					return s.tracker.comment(ctx, *t, "Another gap in this group opened: "+what+".")
				}
				return nil
			}
		}
		t := rec.Ticket
		if t.State == StateClosed {
			if err := s.tracker.reopen(ctx, *t); err != nil {
				return err
			}
			t.State = StateOpen
			log.Info("ticket reopened", "key", t.Key)
			return s.tracker.comment(ctx, *t, "The gap opened again: "+what+".")
		}
		log.Info("ticket commented", "key", t.Key)
		return s.tracker.comment(ctx, *t, "Another gap in this group opened: "+what+".")
	}
	log.Info("gap closed", "code", ev.Gap.Code)
	t := rec.Ticket
	if t == nil || t.State == StateClosed {
		return nil
	}
	left := rec.openCount()
	msg := fmt.Sprintf("Gap closed: %s. %d gap(s) of this ticket still open.", what, left)
	if err := s.tracker.comment(ctx, *t, msg); err != nil {
		return err
	}
	log.Info("ticket commented", "key", t.Key, "still_open", left)
	if left > 0 {
		return nil
	}
	if err := s.tracker.close(ctx, *t); err != nil {
		return err
	}
	t.State = StateClosed
	log.Info("ticket closed", "key", t.Key)
	return nil
}

// newIssue writes the title and description of the ticket of ev's group.
func newIssue(rule, marker string, ev event.GapChanged) issue {
	var title string
	switch rule {
	case GroupWorkload:
		title = fmt.Sprintf("[aspm] provenance gaps of %s in %s", ev.Image, ev.Environment)
	case GroupTeamCode:
		title = fmt.Sprintf("[aspm] %s in %s/%s (%s)", ev.Gap.Code, ev.Org, cmp.Or(ev.Team, "no team"), ev.Environment)
	default:
		title = fmt.Sprintf("[aspm] %s: %s in %s", ev.Gap.Code, ev.Image, ev.Environment)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", ev.Gap.Message)
	fmt.Fprintf(&b, "Code: %s\nSeverity: %s\nArtifact: %s\nEnvironment: %s\nOrg: %s\n", ev.Gap.Code, ev.Gap.Severity, ev.Image, ev.Environment, ev.Org)
	if ev.Team != "" {
		fmt.Fprintf(&b, "Team: %s\n", ev.Team)
	}
	fmt.Fprintf(&b, "Fingerprint: %s\nGrouping: %s (label %s)\n\n", ev.Fingerprint, rule, marker)
	b.WriteString("Opened by aspm. It is resolved automatically when every gap of the group closes.\n")
	return issue{title: title, body: b.String()}
}

// Tickets returns, by fingerprint, the tickets the sinks hold for gaps.
func (n *Notifier) Tickets(ctx context.Context, gaps []Gap) (map[string][]Ticket, error) {
	out := map[string][]Ticket{}
	cache := map[string]*Record{}
	for _, g := range gaps {
		for _, s := range n.sinks {
			if s.tracker == nil || !s.cfg.Filter.matches(g) {
				continue
			}
			key := recordKey(s.cfg.Name, groupKey(s.cfg.Group, g))
			rec, ok := cache[key]
			if !ok {
				r, _, err := n.st.get(ctx, key)
				if err != nil {
					return nil, err
				}
				rec, cache[key] = &r, &r
			}
			if _, member := rec.Gaps[g.Fingerprint]; member && rec.Ticket != nil {
				out[g.Fingerprint] = append(out[g.Fingerprint], *rec.Ticket)
			}
		}
	}
	return out, nil
}

// TicketsVersion returns a string that changes whenever a ticket record does.
func (n *Notifier) TicketsVersion(ctx context.Context) (string, error) { return n.st.version(ctx) }

// DeadLetters returns the dead letters kept (up to 1000), newest first.
func (n *Notifier) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	return n.st.deadLetters(ctx)
}
