package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
	"github.com/aspmhq/aspm/services/api"
)

// envBench enables BenchmarkEndpointsClickHouse: loading its data set takes minutes the first
// time (it is kept, in database benchDatabase, for the next runs).
const envBench = "ASPM_BENCH_CLICKHOUSE"

const benchDatabase = "aspm_bench"

// BenchmarkEndpointsClickHouse measures the analytics endpoints through HTTP, with a token, on
// ClickHouse holding clickhousetest.BenchSynth: 500,000 artifacts deployed in two environments
// each (1,000,000 score rows, current scores and placements), 10,000,000 SBOM components and a
// year of daily coverage roll-ups. Each sub-benchmark reports the median time of a request,
// median_ms; the goal is under 100 ms each. It is skipped unless ASPM_BENCH_CLICKHOUSE is set
// (make bench sets it).
func BenchmarkEndpointsClickHouse(b *testing.B) {
	if os.Getenv(envBench) == "" {
		b.Skipf("set %s=1 to run (the first run loads 11M rows into ClickHouse database %s)", envBench, benchDatabase)
	}
	ctx := b.Context()
	cfg := clickhouse.Config{Addr: []string{clickhousetest.Addr(b)}, Database: benchDatabase}
	synth := clickhousetest.BenchSynth
	st, stats, err := clickhousetest.Load(ctx, cfg, synth)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	b.Logf("data set %s: reused %v, %s; rows %v", benchDatabase, stats.Reused, stats.Took.Round(time.Second), stats.Rows)

	svc, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, RateLimit: 1e6, RateBurst: 1e6},
		api.Deps{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(nil))
	b.Cleanup(srv.Close)
	secret, tok, err := auth.New("bench", []auth.Scope{auth.ScopeRead}, "*", nil, nil, 0, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := st.PutToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	get := func(b *testing.B, path string, q url.Values) map[string]any {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path+"?"+q.Encode(), nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s?%s: %d %s", path, q.Encode(), resp.StatusCode, raw)
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			b.Fatalf("GET %s?%s: %v", path, q.Encode(), err)
		}
		return v
	}
	// run measures GET path?q, after checking that it answers something (want names the
	// field that must be non-empty).
	run := func(name, path string, q url.Values, want string) {
		b.Run(name, func(b *testing.B) {
			v := get(b, path, q)
			switch x := v[want].(type) {
			case []any:
				if len(x) == 0 {
					b.Fatalf("GET %s?%s: no %s: %v", path, q.Encode(), want, v)
				}
			case float64:
				if x == 0 {
					b.Fatalf("GET %s?%s: %s is 0: %v", path, q.Encode(), want, v)
				}
			default:
				b.Fatalf("GET %s?%s: no %s: %v", path, q.Encode(), want, v)
			}
			durations := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				get(b, path, q)
				durations = append(durations, time.Since(start))
			}
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "median_ms")
		})
	}

	run("coverage/all", "/v1/coverage", nil, "total")
	run("coverage/org", "/v1/coverage", url.Values{"org": {"org-3"}}, "total")
	run("coverage/team", "/v1/coverage", url.Values{"team": {"team-07"}}, "total")
	run("coverage/env", "/v1/coverage", url.Values{"env": {"prod"}}, "total")
	run("coverage/org+env", "/v1/coverage", url.Values{"org": {"org-3"}, "env": {"prod"}}, "total")

	end := synth.End()
	for _, days := range []int{30, 365} {
		for _, by := range []string{"org", "team", "env"} {
			q := url.Values{"by": {by}, "from": {end.AddDate(0, 0, 1-days).Format(time.DateOnly)},
				"to": {end.Format(time.DateOnly)}}
			run("trend/"+strconv.Itoa(days)+"d/by-"+by, "/v1/coverage/trend", q, "points")
		}
		q := url.Values{"by": {"team"}, "org": {"org-2"}, "env": {"prod"},
			"from": {end.AddDate(0, 0, 1-days).Format(time.DateOnly)}, "to": {end.Format(time.DateOnly)}}
		run("trend/"+strconv.Itoa(days)+"d/by-team-org+env", "/v1/coverage/trend", q, "points")
	}

	run("gaps/open", "/v1/gaps", nil, "items")
	run("gaps/env", "/v1/gaps", url.Values{"env": {"prod"}}, "items")
	run("gaps/code", "/v1/gaps", url.Values{"code": {"builder.untrusted"}}, "items")
	run("gaps/closed", "/v1/gaps", url.Values{"state": {"closed"}}, "items")
	first := get(b, "/v1/gaps", url.Values{"env": {"prod"}})
	next, _ := first["next"].(string)
	if next == "" {
		b.Fatal("GET /v1/gaps?env=prod: no next page")
	}
	run("gaps/env-page2", "/v1/gaps", url.Values{"env": {"prod"}, "after": {next}}, "items")

	lib := synth.Component(1234, 5)
	run("components/purl", "/v1/components", url.Values{"purl": {"pkg:deb/debian/openssl@3.0.7"}}, "items")
	run("components/purl-lib", "/v1/components", url.Values{"purl": {lib.PURL}}, "items")
	run("components/name+version", "/v1/components", url.Values{"name": {"openssl"}, "version": {"3.0.7"}}, "items")
	run("components/name", "/v1/components", url.Values{"name": {"openssl"}}, "items")
	run("components/name-lib", "/v1/components", url.Values{"name": {lib.Name}}, "items")
	run("components/name+env", "/v1/components", url.Values{"name": {"openssl"}, "env": {"prod"}, "team": {"team-10"}}, "items")
}
