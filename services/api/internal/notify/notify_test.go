package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/services/api/internal/notify/notifytest"
)

// testWriter sends the notifier's log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// runNotifier builds a notifier on b with cfg and runs it until the returned stop is called
// (or the test ends); stop waits for Run to return.
func runNotifier(t *testing.T, b *bus.Bus, cfg Config) (*Notifier, func()) {
	t.Helper()
	n, err := New(context.Background(), cfg, Deps{JetStream: b.JetStream(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("notify.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return n, stop
}

// fastRetries is a Config's retry part for tests.
func fastRetries(c Config) Config {
	c.MinBackoff, c.MaxBackoff, c.RequestTimeout = Duration(50*time.Millisecond), Duration(200*time.Millisecond), Duration(5*time.Second)
	return c
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func digestOf(s string) evidence.Digest {
	return evidence.Digest("sha256:" + hashHex(s)[:64])
}

// gapEvent is the event of gap code opening (or closing) for the artifact named name, in env
// of team core of org acme, found by evaluation eval at minute min after t0.
func gapEvent(opened bool, name, env, team, code, severity string, min int) event.GapChanged {
	img := evidence.ImageRef{Repository: "registry.example/acme/" + name, Digest: digestOf(name)}
	s := evidence.Score{Image: img, Environment: env, Org: "acme", Team: team,
		EvaluationID: fmt.Sprintf("eval-%s-%d", name, min), EvaluatedAt: t0.Add(time.Duration(min) * time.Minute)}
	return event.NewGapChanged(opened, s, evidence.Gap{Code: code, Severity: severity, Message: "the gap " + code, Rule: "test"})
}

func subjectOf(ev event.GapChanged) string {
	if ev.Schema == event.SchemaGapOpened {
		return event.SubjectGapOpened
	}
	return event.SubjectGapClosed
}

func mustPublish(t *testing.T, b *bus.Bus, evs ...event.GapChanged) {
	t.Helper()
	for _, ev := range evs {
		if err := b.Publish(context.Background(), subjectOf(ev), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// mustRedeliver publishes ev again under a new message ID, as a re-publishing scorer or a
// duplicate past the de-duplication window would: the bus does not drop it.
func mustRedeliver(t *testing.T, b *bus.Bus, ev event.GapChanged) {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().Publish(context.Background(), subjectOf(ev), data, jetstream.WithMsgID(ev.ID+"-again")); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or 15 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until the notifier has acknowledged every event in the stream (the consumer's
// ack floor reached the stream's last message) and holds none unacknowledged.
func settle(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx := context.Background()
	str, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	si, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := si.State.LastSeq
	eventually(t, "the notifier to handle every event", func() bool {
		c, err := b.JetStream().Consumer(ctx, bus.StreamEvents, ConsumerName)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
}

func jiraSink(name, base, group string) SinkConfig {
	return SinkConfig{Name: name, Kind: KindJira, Group: group,
		Jira: &JiraConfig{BaseURL: base, Project: "SEC", UserEnv: "TEST_JIRA_USER", TokenEnv: "TEST_JIRA_TOKEN"}}
}

func newFakeJira(t *testing.T) *notifytest.Jira {
	t.Setenv("TEST_JIRA_USER", "bot@acme.example")
	t.Setenv("TEST_JIRA_TOKEN", "jira-secret")
	return notifytest.NewJira(t, "SEC", "Basic "+base64.StdEncoding.EncodeToString([]byte("bot@acme.example:jira-secret")))
}

func gitHubSink(name, base, group string) SinkConfig {
	return SinkConfig{Name: name, Kind: KindGitHub, Group: group,
		GitHub: &GitHubConfig{APIURL: base, Owner: "acme", Repo: "security", Labels: []string{"security"}, TokenEnv: "TEST_GITHUB_TOKEN"}}
}

func newFakeGitHub(t *testing.T) *notifytest.GitHub {
	t.Setenv("TEST_GITHUB_TOKEN", "ghp_test")
	return notifytest.NewGitHub(t, "acme", "security", "ghp_test")
}

func countRequests(reqs []notifytest.Request, method, pathPart string) int {
	n := 0
	for _, r := range reqs {
		if r.Method == method && strings.Contains(r.Path, pathPart) {
			n++
		}
	}
	return n
}

// TestJiraTicketLife follows one gap's ticket from the gap opening to its closing, through a
// redelivered event and a reopening, and logs each step.
func TestJiraTicketLife(t *testing.T) {
	_, b := bustest.Connect(t)
	jira := newFakeJira(t)
	n, _ := runNotifier(t, b, fastRetries(Config{Sinks: []SinkConfig{jiraSink("jira", jira.URL, GroupFingerprint)}}))

	opened := gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 0)
	t.Logf("step 1: gap opened: %s %s (fingerprint %s)", opened.Gap.Code, opened.Image, opened.Fingerprint)
	mustPublish(t, b, opened)
	eventually(t, "a Jira issue", func() bool { return len(jira.Issues()) == 1 })
	settle(t, b)
	is := jira.Issues()[0]
	t.Logf("step 2: ticket created %s: %q labels %v", is.Key, is.Summary, is.Labels)
	if !slices.Contains(is.Labels, markerLabel("jira", groupKey(GroupFingerprint, gapOf(opened)))) {
		t.Errorf("labels %v lack the group's marker", is.Labels)
	}
	if !strings.Contains(is.Description, opened.Fingerprint) || !strings.Contains(is.Summary, "provenance.missing") {
		t.Errorf("issue text does not name the gap: %q / %q", is.Summary, is.Description)
	}
	tickets, err := n.Tickets(context.Background(), []Gap{gapOf(opened)})
	if err != nil {
		t.Fatal(err)
	}
	if got := tickets[opened.Fingerprint]; len(got) != 1 || got[0].Key != is.Key || got[0].URL != jira.URL+"/browse/"+is.Key || got[0].State != StateOpen {
		t.Fatalf("Tickets = %+v, want %s open", got, is.Key)
	}

	// The same event delivered again, and a later evaluation still finding the gap: neither
	// files another ticket nor comments.
	mustRedeliver(t, b, opened)
	mustPublish(t, b, gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 1))
	settle(t, b)
	if got := jira.Issues(); len(got) != 1 || len(got[0].Comments) != 0 {
		t.Fatalf("after redelivery: %d issues, comments %q; want 1 issue, no comment", len(got), got[0].Comments)
	}
	t.Logf("step 3: redelivered opened event ignored: still one issue %s", is.Key)

	closed := gapEvent(false, "app", "prod", "core", "provenance.missing", "high", 5)
	mustPublish(t, b, closed)
	t.Logf("step 4: gap closed at %s", closed.Time.Format(time.RFC3339))
	settle(t, b)
	is = jira.Issues()[0]
	if len(is.Comments) != 1 || !strings.Contains(is.Comments[0], "Gap closed") {
		t.Fatalf("comments %q, want one saying the gap closed", is.Comments)
	}
	t.Logf("step 5: comment on %s: %q", is.Key, is.Comments[0])
	if is.Status != "Done" || !slices.Equal(is.Transitions, []string{"Done"}) {
		t.Fatalf("status %q after transitions %v, want Done", is.Status, is.Transitions)
	}
	t.Logf("step 6: %s transitioned through %v to %s", is.Key, is.Transitions, is.Status)

	reopened := gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 9)
	mustPublish(t, b, reopened)
	settle(t, b)
	all := jira.Issues()
	if len(all) != 1 || all[0].Status != "To Do" || !slices.Equal(all[0].Transitions, []string{"Done", "Reopen"}) {
		t.Fatalf("after the gap opened again: %d issues, %s status %q transitions %v; want the one issue reopened",
			len(all), all[0].Key, all[0].Status, all[0].Transitions)
	}
	t.Logf("step 7: gap opened again: %s reopened (%v), comment %q", all[0].Key, all[0].Transitions, all[0].Comments[len(all[0].Comments)-1])

	// Stale: a closing event older than the reopening changes nothing.
	mustPublish(t, b, gapEvent(false, "app", "prod", "core", "provenance.missing", "high", 7))
	settle(t, b)
	if got := jira.Issues()[0]; got.Status != "To Do" {
		t.Fatalf("a stale closing event moved %s to %s", got.Key, got.Status)
	}
}

// TestExactlyOnceAcrossRestart loses the tracker's answer to the creation (the issue exists,
// the notifier does not know it), stops the notifier and starts another: the redelivered event
// finds the issue by its marker label instead of filing a second one.
func TestExactlyOnceAcrossRestart(t *testing.T) {
	for _, kind := range []string{KindJira, KindGitHub} {
		t.Run(kind, func(t *testing.T) {
			_, b := bustest.Connect(t)
			var (
				sc     SinkConfig
				faults interface {
					FailNext(int, notifytest.Fault)
					Requests() []notifytest.Request
				}
				count      func() int
				createPath string
			)
			if kind == KindJira {
				j := newFakeJira(t)
				sc, faults, count, createPath = jiraSink("tickets", j.URL, GroupFingerprint), j, func() int { return len(j.Issues()) }, "/rest/api/2/issue"
			} else {
				g := newFakeGitHub(t)
				sc, faults, count, createPath = gitHubSink("tickets", g.URL, GroupFingerprint), g, func() int { return len(g.Issues()) }, "/repos/acme/security/issues"
			}
			faults.FailNext(1, notifytest.Fault{LoseAnswer: true, Match: func(r *http.Request) bool {
				return r.Method == http.MethodPost && r.URL.Path == createPath
			}})
			cfg := fastRetries(Config{Sinks: []SinkConfig{sc}})
			cfg.MinBackoff, cfg.MaxBackoff = Duration(time.Second), Duration(2*time.Second) // time to restart before the redelivery
			n1, stop1 := runNotifier(t, b, cfg)
			_ = n1
			ev := gapEvent(true, "svc", "prod", "core", "source.unpinned", "medium", 0)
			mustPublish(t, b, ev)
			eventually(t, "the lost creation", func() bool {
				for _, r := range faults.Requests() {
					if r.Method == http.MethodPost && r.Path == createPath && r.Status == http.StatusGatewayTimeout {
						return true
					}
				}
				return false
			})
			stop1()
			t.Logf("first notifier stopped after the tracker created issue 1 and its answer was lost (issues: %d)", count())

			// JetStream redelivers the event the first notifier nak'd to the second.
			n2, _ := runNotifier(t, b, cfg)
			settle(t, b)
			if got := count(); got != 1 {
				t.Fatalf("%d issues after the restart, want 1", got)
			}
			if creates := countRequests(faults.Requests(), http.MethodPost, createPath); creates != 1 {
				t.Errorf("%d creation requests, want 1", creates)
			}
			tickets, err := n2.Tickets(context.Background(), []Gap{gapOf(ev)})
			if err != nil {
				t.Fatal(err)
			}
			if len(tickets[ev.Fingerprint]) != 1 {
				t.Fatalf("tickets after the restart: %+v", tickets)
			}
			t.Logf("second notifier adopted %s found by its marker label; one issue in all", tickets[ev.Fingerprint][0].Key)
		})
	}
}

// TestGroupingTeamCode files one GitHub issue for three gaps of one code in one team and
// closes it when the last closes; another team's gap gets its own.
func TestGroupingTeamCode(t *testing.T) {
	_, b := bustest.Connect(t)
	gh := newFakeGitHub(t)
	n, _ := runNotifier(t, b, fastRetries(Config{Sinks: []SinkConfig{gitHubSink("gh", gh.URL, GroupTeamCode)}}))

	var opened []event.GapChanged
	for i, name := range []string{"a", "b", "c"} {
		opened = append(opened, gapEvent(true, name, "prod", "core", "sbom.missing", "medium", i))
	}
	other := gapEvent(true, "d", "prod", "web", "sbom.missing", "medium", 0)
	mustPublish(t, b, append(opened, other)...)
	settle(t, b)
	issues := gh.Issues()
	if len(issues) != 2 {
		t.Fatalf("%d issues, want 2 (one per team)", len(issues))
	}
	core := issues[0]
	if !strings.Contains(core.Title, "acme/core") || !slices.Contains(core.Labels, "security") || len(core.Comments) != 2 {
		t.Fatalf("core's issue: %q labels %v comments %q; want its title to name the team, the configured label, 2 comments",
			core.Title, core.Labels, core.Comments)
	}
	t.Logf("three core gaps → issue #%d %q with %d comments; web's gap → issue #%d", core.Number, core.Title, len(core.Comments), issues[1].Number)
	var gaps []Gap
	for _, ev := range opened {
		gaps = append(gaps, gapOf(ev))
	}
	tickets, err := n.Tickets(context.Background(), gaps)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range opened {
		if got := tickets[ev.Fingerprint]; len(got) != 1 || got[0].Number != core.Number || got[0].Key != fmt.Sprintf("acme/security#%d", core.Number) {
			t.Errorf("tickets of %s: %+v, want #%d", ev.Image, got, core.Number)
		}
	}

	for i, ev := range opened {
		closed := gapEvent(false, ev.Image.Repository[strings.LastIndex(ev.Image.Repository, "/")+1:], "prod", "core", "sbom.missing", "medium", 10+i)
		mustPublish(t, b, closed)
		settle(t, b)
		got := gh.Issues()[core.Number-1]
		wantState := "open"
		if i == len(opened)-1 {
			wantState = "closed"
		}
		if got.State != wantState {
			t.Fatalf("after %d of 3 gaps closed: issue #%d is %s, want %s", i+1, got.Number, got.State, wantState)
		}
		t.Logf("gap %d of 3 closed: issue #%d %s (%s), last comment %q", i+1, got.Number, got.State, got.StateReason, got.Comments[len(got.Comments)-1])
	}
	if web := gh.Issues()[1]; web.State != "open" {
		t.Errorf("web's issue is %s, want open", web.State)
	}
}

// TestWebhook delivers signed events a receiver verifies with VerifySignature, filters by
// severity and environment, and shows a replayed request is refused.
func TestWebhook(t *testing.T) {
	_, b := bustest.Connect(t)
	secret := "whsec-test"
	t.Setenv("TEST_WEBHOOK_SECRET", secret)
	type delivery struct {
		header http.Header
		body   []byte
	}
	var (
		mu  sync.Mutex
		got []delivery
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifySignature([]byte(secret), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	runNotifier(t, b, fastRetries(Config{Sinks: []SinkConfig{{Name: "hook", Kind: KindWebhook,
		Filter:  Filter{Environments: []string{"prod"}, MinSeverity: "high"},
		Webhook: &WebhookConfig{URL: recv.URL + "/aspm", SecretEnv: "TEST_WEBHOOK_SECRET"}}}}))

	high := gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 0)
	mustPublish(t, b,
		high,
		gapEvent(true, "app", "prod", "core", "sbom.unsigned", "low", 0),              // below min severity
		gapEvent(true, "app", "staging", "core", "provenance.missing", "critical", 0), // another environment
	)
	mustRedeliver(t, b, high)
	settle(t, b)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1 (the high prod gap, once)", len(got))
	}
	d := got[0]
	var p WebhookPayload
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "gap.opened" || p.Event.Fingerprint != high.Fingerprint || p.Sink != "hook" || d.header.Get(HeaderDelivery) != high.ID {
		t.Errorf("payload %+v, delivery %q", p, d.header.Get(HeaderDelivery))
	}
	ts, sig := d.header.Get(HeaderTimestamp), d.header.Get(HeaderSignature)
	t.Logf("delivered %s with %s: %s", p.Type, HeaderSignature, sig)

	// The same request replayed ten minutes later is refused, and so is a changed body.
	if err := VerifySignature([]byte(secret), ts, sig, d.body, time.Now().Add(10*time.Minute), 5*time.Minute); !errors.Is(err, ErrStale) {
		t.Errorf("replay ten minutes later: %v, want ErrStale", err)
	}
	tampered := strings.Replace(string(d.body), "high", "low", 1)
	if err := VerifySignature([]byte(secret), ts, sig, []byte(tampered), time.Now(), 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed body: %v, want ErrBadSignature", err)
	}
	if err := VerifySignature([]byte("other"), ts, sig, d.body, time.Now(), 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another secret: %v, want ErrBadSignature", err)
	}
}

// TestDeadLetter fails every Jira request: after max_attempts deliveries the event is a dead
// letter naming the sink, the reason (Jira's own error message) and the attempts.
func TestDeadLetter(t *testing.T) {
	_, b := bustest.Connect(t)
	jira := newFakeJira(t)
	jira.FailNext(1000, notifytest.Fault{Status: http.StatusInternalServerError})
	cfg := fastRetries(Config{MaxAttempts: 3, Sinks: []SinkConfig{jiraSink("jira", jira.URL, GroupFingerprint)}})
	n, _ := runNotifier(t, b, cfg)
	ev := gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 0)
	mustPublish(t, b, ev)
	settle(t, b)
	dls, err := n.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	d := dls[0]
	if d.Sink != "jira" || d.Attempts != 3 || d.EventID != ev.ID || d.Org != "acme" || !strings.Contains(d.Reason, "500") ||
		!strings.Contains(d.Reason, "Internal server error") || !json.Valid(d.Event) {
		t.Fatalf("dead letter %+v", d)
	}
	if got := len(jira.Requests()); got != 3 {
		t.Errorf("%d requests to Jira, want 3 (one search per attempt)", got)
	}
	t.Logf("dead letter after %d attempts: %s", d.Attempts, d.Reason)

	// An event of a schema this version does not read is dead-lettered at once, for no sink.
	if _, err := b.JetStream().Publish(context.Background(), event.SubjectGapClosed,
		[]byte(`{"schema":"aspm.gap.closed/v9","id":"future-1"}`)); err != nil {
		t.Fatal(err)
	}
	settle(t, b)
	dls, err = n.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || dls[0].Sink != "" || dls[0].Attempts != 1 || !strings.Contains(dls[0].Reason, "unknown schema") {
		t.Fatalf("dead letters %+v, want the unreadable event's first", dls)
	}
}

// TestRetryAfter waits as long as a 429's Retry-After and a spent GitHub rate limit ask before
// trying again.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(g *notifytest.GitHub) notifytest.Fault
	}{
		{"429 Retry-After", func(*notifytest.GitHub) notifytest.Fault {
			return notifytest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "2"}
		}},
		{"403 secondary rate limit", func(*notifytest.GitHub) notifytest.Fault {
			return notifytest.Fault{Status: http.StatusForbidden, RetryAfter: "2"}
		}},
		{"403 primary limit spent", func(*notifytest.GitHub) notifytest.Fault {
			h := http.Header{}
			h.Set("X-Ratelimit-Remaining", "0")
			h.Set("X-Ratelimit-Reset", fmt.Sprint(time.Now().Add(3*time.Second).Unix()))
			return notifytest.Fault{Status: http.StatusForbidden, Header: h,
				Body: `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b := bustest.Connect(t)
			gh := newFakeGitHub(t)
			gh.FailNext(1, tc.fault(gh))
			runNotifier(t, b, fastRetries(Config{Sinks: []SinkConfig{gitHubSink("gh", gh.URL, GroupFingerprint)}}))
			start := time.Now()
			mustPublish(t, b, gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 0))
			eventually(t, "the issue", func() bool { return len(gh.Issues()) == 1 })
			reqs := gh.Requests()
			if len(reqs) < 2 || reqs[0].Status == http.StatusOK {
				t.Fatalf("requests %+v", reqs)
			}
			if waited := time.Since(start); waited < 1500*time.Millisecond {
				t.Fatalf("retried after %s, before the server's wait", waited)
			}
			t.Logf("first answer %d, retried and created the issue after %s", reqs[0].Status, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestLookupPagination adopts the oldest of several issues carrying a group's marker, reading
// every page of Jira's search and of GitHub's listing (skipping pull requests).
func TestLookupPagination(t *testing.T) {
	ev := gapEvent(true, "app", "prod", "core", "provenance.missing", "high", 0)
	marker := markerLabel("t", groupKey(GroupFingerprint, gapOf(ev)))
	t.Run("jira", func(t *testing.T) {
		_, b := bustest.Connect(t)
		jira := newFakeJira(t)
		jira.PageSize = 2
		jira.Seed("unrelated", "other")
		var keys []string
		for i := range 5 {
			keys = append(keys, jira.Seed(fmt.Sprintf("copy %d", i), "aspm", marker))
		}
		n, _ := runNotifier(t, b, fastRetries(Config{Sinks: []SinkConfig{jiraSink("t", jira.URL, GroupFingerprint)}}))
		mustPublish(t, b, ev)
		settle(t, b)
		if got := len(jira.Issues()); got != 6 {
			t.Fatalf("%d issues, want the 6 seeded (no new one)", got)
		}
		if pages := countRequests(jira.Requests(), http.MethodGet, "/rest/api/2/search"); pages != 3 {
			t.Errorf("%d search pages read, want 3 (5 hits, 2 a page)", pages)
		}
		tickets, err := n.Tickets(context.Background(), []Gap{gapOf(ev)})
		if err != nil {
			t.Fatal(err)
		}
		if got := tickets[ev.Fingerprint]; len(got) != 1 || got[0].Key != keys[0] {
			t.Fatalf("adopted %+v, want the oldest %s", got, keys[0])
		}
	})
	t.Run("github", func(t *testing.T) {
		_, b := bustest.Connect(t)
		gh := newFakeGitHub(t)
		gh.MaxPerPage = 2
		gh.Seed("a pull request", true, marker)
		for i := range 3 {
			gh.Seed(fmt.Sprintf("copy %d", i), false, marker)
		}
		n, _ := runNotifier(t, b, fastRetries(Config{Sinks: []SinkConfig{gitHubSink("t", gh.URL, GroupFingerprint)}}))
		mustPublish(t, b, ev)
		settle(t, b)
		if got := len(gh.Issues()); got != 4 {
			t.Fatalf("%d issues, want the 4 seeded (no new one)", got)
		}
		var pages []string
		for _, r := range gh.Requests() {
			if r.Method == http.MethodGet {
				pages = append(pages, r.Query)
			}
		}
		if len(pages) != 2 || !strings.Contains(pages[1], "page=2") {
			t.Errorf("listing requests %q, want two pages followed by the Link header", pages)
		}
		tickets, err := n.Tickets(context.Background(), []Gap{gapOf(ev)})
		if err != nil {
			t.Fatal(err)
		}
		if got := tickets[ev.Fingerprint]; len(got) != 1 || got[0].Number != 2 {
			t.Fatalf("adopted %+v, want issue #2 (the oldest issue; #1 is a pull request)", got)
		}
	})
}

// TestConfig loads the documented example and refuses what cannot work.
func TestConfig(t *testing.T) {
	c, err := LoadConfig("../../../../deploy/notify/notify.example.yaml")
	if err != nil {
		t.Fatalf("the example configuration: %v", err)
	}
	if len(c.Sinks) != 3 || c.MaxAttempts != 5 || c.Sinks[1].Jira.DoneTransition == "" {
		t.Errorf("example: %+v", c)
	}
	for name, tc := range map[string]Config{
		"no sinks":       {},
		"unknown kind":   {Sinks: []SinkConfig{{Name: "x", Kind: "slack", Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "X"}}}},
		"two sections":   {Sinks: []SinkConfig{{Name: "x", Kind: KindWebhook, Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "X"}, Jira: &JiraConfig{}}}},
		"no secret":      {Sinks: []SinkConfig{{Name: "x", Kind: KindWebhook, Webhook: &WebhookConfig{URL: "https://x"}}}},
		"bad url":        {Sinks: []SinkConfig{{Name: "x", Kind: KindWebhook, Webhook: &WebhookConfig{URL: "ftp://x", SecretEnv: "X"}}}},
		"bad group":      {Sinks: []SinkConfig{{Name: "x", Kind: KindWebhook, Group: "org", Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "X"}}}},
		"bad severity":   {Sinks: []SinkConfig{{Name: "x", Kind: KindWebhook, Filter: Filter{MinSeverity: "urgent"}, Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "X"}}}},
		"bad name":       {Sinks: []SinkConfig{{Name: "a.b", Kind: KindWebhook, Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "X"}}}},
		"jira, no token": {Sinks: []SinkConfig{{Name: "j", Kind: KindJira, Jira: &JiraConfig{BaseURL: "https://x", Project: "P"}}}},
		"same name twice": {Sinks: []SinkConfig{
			{Name: "x", Kind: KindWebhook, Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "X"}},
			{Name: "x", Kind: KindWebhook, Webhook: &WebhookConfig{URL: "https://y", SecretEnv: "X"}}}},
	} {
		if err := tc.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want ErrConfig", name, err)
		}
	}
	// A secret that is not in the environment fails New, without a connection.
	_, b := bustest.Connect(t)
	_, err = New(context.Background(), Config{Sinks: []SinkConfig{{Name: "x", Kind: KindWebhook,
		Webhook: &WebhookConfig{URL: "https://x", SecretEnv: "TEST_UNSET_SECRET_VARIABLE"}}}}, Deps{JetStream: b.JetStream()})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("New with an unset secret: %v, want ErrConfig", err)
	}
}
