package bus

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueMetricsConfig says what a QueueMetrics reports.
type QueueMetricsConfig struct {
	// Consumers are durable consumers of StreamEvents whose state is exported; each service
	// names its own, so that services gathered into one /metrics (as `aspm up` does) never
	// export the same series twice.
	Consumers []string
	// Streams are streams whose size is exported; one service of a deployment names them.
	Streams []string
	// Timeout bounds the JetStream requests of one scrape; default 2s.
	Timeout time.Duration
}

// QueueMetrics is a prometheus.Collector of the bus as JetStream sees it: on every scrape it
// asks JetStream for the state of the configured consumers (messages not yet delivered, that
// is the queue's lag; deliveries awaiting an ack; messages being redelivered; waiting pull
// requests) and the size of the configured streams. It also counts the redeliveries that
// Consume hands to handlers (ConsumeOptions.Metrics). A consumer or stream JetStream does
// not describe within the timeout is left out of that scrape and counted in
// aspm_bus_scrape_errors_total; the rest of /metrics is served as usual.
type QueueMetrics struct {
	cfg QueueMetricsConfig

	mu sync.Mutex
	js jetstream.JetStream

	pending, ackPending, redelivered, waiting *prometheus.Desc
	streamMsgs, streamBytes                   *prometheus.Desc

	redeliveries *prometheus.CounterVec
	scrapeErrors *prometheus.CounterVec
}

var _ prometheus.Collector = (*QueueMetrics)(nil)

// NewQueueMetrics returns the collector for cfg; it reports queue state once Bind gives it a
// bus.
func NewQueueMetrics(cfg QueueMetricsConfig) *QueueMetrics {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	consumer := []string{"consumer"}
	m := &QueueMetrics{
		cfg: cfg,
		pending: prometheus.NewDesc("aspm_bus_consumer_pending_messages",
			"Messages in the stream the consumer has not yet been delivered: its lag.", consumer, nil),
		ackPending: prometheus.NewDesc("aspm_bus_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not yet acknowledged.", consumer, nil),
		redelivered: prometheus.NewDesc("aspm_bus_consumer_redelivered_messages",
			"Messages delivered to the consumer more than once and not yet acknowledged.", consumer, nil),
		waiting: prometheus.NewDesc("aspm_bus_consumer_waiting_pulls",
			"Pull requests waiting on the consumer: replicas idle for want of work.", consumer, nil),
		streamMsgs: prometheus.NewDesc("aspm_bus_stream_messages",
			"Messages the stream holds.", []string{"stream"}, nil),
		streamBytes: prometheus.NewDesc("aspm_bus_stream_bytes",
			"Bytes the stream holds.", []string{"stream"}, nil),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aspm_bus_redeliveries_total",
			Help: "Messages handed to a handler that had been delivered before (NumDelivered > 1), by consumer.",
		}, consumer),
		scrapeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aspm_bus_scrape_errors_total",
			Help: "Scrapes in which JetStream did not describe a consumer or stream in time; its series were left out.",
		}, []string{"target"}),
	}
	for _, c := range cfg.Consumers {
		m.redeliveries.WithLabelValues(c)
		m.scrapeErrors.WithLabelValues("consumer/" + c)
	}
	for _, s := range cfg.Streams {
		m.scrapeErrors.WithLabelValues("stream/" + s)
	}
	return m
}

// Bind makes the collector report the state of b's consumers and streams.
func (m *QueueMetrics) Bind(b *Bus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.js = b.js
}

// ObserveDelivery counts msg in aspm_bus_redeliveries_total when JetStream delivered it
// before. Consume calls it for every message when ConsumeOptions.Metrics is set; consumers
// with their own loop may call it too. A nil QueueMetrics does nothing.
func (m *QueueMetrics) ObserveDelivery(consumer string, msg jetstream.Msg) {
	if m == nil {
		return
	}
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		m.redeliveries.WithLabelValues(consumer).Inc()
	}
}

// Describe sends the descriptions of every metric the collector exports.
func (m *QueueMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.pending, m.ackPending, m.redelivered, m.waiting, m.streamMsgs, m.streamBytes} {
		ch <- d
	}
	m.redeliveries.Describe(ch)
	m.scrapeErrors.Describe(ch)
}

// Collect asks JetStream for the consumers' and streams' state, within the timeout, and sends
// the metrics of those it described.
func (m *QueueMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	js := m.js
	m.mu.Unlock()
	if js != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, name := range m.cfg.Consumers {
			wg.Go(func() { m.collectConsumer(ctx, js, name, ch) })
		}
		for _, name := range m.cfg.Streams {
			wg.Go(func() { m.collectStream(ctx, js, name, ch) })
		}
		wg.Wait()
	}
	m.redeliveries.Collect(ch)
	m.scrapeErrors.Collect(ch)
}

func (m *QueueMetrics) collectConsumer(ctx context.Context, js jetstream.JetStream, name string, ch chan<- prometheus.Metric) {
	c, err := js.Consumer(ctx, StreamEvents, name)
	if err != nil {
		m.scrapeErrors.WithLabelValues("consumer/" + name).Inc()
		return
	}
	info := c.CachedInfo()
	ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(info.NumPending), name)
	ch <- prometheus.MustNewConstMetric(m.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), name)
	ch <- prometheus.MustNewConstMetric(m.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), name)
	ch <- prometheus.MustNewConstMetric(m.waiting, prometheus.GaugeValue, float64(info.NumWaiting), name)
}

func (m *QueueMetrics) collectStream(ctx context.Context, js jetstream.JetStream, name string, ch chan<- prometheus.Metric) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		m.scrapeErrors.WithLabelValues("stream/" + name).Inc()
		return
	}
	st := s.CachedInfo().State
	ch <- prometheus.MustNewConstMetric(m.streamMsgs, prometheus.GaugeValue, float64(st.Msgs), name)
	ch <- prometheus.MustNewConstMetric(m.streamBytes, prometheus.GaugeValue, float64(st.Bytes), name)
}
