package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
)

// scrape gathers reg and returns each series' value by "name{label=value,…}".
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the consume workers' concurrent log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestQueueMetrics(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	qm := bus.NewQueueMetrics(bus.QueueMetricsConfig{
		Consumers: []string{bus.ConsumerScorer, "no-such-consumer"},
		Streams:   []string{bus.StreamEvents, bus.StreamDead},
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(qm)

	// Unbound: only the counters, at zero.
	got := scrape(t, reg)
	if _, ok := got["aspm_bus_consumer_pending_messages{consumer=scorer}"]; ok {
		t.Error("an unbound collector exports consumer state")
	}
	if v, ok := got["aspm_bus_redeliveries_total{consumer=scorer}"]; !ok || v != 0 {
		t.Errorf("redeliveries before any message: %v, %v; want 0, present", v, ok)
	}

	const n = 3
	ids := map[uint64]string{} // stream sequence → message ID
	for i := range n {
		id := "evt-" + string(rune('a'+i))
		ack, err := b.JetStream().Publish(ctx, event.SubjectEvidenceCollected, []byte(`{}`), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		ids[ack.Sequence] = id
	}
	qm.Bind(b)
	got = scrape(t, reg)
	for key, want := range map[string]float64{
		"aspm_bus_consumer_pending_messages{consumer=scorer}":            n,
		"aspm_bus_consumer_ack_pending_messages{consumer=scorer}":        0,
		"aspm_bus_stream_messages{stream=ASPM_EVENTS}":                   n,
		"aspm_bus_stream_messages{stream=ASPM_DEAD}":                     0,
		"aspm_bus_scrape_errors_total{target=consumer/no-such-consumer}": 1,
		"aspm_bus_scrape_errors_total{target=consumer/scorer}":           0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if got["aspm_bus_stream_bytes{stream=ASPM_EVENTS}"] <= 0 {
		t.Errorf("stream bytes = %v, want > 0", got["aspm_bus_stream_bytes{stream=ASPM_EVENTS}"])
	}
	if _, ok := got["aspm_bus_consumer_pending_messages{consumer=no-such-consumer}"]; ok {
		t.Error("a consumer JetStream does not know has state")
	}

	// Each message fails once and succeeds on redelivery; every line the handler logs carries
	// the message's ID and stream sequence.
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var mu sync.Mutex
	seen := map[uint64]int{}
	consume(t, b, bus.ConsumerScorer, func(ctx context.Context, msg jetstream.Msg) error {
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		bus.MessageLogger(ctx, nil).Info("handling")
		mu.Lock()
		defer mu.Unlock()
		seen[md.Sequence.Stream]++
		if seen[md.Sequence.Stream] == 1 {
			return errors.New("transient")
		}
		return nil
	}, bus.ConsumeOptions{Logger: log, Metrics: qm, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	waitFor(t, "every message acked after one redelivery", func() bool {
		got := scrape(t, reg)
		return got["aspm_bus_redeliveries_total{consumer=scorer}"] == n &&
			got["aspm_bus_consumer_pending_messages{consumer=scorer}"] == 0 &&
			got["aspm_bus_consumer_ack_pending_messages{consumer=scorer}"] == 0
	})
	lines := 0
	for l := range strings.Lines(logs.String()) {
		var rec struct {
			Msg       string `json:"msg"`
			MsgID     string `json:"msg_id"`
			StreamSeq uint64 `json:"stream_seq"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines++
		if want := ids[rec.StreamSeq]; want == "" || rec.MsgID != want {
			t.Errorf("log line %q: msg_id %q at stream_seq %d, want %q", rec.Msg, rec.MsgID, rec.StreamSeq, want)
		}
	}
	// Per message: the first "handling", the retry warning, the second "handling".
	if lines < 3*n {
		t.Errorf("%d log lines, want at least %d:\n%s", lines, 3*n, logs.String())
	}
}

// TestQueueMetricsBounded checks that a scrape while NATS is down ends within the timeout,
// leaves the queue state out and counts the errors.
func TestQueueMetricsBounded(t *testing.T) {
	s, b := bustest.Connect(t)
	qm := bus.NewQueueMetrics(bus.QueueMetricsConfig{Consumers: []string{bus.ConsumerIngest}, Streams: []string{bus.StreamEvents}, Timeout: 300 * time.Millisecond})
	qm.Bind(b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(qm)
	if got := scrape(t, reg); got["aspm_bus_consumer_pending_messages{consumer=ingest}"] != 0 || got["aspm_bus_scrape_errors_total{target=consumer/ingest}"] != 0 {
		t.Fatalf("with NATS up: %v", got)
	}
	s.Shutdown()
	start := time.Now()
	got := scrape(t, reg)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("scrape with NATS down took %v, want about the 300ms timeout", d)
	}
	for _, key := range []string{"aspm_bus_consumer_pending_messages{consumer=ingest}", "aspm_bus_stream_messages{stream=ASPM_EVENTS}"} {
		if _, ok := got[key]; ok {
			t.Errorf("%s exported with NATS down", key)
		}
	}
	for _, key := range []string{"aspm_bus_scrape_errors_total{target=consumer/ingest}", "aspm_bus_scrape_errors_total{target=stream/ASPM_EVENTS}"} {
		if got[key] != 1 {
			t.Errorf("%s = %v, want 1", key, got[key])
		}
	}
}
