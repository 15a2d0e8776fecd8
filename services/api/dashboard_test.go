package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
)

// EnvChromium names the environment variable that points the browser test at a Chromium binary.
const EnvChromium = "ASPM_CHROMIUM"

// EnvArtifacts names the directory where tests leave artifacts for people to look at.
const EnvArtifacts = "ASPM_TEST_ARTIFACTS"

// chromiumPath returns the Chromium to test with: $ASPM_CHROMIUM, or Debian's chromium. Without
// one the test skips, except in CI (CI=true) or when $ASPM_CHROMIUM is set, where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%s: %v", EnvChromium, p, err)
		}
		return path
	}
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium is not installed: scripts/test.sh installs Debian's chromium (or set %s)", EnvChromium)
	}
	t.Skipf("chromium is not installed (apt-get install chromium, or set %s)", EnvChromium)
	return ""
}

// artifactDir returns where to save the test's screenshots: $ASPM_TEST_ARTIFACTS, or a
// temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The gap catalogue of the seeded world.
var seedGaps = map[string]evidence.Gap{
	"provenance.missing":         {Code: "provenance.missing", Severity: "high", Message: "No provenance names this digest.", Rule: "aspm.gaps.provenance_missing"},
	"provenance.unsigned":        {Code: "provenance.unsigned", Severity: "high", Message: "The provenance is not signed.", Rule: "aspm.gaps.provenance_unsigned"},
	"signature.invalid":          {Code: "signature.invalid", Severity: "critical", Message: "The provenance signature does not verify.", Rule: "aspm.gaps.signature_invalid"},
	"sbom.missing":               {Code: "sbom.missing", Severity: "medium", Message: "No SBOM is attached.", Rule: "aspm.gaps.sbom_missing"},
	"builder.self_hosted_runner": {Code: "builder.self_hosted_runner", Severity: "medium", Message: "Built on a self-hosted runner.", Rule: "aspm.gaps.self_hosted"},
	"level.below_required":       {Code: "level.below_required", Severity: "high", Message: "prod requires SLSA L3.", Rule: "aspm.gaps.level_required"},
}

// seedState is what the policy said about an artifact at one time.
type seedState struct {
	level    evidence.Level
	verified bool
	gaps     []string // codes; prod adds level.below_required below L3
}

// seedArtifact is one artifact of the seeded world.
type seedArtifact struct {
	name, org, team string
	envs            []string
	since           int        // the first stage it runs in
	early           *seedState // its state before the last stage, when it differed
	now             seedState
	components      [][3]string // name, version, purl
}

func (a seedArtifact) image() evidence.ImageRef {
	return evidence.ImageRef{Repository: "registry.example/" + a.org + "/" + a.name, Digest: digestOf("image/" + a.name)}
}

// dashboardWorld is two orgs, four teams and three environments: eight artifacts whose levels
// and gaps changed over three stages, each rolled up into a past day, and SBOM components that
// run in several places.
var dashboardWorld = []seedArtifact{
	{name: "payments-api", org: "acme", team: "payments", envs: []string{"prod", "staging"},
		early: &seedState{level: 1, gaps: []string{"provenance.unsigned"}}, now: seedState{level: 3, verified: true},
		components: [][3]string{{"openssl", "3.0.15", "pkg:deb/debian/openssl@3.0.15"}, {"zlib", "1.3", "pkg:deb/debian/zlib@1.3"}}},
	{name: "checkout", org: "acme", team: "payments", envs: []string{"prod"},
		now:        seedState{level: 2, verified: true},
		components: [][3]string{{"openssl", "3.0.2", "pkg:deb/debian/openssl@3.0.2"}}},
	{name: "web-frontend", org: "acme", team: "web", envs: []string{"prod", "staging", "dev"},
		now:        seedState{level: 1, gaps: []string{"provenance.unsigned", "builder.self_hosted_runner"}},
		components: [][3]string{{"openssl", "3.0.2", "pkg:deb/debian/openssl@3.0.2"}, {"lodash", "4.17.21", "pkg:npm/lodash@4.17.21"}}},
	{name: "web-admin", org: "acme", team: "web", envs: []string{"staging"}, since: 1,
		now: seedState{level: 0, gaps: []string{"provenance.missing", "sbom.missing"}}},
	{name: "platform-ingress", org: "acme", team: "platform", envs: []string{"prod", "dev"},
		early: &seedState{level: 2, verified: true}, now: seedState{level: 3, verified: true},
		components: [][3]string{{"openssl", "3.0.15", "pkg:deb/debian/openssl@3.0.15"}}},
	{name: "platform-batch", org: "acme", team: "platform", envs: []string{"dev"}, since: 2,
		now:        seedState{level: 0, gaps: []string{"provenance.missing"}},
		components: [][3]string{{"zlib", "1.2.13", "pkg:deb/debian/zlib@1.2.13"}}},
	{name: "core-api", org: "globex", team: "core", envs: []string{"prod", "staging"},
		now:        seedState{level: 2, verified: true},
		components: [][3]string{{"openssl", "3.0.2", "pkg:deb/debian/openssl@3.0.2"}}},
	{name: "core-worker", org: "globex", team: "core", envs: []string{"prod"}, since: 1,
		now: seedState{level: 1, gaps: []string{"signature.invalid", "sbom.missing"}}},
}

// explanation is what the seeded policy says about a: one line of it looks like HTML, so that
// the page shows it only when it escapes what it shows.
func explanation(a seedArtifact, st seedState, env string) []string {
	var lines []string
	switch {
	case st.level == 0:
		lines = append(lines, "no provenance names "+string(a.image().Digest))
	case st.verified:
		lines = append(lines, "provenance verified: keyless signature by https://github.com/"+a.org+"/"+a.name+"/.github/workflows/release.yml@refs/tags/v1.4.0")
	default:
		lines = append(lines, "provenance found, not verified")
	}
	if st.level >= 2 {
		lines = append(lines, fmt.Sprintf("builder https://github.com/slsa-framework/slsa-github-generator is trusted at level %d", st.level))
	}
	if a.name == "web-frontend" {
		lines = append(lines, `source ref <b>main</b> & "unpinned" is not a release tag <script>alert(1)</script>`)
	}
	if env == "prod" && st.level < 3 {
		lines = append(lines, "prod requires L3")
	}
	return append(lines, fmt.Sprintf("level %s in %s", st.level, env))
}

// seedDashboardWorld writes dashboardWorld in three stages, rolling coverage up after each
// (stage 0 into the day three days ago, stage 1 into the two days after it, stage 2 into today),
// with the gap events the stages imply, and serves the api on a test server.
func seedDashboardWorld(t *testing.T) (*httptest.Server, store.Store) {
	t.Helper()
	ctx := context.Background()
	_, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	rollups := [][]int{{-3}, {-2, -1}, {0}} // the days each stage is rolled up into
	open := map[string]store.GapEvent{}     // fingerprint → the event that opened it
	for stage, days := range rollups {
		at := now.Add(time.Duration(stage-3) * time.Hour)
		var events []store.GapEvent
		seen := map[string]bool{}
		for _, a := range dashboardWorld {
			if a.since > stage {
				continue
			}
			state := a.now
			if a.early != nil && stage < 2 {
				state = *a.early
			}
			img := a.image()
			evalID := fmt.Sprintf("eval-%s-%d", a.name, stage)
			ev := store.Evaluation{Evidence: evidence.ArtifactEvidence{Image: img, CollectedAt: at, Evidence: []evidence.Evidence{}}}
			if state.level > 0 {
				ev.Evidence.Evidence = append(ev.Evidence.Evidence, evidence.Evidence{
					ID: digestOf(fmt.Sprintf("provenance/%s/%d", a.name, stage)), Kind: evidence.KindProvenance, Source: "oci-referrers",
					PredicateType: "https://slsa.dev/provenance/v1", Subjects: []evidence.Digest{img.Digest}, SubjectMatch: true,
					Signed:       state.verified,
					Verification: evidence.Verification{Verified: state.verified},
					Provenance: &evidence.Provenance{BuilderID: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0",
						SourceRepository: "https://github.com/" + a.org + "/" + a.name, SourceRef: "refs/tags/v1.4.0", RunnerEnvironment: "github-hosted"},
				})
			}
			if state.verified && state.level > 0 {
				prov := &ev.Evidence.Evidence[0]
				prov.Verification.TlogEntries = 1
				prov.Verification.Signer = &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "https://token.actions.githubusercontent.com",
					Identity: "https://github.com/" + a.org + "/" + a.name + "/.github/workflows/release.yml@refs/tags/v1.4.0"}
			}
			if len(a.components) > 0 {
				doc := digestOf("sbom/" + a.name)
				ev.Evidence.Evidence = append(ev.Evidence.Evidence, evidence.Evidence{ID: doc, Kind: evidence.KindSBOM, Source: "cosign-tag",
					SBOM: &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: len(a.components)}})
				for _, c := range a.components {
					ev.Components = append(ev.Components, store.Component{SBOM: doc, Name: c[0], Version: c[1], PURL: c[2], Type: "library"})
				}
			}
			for i, env := range a.envs {
				ev.Deployments = append(ev.Deployments, evidence.Deployment{Image: img, Environment: env, Org: a.org, Team: a.team,
					Cluster: []string{"eu-1", "us-1"}[i%2], Namespace: a.team, Workload: a.name, ObservedAt: at})
				codes := slices.Clone(state.gaps)
				if env == "prod" && state.level < 3 {
					codes = append(codes, "level.below_required")
				}
				sc := evidence.Score{Image: img, Environment: env, Org: a.org, Team: a.team, Level: state.level,
					Risk: min(100, 25*len(codes)+10*int(3-state.level)), VerifiedProvenance: state.verified, Gaps: []evidence.Gap{},
					Explanation: explanation(a, state, env), PolicyVersion: "test-1", EvaluationID: evalID, EvaluatedAt: at}
				for _, code := range codes {
					g := seedGaps[code]
					sc.Gaps = append(sc.Gaps, g)
					fp := event.GapFingerprint(img.Digest, env, code)
					seen[fp] = true
					if _, ok := open[fp]; !ok {
						e := store.GapEvent{Fingerprint: fp, Image: img, Environment: env, Org: a.org, Team: a.team, Gap: g,
							State: store.GapOpened, At: at, EvaluationID: evalID}
						open[fp] = e
						events = append(events, e)
					}
				}
				ev.Scores = append(ev.Scores, sc)
			}
			if err := st.WriteEvaluation(ctx, ev); err != nil {
				t.Fatalf("writing %s at stage %d: %v", a.name, stage, err)
			}
		}
		for _, fp := range slices.Sorted(maps.Keys(open)) {
			if !seen[fp] {
				e := open[fp]
				e.State, e.At, e.EvaluationID = store.GapClosed, at, fmt.Sprintf("eval-%s-%d", strings.Split(e.Image.Repository, "/")[2], stage)
				events = append(events, e)
				delete(open, fp)
			}
		}
		if err := st.WriteGapEvents(ctx, events); err != nil {
			t.Fatalf("writing the gap events of stage %d: %v", stage, err)
		}
		for _, d := range days {
			if err := st.RollupCoverage(ctx, now.AddDate(0, 0, d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(b))
	t.Cleanup(srv.Close)
	return srv, st
}

// getAPI decodes the answer of GET path with token into v, failing t unless it is 200.
func getAPI(t *testing.T, srv *httptest.Server, token, path string, v any) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// allItems follows the next cursors of a paginated endpoint.
func allItems[T any](t *testing.T, srv *httptest.Server, token, path string) []T {
	t.Helper()
	var items []T
	after := ""
	for {
		var page struct {
			Items []T    `json:"items"`
			Next  string `json:"next"`
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		getAPI(t, srv, token, path+sep+"limit=1000&after="+url.QueryEscape(after), &page)
		items = append(items, page.Items...)
		if after = page.Next; after == "" {
			return items
		}
	}
}

// pctText is how the page shows n of total as a percentage.
func pctText(n, total int) string {
	if total == 0 {
		return "–"
	}
	return fmt.Sprintf("%d%%", int(math.Round(float64(n)*100/float64(total))))
}

// The page's state: "loading", "ready", or "login" when it shows the token form.
const waitPage = `(s => s === "ready" || s === "login" ? s : false)(document.getElementById("app")?.dataset.state)`

// testIDs returns the text of every element with a data-testid, by test id.
const testIDs = `Object.fromEntries([...document.querySelectorAll("[data-testid]")].map(e => [e.dataset.testid, e.textContent.trim()]))`

// TestDashboardInBrowser loads the dashboard in headless Chromium against an api serving a
// seeded store, and checks that every figure it shows equals what the API answers for the same
// token, that it loads nothing from other hosts, that it takes the token out of the address
// bar, and that a bad token gets the token form. It saves a screenshot of the whole page.
func TestDashboardInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	srv, st := seedDashboardWorld(t)
	token := newToken(t, st, auth.ScopeRead, "*", nil, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The defaults run it --headless, quiet (no first run, background networking, sync, …) and
	// with its shared memory outside /dev/shm.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		// Nothing but the test server resolves: a request elsewhere fails instead of leaving.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}

	var (
		mu       sync.Mutex
		requests []string
		problems []string
	)
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text+describe(ev.ExceptionDetails.Exception))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console."+string(ev.Type)+": "+describeArgs(ev.Args))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait := func(what, want string) {
		t.Helper()
		got, err := chromedp.Run(bctx, chromedp.Poll[string](waitPage, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil || got != want {
			t.Fatalf("%s: page state %q, %v; want %q", what, got, err, want)
		}
	}
	shown := func() map[string]string {
		t.Helper()
		m, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](testIDs))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	start := time.Now()

	// The dashboard link, as `aspm up --demo` prints it.
	run("opening the dashboard", chromedp.Navigate(srv.URL+"/#token="+token))
	wait("loading with the fragment token", "ready")
	t.Logf("the dashboard loaded in %v", time.Since(start).Round(time.Millisecond))
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, token) || strings.Contains(loc, "#") {
		t.Errorf("the address bar still holds the token: %s", loc)
	}
	if kept, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`localStorage.getItem("aspm.token") || ""`)); kept != token {
		t.Errorf("local storage keeps %q, want the token", kept)
	}
	states, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll("section[data-state]")].map(e => [e.id, e.dataset.state]))`))
	if err != nil {
		t.Fatal(err)
	}
	for id, s := range states {
		if s != "ready" {
			t.Errorf("section %s is %q, want ready", id, s)
		}
	}
	got := shown()

	// Headline and level distribution: /v1/coverage.
	var cov store.Coverage
	getAPI(t, srv, token, "/v1/coverage", &cov)
	if cov.Total < 8 || cov.WithGaps == 0 || cov.VerifiedProvenance == 0 {
		t.Fatalf("the seeded world is too small: %+v", cov)
	}
	want := map[string]string{
		"headline-total":         fmt.Sprint(cov.Total),
		"headline-verified":      fmt.Sprint(cov.VerifiedProvenance),
		"headline-verified-pct":  pctText(cov.VerifiedProvenance, cov.Total),
		"headline-with-gaps":     fmt.Sprint(cov.WithGaps),
		"headline-with-gaps-pct": pctText(cov.WithGaps, cov.Total),
	}
	for l, n := range cov.ByLevel {
		want["level-"+l] = fmt.Sprint(n)
		want["level-"+l+"-pct"] = pctText(n, cov.Total)
	}

	// Top gaps: every open gap of /v1/gaps, counted by code.
	gaps := allItems[store.GapItem](t, srv, token, "/v1/gaps?state=open")
	want["gaps-total"] = fmt.Sprint(len(gaps))
	for _, g := range gaps {
		n := 0
		fmt.Sscan(want["gap-count-"+g.Code], &n)
		want["gap-count-"+g.Code] = fmt.Sprint(n + 1)
	}

	// The trend: /v1/coverage/trend by environment, each day's verified share.
	var trend struct {
		Points []store.TrendPoint `json:"points"`
	}
	today := time.Now().UTC()
	getAPI(t, srv, token, "/v1/coverage/trend?by=env&from="+today.AddDate(0, 0, -29).Format(time.DateOnly)+"&to="+today.Format(time.DateOnly), &trend)
	if len(trend.Points) < 4*3 {
		t.Fatalf("trend: %d points, want a roll-up of three environments on four days", len(trend.Points))
	}
	for _, p := range trend.Points {
		want["trend-"+p.Group+"-"+p.Day.Format(time.DateOnly)] = fmt.Sprintf("%s (%d/%d)", pctText(p.VerifiedProvenance, p.Total), p.VerifiedProvenance, p.Total)
		if p.Day.Format(time.DateOnly) == today.Format(time.DateOnly) {
			want["trend-latest-"+p.Group] = pctText(p.VerifiedProvenance, p.Total)
		}
	}

	// Teams × environments: every cell equals /v1/coverage for that team and environment.
	for _, team := range []string{"payments", "web", "platform", "core"} {
		for _, env := range []string{"prod", "staging", "dev"} {
			var c store.Coverage
			getAPI(t, srv, token, "/v1/coverage?team="+team+"&env="+env, &c)
			id := "cell-" + team + "-" + env
			if c.Total == 0 {
				want[id] = "–"
				continue
			}
			want[id+"-total"] = fmt.Sprint(c.Total)
			want[id+"-pct"] = pctText(c.VerifiedProvenance, c.Total)
		}
	}
	for _, env := range []string{"prod", "staging", "dev"} {
		var c store.Coverage
		getAPI(t, srv, token, "/v1/coverage?env="+env, &c)
		want["cell-*-"+env+"-total"] = fmt.Sprint(c.Total)
		want["cell-*-"+env+"-pct"] = pctText(c.VerifiedProvenance, c.Total)
	}
	if want["cell-web-staging-total"] != "2" {
		t.Errorf("the seeded world has %s artifacts of team web in staging, want 2", want["cell-web-staging-total"])
	}
	// The artifact list: the first page of /v1/artifacts, each with its level and risk.
	arts := allItems[store.ArtifactSummary](t, srv, token, "/v1/artifacts")
	for _, a := range arts {
		want["artifact-level-"+string(a.Image.Digest)] = a.SLSALevel.String()
		want["artifact-risk-"+string(a.Image.Digest)] = fmt.Sprint(a.Risk)
	}
	if rows, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="artifacts-table"] tbody tr').length`)); rows != len(arts) {
		t.Errorf("the artifact list has %d rows, the API %d artifacts", rows, len(arts))
	}
	compareShown(t, want, got)

	// Drill-down: the artifact's per-environment level and the policy's explanation, as
	// /v1/artifacts/{digest} gives them.
	var frontend seedArtifact
	for _, a := range dashboardWorld {
		if a.name == "web-frontend" {
			frontend = a
		}
	}
	d := frontend.image().Digest
	run("opening an artifact", chromedp.Click(chromedp.CSS(`[data-testid="artifact-`+string(d)+`"]`)))
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("detail").dataset.state === "ready"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the artifact's details did not load: %v", err)
	}
	var detail struct {
		Scores []evidence.Score `json:"scores"`
	}
	getAPI(t, srv, token, "/v1/artifacts/"+string(d), &detail)
	wantExpl := map[string][]string{}
	wantLevel := map[string]string{}
	for _, sc := range detail.Scores {
		wantExpl[sc.Environment] = sc.Explanation
		wantLevel[sc.Environment] = sc.Level.String()
	}
	gotExpl, err := chromedp.Run(bctx, chromedp.Evaluate[map[string][]string](
		`Object.fromEntries([...document.querySelectorAll('[data-testid^="detail-explanation-"]')].map(e =>
			[e.dataset.testid.slice("detail-explanation-".length), [...e.querySelectorAll("li")].map(li => li.textContent)]))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(wantExpl) != 3 || !slices.ContainsFunc(wantExpl["prod"], func(s string) bool { return strings.Contains(s, "<script>") }) {
		t.Fatalf("the API's explanation of %s is not the seeded one: %v", d, wantExpl)
	}
	if diff := cmp.Diff(wantExpl, gotExpl); diff != "" {
		t.Errorf("the decision explanation shown (-API +page):\n%s", diff)
	}
	got = shown()
	for env, l := range wantLevel {
		if got["detail-level-"+env] != l {
			t.Errorf("the detail shows level %q in %s, the API %q", got["detail-level-"+env], env, l)
		}
	}
	if got["detail-digest"] != string(d) {
		t.Errorf("the detail shows digest %q, want %s", got["detail-digest"], d)
	}

	// Component search: typed by name and version, then by package URL.
	for _, q := range []struct{ query, version, api string }{
		{"openssl", "3.0.2", "/v1/components?name=openssl&version=3.0.2"},
		{"pkg:deb/debian/openssl@3.0.15", "", "/v1/components?purl=" + url.QueryEscape("pkg:deb/debian/openssl@3.0.15")},
	} {
		run("searching for "+q.query,
			chromedp.Evaluate[chromedp.Void](`for (const id of ["component-q", "component-version"]) document.getElementById(id).value = "";
				document.getElementById("component-status").dataset.state = ""`),
			chromedp.SendKeys(chromedp.ID("component-q"), q.query),
			chromedp.SendKeys(chromedp.ID("component-version"), q.version),
			chromedp.Click(chromedp.CSS(`#component-form button[type="submit"]`)),
		)
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("component-status").dataset.state === "ready"`,
			chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatalf("searching for %s: %v", q.query, err)
		}
		hits := allItems[store.ComponentHit](t, srv, token, q.api)
		rows, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="component-table"] tbody tr').length`))
		if err != nil {
			t.Fatal(err)
		}
		if n := shown()["component-count"]; n != fmt.Sprint(len(hits)) || rows != len(hits) || len(hits) < 2 {
			t.Errorf("search for %s %s: the page counts %q in %d rows, the API %d hits", q.query, q.version, n, rows, len(hits))
		}
	}

	dir := artifactDir(t)
	screenshot := func(name string) {
		t.Helper()
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	screenshot("dashboard.png")

	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(problems, "\n"))
	}
	mu.Unlock()

	// A bad token gets the token form with a message, and is forgotten.
	run("opening with a bad token", chromedp.Navigate(srv.URL+"/#token=aspm_"+strings.Repeat("0", 64)))
	wait("loading with a bad token", "login")
	got = shown()
	if !strings.Contains(got["login-message"], "refused") {
		t.Errorf("the token form says %q, want that the token was refused", got["login-message"])
	}
	shows, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]bool](
		`Object.fromEntries(["login", "dash", "filters"].map(id => [id, getComputedStyle(document.getElementById(id)).display !== "none"]))`))
	if err != nil || !cmp.Equal(shows, map[string]bool{"login": true, "dash": false, "filters": false}) {
		t.Errorf("with a bad token the page shows %v, %v; want the token form alone", shows, err)
	}
	screenshot("dashboard-token-form.png")
	// Without a stored token the form asks for one; a good one typed in opens the dashboard.
	run("reloading", chromedp.Navigate(srv.URL+"/"))
	wait("loading without a token", "login")
	if msg := shown()["login-message"]; !strings.Contains(msg, "Paste") {
		t.Errorf("without a token the form says %q", msg)
	}
	run("typing the token", chromedp.SendKeys(chromedp.ID("token-input"), token), chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	wait("loading with the typed token", "ready")
	if n := shown()["headline-total"]; n != fmt.Sprint(cov.Total) {
		t.Errorf("after typing the token the page shows %s artifacts, want %d", n, cov.Total)
	}

	// Nothing left the test server's host.
	mu.Lock()
	defer mu.Unlock()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || u.Host != host {
			t.Errorf("the page requested %s, outside %s", r, host)
		}
	}
	if len(requests) < 10 {
		t.Errorf("the page made %d requests; the listener missed them", len(requests))
	}
	t.Logf("%d requests, all to %s; the test took %v", len(requests), host, time.Since(start).Round(time.Millisecond))
}

// compareShown reports every figure of want that the page does not show as want says.
func compareShown(t *testing.T, want, got map[string]string) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[id]; !ok {
			t.Errorf("the page shows no %s; want %q", id, want[id])
		} else if strings.ReplaceAll(g, ",", "") != want[id] {
			t.Errorf("%s: the page shows %q, the API says %q", id, g, want[id])
		}
	}
}

func describe(o *runtime.RemoteObject) string {
	if o == nil || o.Description == "" {
		return ""
	}
	return " (" + o.Description + ")"
}

func describeArgs(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		if a.Value != nil {
			parts = append(parts, string(a.Value))
		} else {
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}
