package scorer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/ops"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// privateClickHouse is a ClickHouse server of one test's own, started with the project's
// script on free loopback ports with its data in a temporary directory, so that the test may
// stop it without disturbing the server other tests share.
type privateClickHouse struct {
	env  []string
	addr string
}

func startPrivateClickHouse(t *testing.T) *privateClickHouse {
	t.Helper()
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/clickhouse-server"); serr == nil {
			bin = "/usr/sbin/clickhouse-server"
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("clickhouse-server is not installed (scripts/clickhouse.sh start installs it)")
		}
		t.Skip("clickhouse-server is not installed; run scripts/clickhouse.sh start once to install it")
	}
	tcp, httpPort := freeLoopbackPort(t), freeLoopbackPort(t)
	c := &privateClickHouse{
		env:  append(os.Environ(), "ASPM_CH_DIR="+t.TempDir(), "ASPM_CH_TCP_PORT="+tcp, "ASPM_CH_HTTP_PORT="+httpPort),
		addr: "127.0.0.1:" + tcp,
	}
	t.Cleanup(func() { c.script(t, "stop") })
	c.script(t, "start")
	return c
}

func (c *privateClickHouse) script(t *testing.T, verb string) {
	t.Helper()
	cmd := exec.Command("../../scripts/clickhouse.sh", verb)
	cmd.Env = c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/clickhouse.sh %s: %v\n%s", verb, err, out)
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// metricValue returns the value of the counter or gauge name (with the label value, if any).
func metricValue(t *testing.T, g prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			matches := label == ""
			for _, l := range m.GetLabel() {
				matches = matches || l.GetValue() == label
			}
			if !matches {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func getReadyz(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Status, Reason string }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body.Reason
}

// TestClickHouseOutage stops the scorer's ClickHouse for 30 seconds while evidence events keep
// arriving: the scorer acks none of them, retries with back-off (a bounded number of store
// writes, not a busy loop), reports not-ready with the reason, and once the server is back
// drains the backlog: every artifact has exactly one score, none is lost or doubled.
func TestClickHouseOutage(t *testing.T) {
	const (
		before = 4  // artifacts scored before the outage
		during = 10 // artifacts whose evidence arrives during it
		outage = 30 * time.Second
	)
	ch := startPrivateClickHouse(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := clickhouse.Open(ctx, clickhouse.Config{Addr: []string{ch.addr}, Database: "aspm_outage", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, b := bustest.Connect(t)
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scorer.New(scorer.Config{
		Bus: bus.Config{URL: ns.ClientURL()}, MinBackoff: 200 * time.Millisecond, MaxBackoff: 3 * time.Second,
		RollupInterval: time.Hour,
	}, scorer.Deps{Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	srv := httptest.NewServer(ops.Handler(svc.Ready, svc.Gatherer()))
	t.Cleanup(srv.Close)

	t0 := time.Unix(1700000000, 0).UTC()
	images := make([]evidence.ImageRef, before+during)
	for i := range images {
		images[i] = evidence.ImageRef{Repository: "registry.example/acme/app", Digest: evidence.Digest(fmt.Sprintf("sha256:%064x", i+1))}
		team := fmt.Sprintf("team-%d", i)
		if err := b.PutDeployment(ctx, evidence.Deployment{Image: images[i], Environment: "prod", Org: "acme", Team: team, Workload: "app", ObservedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	publish := func(i int) {
		t.Helper()
		m := event.NewEvidenceCollected(fmt.Sprintf("deploy-%d", i), evidence.ArtifactEvidence{Image: images[i], CollectedAt: t0.Add(time.Minute), Evidence: []evidence.Evidence{}})
		if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err != nil {
			t.Fatal(err)
		}
	}
	scored := func(n int) bool {
		for _, img := range images[:n] {
			h, err := st.ScoreHistory(ctx, img.Digest)
			if err != nil || len(h) == 0 {
				return false
			}
		}
		return true
	}
	waitUntil := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", d, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	consumerInfo := func() *jetstream.ConsumerInfo {
		t.Helper()
		c, err := b.JetStream().Consumer(ctx, bus.StreamEvents, bus.ConsumerScorer)
		if err != nil {
			t.Fatal(err)
		}
		return c.CachedInfo()
	}

	for i := range before {
		publish(i)
	}
	waitUntil("the first artifacts to be scored", 30*time.Second, func() bool { return scored(before) })
	waitUntil("their acks", 10*time.Second, func() bool { ci := consumerInfo(); return ci.NumAckPending == 0 && ci.NumPending == 0 })
	if code, reason := getReadyz(t, srv.URL); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d %s", code, reason)
	}
	ackFloor := consumerInfo().AckFloor.Stream

	// The outage: events keep arriving over its first half.
	ch.script(t, "stop")
	down := time.Now()
	for i := before; i < before+during; i++ {
		publish(i)
		time.Sleep(outage / 2 / during)
	}
	waitUntil("the scorer to report not-ready", 10*time.Second, func() bool { return svc.Ready(ctx) != nil })
	if err := svc.Ready(ctx); !strings.HasPrefix(err.Error(), "store: ") {
		t.Errorf("Ready during the outage = %v; want a store error", err)
	}
	if code, reason := getReadyz(t, srv.URL); code != http.StatusServiceUnavailable || !strings.HasPrefix(reason, "store: ") {
		t.Errorf("/readyz during the outage: %d %q; want 503 with the store's error", code, reason)
	}
	time.Sleep(time.Until(down.Add(outage)))
	// Nothing was acked while the store was down: every message is still pending or in
	// flight, and the ack floor has not moved.
	ci := consumerInfo()
	if ci.AckFloor.Stream != ackFloor || int(ci.NumAckPending)+int(ci.NumPending) != during {
		t.Errorf("during the outage: ack floor %d (was %d), %d ack-pending + %d pending; want the floor unmoved and %d held",
			ci.AckFloor.Stream, ackFloor, ci.NumAckPending, ci.NumPending, during)
	}
	failures := metricValue(t, svc.Gatherer(), "aspm_scorer_store_write_errors_total", "")
	retries := metricValue(t, svc.Gatherer(), "aspm_scorer_messages_total", "retry")
	t.Logf("%v outage: %v failed store writes, %v retried messages, store_up %v", outage, failures, retries,
		metricValue(t, svc.Gatherer(), "aspm_scorer_store_up", ""))
	// Each message is retried after 200ms, 400ms, … up to 3s (jittered down to half): about
	// 20 attempts each in 30s. Without back-off it would be thousands.
	if failures < 2*during || failures > 40*during || retries != failures {
		t.Errorf("%v failed store writes and %v retries for %d messages over %v; want between %d and %d, equal",
			failures, retries, during, outage, 2*during, 40*during)
	}
	if up := metricValue(t, svc.Gatherer(), "aspm_scorer_store_up", ""); up != 0 {
		t.Errorf("aspm_scorer_store_up = %v during the outage, want 0", up)
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("the store answered during the outage")
	}

	// Back up: the backlog drains within the maximum back-off.
	ch.script(t, "start")
	up := time.Now()
	waitUntil("the backlog to drain", 30*time.Second, func() bool { return scored(before + during) })
	waitUntil("every message acked", 10*time.Second, func() bool { ci := consumerInfo(); return ci.NumAckPending == 0 && ci.NumPending == 0 })
	t.Logf("backlog of %d drained %v after the restart", during, time.Since(up).Round(10*time.Millisecond))
	waitUntil("ready again", 10*time.Second, func() bool { return svc.Ready(ctx) == nil })
	if code, reason := getReadyz(t, srv.URL); code != http.StatusOK {
		t.Errorf("/readyz after the restart: %d %s", code, reason)
	}

	// Exactly one score per artifact, with its own deployment's team: nothing lost, nothing
	// doubled, nothing mixed up.
	for i, img := range images {
		h, err := st.ScoreHistory(ctx, img.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 {
			t.Errorf("artifact %d has %d scores, want 1", i, len(h))
			continue
		}
		s := h[0]
		if s.Image != img || s.Environment != "prod" || s.Org != "acme" || s.Team != fmt.Sprintf("team-%d", i) || s.PolicyVersion != pol.Version() {
			t.Errorf("artifact %d: score %+v", i, s)
		}
		cur, err := st.CurrentScores(ctx, img.Digest)
		if err != nil || len(cur) != 1 || cur[0].EvaluationID != s.EvaluationID {
			t.Errorf("artifact %d: current scores %+v, %v", i, cur, err)
		}
	}
	if ok := metricValue(t, svc.Gatherer(), "aspm_scorer_messages_total", "ok"); ok != before+during {
		t.Errorf("%v messages handled successfully, want %d", ok, before+during)
	}
	if up := metricValue(t, svc.Gatherer(), "aspm_scorer_store_up", ""); up != 1 {
		t.Errorf("aspm_scorer_store_up = %v after the restart, want 1", up)
	}
}
