package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
	"github.com/aspmhq/aspm/services/api/internal/notify/notifytest"
)

// TestNotifier runs the api with a notifier configuration of a Jira sink and a GitHub sink
// whose server always fails: a gap event files a Jira issue that GET /v1/gaps shows on the
// gap (and changes its ETag), and the GitHub failure becomes a dead letter an admin lists
// through GET /v1/notifications/dead-letters — both answers validated against openapi.yaml.
func TestNotifier(t *testing.T) {
	ctx := context.Background()
	s := mustLoadSpec(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	img := evidence.ImageRef{Repository: "registry.example/acme/app", Digest: digestOf("notify/acme")}
	gap := evidence.Gap{Code: "provenance.missing", Severity: "high", Message: "no provenance", Rule: "aspm.gaps.provenance_missing"}
	score := evidence.Score{Image: img, Environment: "prod", Org: "acme", Team: "core", Gaps: []evidence.Gap{gap},
		EvaluationID: "eval-notify-1", EvaluatedAt: t0}
	if err := st.WriteEvaluation(ctx, store.Evaluation{
		Evidence:    evidence.ArtifactEvidence{Image: img, CollectedAt: t0, Evidence: []evidence.Evidence{}},
		Deployments: []evidence.Deployment{{Image: img, Environment: "prod", Org: "acme", Team: "core", ObservedAt: t0}},
		Scores:      []evidence.Score{score},
	}); err != nil {
		t.Fatal(err)
	}
	ev := event.NewGapChanged(true, score, gap)
	if err := st.WriteGapEvents(ctx, []store.GapEvent{{Fingerprint: ev.Fingerprint, Image: img, Environment: "prod", Org: "acme",
		Team: "core", Gap: gap, State: store.GapOpened, At: t0, EvaluationID: score.EvaluationID}}); err != nil {
		t.Fatal(err)
	}
	reader := newToken(t, st, auth.ScopeRead, "acme", nil, nil)
	admin := newToken(t, st, auth.ScopeAdmin, "acme", nil, nil)
	otherAdmin := newToken(t, st, auth.ScopeAdmin, "globex", nil, nil)

	t.Setenv("TEST_JIRA_USER", "bot@acme.example")
	t.Setenv("TEST_JIRA_TOKEN", "jira-secret")
	t.Setenv("TEST_GITHUB_TOKEN", "ghp_test")
	jira := notifytest.NewJira(t, "SEC", "Basic "+base64.StdEncoding.EncodeToString([]byte("bot@acme.example:jira-secret")))
	gh := notifytest.NewGitHub(t, "acme", "security", "ghp_test")
	gh.FailNext(1000, notifytest.Fault{Status: http.StatusBadGateway})
	cfgPath := filepath.Join(t.TempDir(), "notify.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
max_attempts: 2
min_backoff: 50ms
max_backoff: 100ms
sinks:
  - name: jira
    kind: jira
    filter: {environments: [prod], min_severity: high}
    jira: {base_url: "`+jira.URL+`", project: SEC, user_env: TEST_JIRA_USER, token_env: TEST_JIRA_TOKEN}
  - name: gh
    kind: github
    group: workload
    github: {api_url: "`+gh.URL+`", owner: acme, repo: security, token_env: TEST_GITHUB_TOKEN}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	ns := bustest.Start(t)
	svc, err := api.New(api.Config{Bus: bus.Config{URL: ns.ClientURL()}, Listen: "127.0.0.1:0", NotifyConfig: cfgPath,
		RateLimit: 1000, RateBurst: 1000}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("api.Run: %v", err)
		}
	})
	addrCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addr, err := svc.Addr(addrCtx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr

	get := func(t *testing.T, token, path string, header map[string]string) exchange {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		ex := s.mustExchange(t, base, req, nil)
		if ex.requestErr != nil {
			t.Fatalf("the document rejects %s: %v", path, ex.requestErr)
		}
		return ex
	}
	before := get(t, reader, "/v1/gaps", nil)
	if before.status != http.StatusOK {
		t.Fatalf("GET /v1/gaps: %d %s", before.status, before.body)
	}

	pub, err := bus.Connect(ctx, bus.Config{URL: ns.ClientURL(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Publish(ctx, event.SubjectGapOpened, ev); err != nil {
		t.Fatal(err)
	}

	var dead struct {
		Items []struct {
			Sink, Reason string
			Attempts     int
			EventID      string `json:"event_id"`
		}
		Enabled bool
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ex := get(t, admin, "/v1/notifications/dead-letters", nil)
		if ex.status != http.StatusOK {
			t.Fatalf("dead letters: %d %s", ex.status, ex.body)
		}
		if err := json.Unmarshal(ex.body, &dead); err != nil {
			t.Fatal(err)
		}
		if len(dead.Items) > 0 && len(jira.Issues()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter or Jira issue: %s; %d issues", ex.body, len(jira.Issues()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := dead.Items; !dead.Enabled || len(d) != 1 || d[0].Sink != "gh" || d[0].Attempts != 2 || d[0].EventID != ev.ID {
		t.Fatalf("dead letters %+v, want the gh sink's after 2 attempts", dead)
	}
	t.Logf("dead letter listed by the API: sink %s after %d attempts: %s", dead.Items[0].Sink, dead.Items[0].Attempts, dead.Items[0].Reason)
	// Another org's admin does not see acme's dead letters.
	ex := get(t, otherAdmin, "/v1/notifications/dead-letters", nil)
	if err := json.Unmarshal(ex.body, &dead); err != nil || len(dead.Items) != 0 {
		t.Fatalf("globex's admin sees %s", ex.body)
	}

	issue := jira.Issues()[0]
	ex = get(t, reader, "/v1/gaps", map[string]string{"If-None-Match": before.header.Get("ETag")})
	if ex.status != http.StatusOK {
		t.Fatalf("GET /v1/gaps with the ETag from before the ticket: %d, want 200 (the ticket changed the answer)", ex.status)
	}
	var gaps struct {
		Items []struct {
			Fingerprint string
			Tickets     []struct{ Sink, Key, URL, State string }
		}
	}
	if err := json.Unmarshal(ex.body, &gaps); err != nil {
		t.Fatal(err)
	}
	if len(gaps.Items) != 1 || len(gaps.Items[0].Tickets) != 1 {
		t.Fatalf("gaps %s, want one gap with one ticket", ex.body)
	}
	tk := gaps.Items[0].Tickets[0]
	if tk.Sink != "jira" || tk.Key != issue.Key || tk.URL != jira.URL+"/browse/"+issue.Key || tk.State != "open" {
		t.Fatalf("ticket %+v, want jira %s open", tk, issue.Key)
	}
	t.Logf("GET /v1/gaps shows gap %s with ticket %s (%s)", gaps.Items[0].Fingerprint, tk.Key, tk.URL)
	if again := get(t, reader, "/v1/gaps", map[string]string{"If-None-Match": ex.header.Get("ETag")}); again.status != http.StatusNotModified {
		t.Errorf("unchanged gaps and tickets: %d, want 304", again.status)
	}
}
