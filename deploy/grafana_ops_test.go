package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// opsDashboard is the operations dashboard; it lives in a directory of its own so that the
// ClickHouse dashboards' test (pkg/store/clickhouse, dashboards/*.json) does not read it. The
// dashboard provider loads sub-directories too.
const opsDashboard = "grafana/dashboards/operations/aspm-operations.json"

// promDatasource is the Prometheus data source provisioned for Grafana.
type promDatasource struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

func mustPromDatasource(t *testing.T) promDatasource {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		APIVersion  int              `json:"apiVersion"`
		Datasources []promDatasource `json:"datasources"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("parsing the Prometheus data source: %v", err)
	}
	if file.APIVersion != 1 || len(file.Datasources) != 1 || file.Datasources[0].Type != "prometheus" || file.Datasources[0].UID == "" {
		t.Fatalf("Prometheus data source provisioning %+v: want apiVersion 1 and one prometheus data source with a uid", file)
	}
	return file.Datasources[0]
}

// opsExpr is one PromQL expression of a dashboard panel.
type opsExpr struct {
	where, expr string
}

// mustOpsExprs reads the operations dashboard: every panel uses the Prometheus data source
// and has at least one non-empty expression; it returns the expressions.
func mustOpsExprs(t *testing.T, ds promDatasource) []opsExpr {
	t.Helper()
	raw, err := os.ReadFile(opsDashboard)
	if err != nil {
		t.Fatal(err)
	}
	type dsRef struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	type panel struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *dsRef `json:"datasource"`
		Targets    []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Datasource *dsRef `json:"datasource"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("parsing %s: %v", opsDashboard, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: no uid or title", opsDashboard)
	}
	checkDS := func(where string, ref *dsRef) {
		if ref == nil || ref.Type != "prometheus" || ref.UID != ds.UID {
			t.Errorf("%s: data source %+v, want {prometheus %s}", where, ref, ds.UID)
		}
	}
	var out []opsExpr
	ids := map[int]bool{}
	for _, p := range d.Panels {
		where := opsDashboard + ": panel " + p.Title
		if ids[p.ID] {
			t.Errorf("%s: duplicate id %d", where, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			if len(p.Panels) > 0 {
				t.Errorf("%s: a collapsed row; keep the panels at the top level", where)
			}
			continue
		}
		checkDS(where, p.Datasource)
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, tg := range p.Targets {
			checkDS(where+" target "+tg.RefID, tg.Datasource)
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s target %s: empty expression", where, tg.RefID)
				continue
			}
			out = append(out, opsExpr{where: where + " target " + tg.RefID, expr: tg.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no expressions", opsDashboard)
	}
	return out
}

// grafanaMacros are the Grafana variables the expressions may use, with values that parse.
var grafanaMacros = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h")

// metricNames parses expr with Prometheus's parser and returns the metric names its selectors
// read.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaMacros.Replace(expr))
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names, nil
}

// TestOpsDashboardParses checks every expression of the operations dashboard with Prometheus's
// own PromQL parser, and that the dashboard covers what the operations issue names.
func TestOpsDashboardParses(t *testing.T) {
	ds := mustPromDatasource(t)
	used := map[string]bool{}
	for _, e := range mustOpsExprs(t, ds) {
		names, err := metricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: reads no metric: %s", e.where, e.expr)
		}
		for _, n := range names {
			if n == "" {
				t.Errorf("%s: a selector without a metric name: %s", e.where, e.expr)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
		}
	}
	// Collection, verification outcomes, queue lag and redeliveries, dead letters, evaluation
	// time, store latency and health, API latency by route.
	for _, want := range []string{
		"aspm_ingest_messages_total", "aspm_ingest_evidence_total", "aspm_ingest_collect_seconds",
		"aspm_scorer_messages_total", "aspm_scorer_evaluation_seconds", "aspm_scorer_store_write_seconds", "aspm_scorer_store_up",
		"aspm_bus_consumer_pending_messages", "aspm_bus_redeliveries_total", "aspm_bus_stream_messages",
		"aspm_api_request_seconds",
	} {
		if !used[want] {
			t.Errorf("the operations dashboard has no panel on %s", want)
		}
	}
	// The negative case: the extraction is not vacuous.
	if names, err := metricNames(`sum(rate(no_such_metric_total{a="b"}[$__rate_interval])) / on() group_left {__name__="other"}`); err != nil ||
		!slices.Equal(names, []string{"no_such_metric_total", "other"}) {
		t.Errorf("metricNames = %v, %v; want [no_such_metric_total other]", names, err)
	}
}

// TestOpsScrapeConfig checks the Prometheus side of docker-compose.yml and deploy/k8s: the
// compose prometheus service runs deploy/prometheus/prometheus.yml, each of its targets is a
// compose service serving /metrics on that port, every service built from this repository is
// scraped, Grafana's Prometheus data source points at the prometheus service, and every
// Kubernetes Deployment's pods carry scrape annotations naming the port its --listen serves.
func TestOpsScrapeConfig(t *testing.T) {
	p, err := loadCompose(t, composeTestEnv)
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	prom, ok := p.Services["prometheus"]
	if !ok {
		t.Fatal("docker-compose.yml has no prometheus service")
	}
	mounted := false
	for _, v := range prom.Volumes {
		if strings.HasSuffix(filepath.ToSlash(v.Source), "deploy/prometheus/prometheus.yml") && slices.Contains(prom.Command, "--config.file="+v.Target) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("prometheus does not run with deploy/prometheus/prometheus.yml (volumes %v, command %v)", prom.Volumes, prom.Command)
	}
	if _, ok := p.Services["grafana"].DependsOn["prometheus"]; !ok {
		t.Error("grafana does not wait for prometheus")
	}
	ds := mustPromDatasource(t)
	if ds.URL != "http://prometheus:9090" {
		t.Errorf("the Prometheus data source's URL is %q, want http://prometheus:9090", ds.URL)
	}

	raw, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("parsing prometheus.yml: %v", err)
	}
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s, want /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				s, ok := p.Services[host]
				if !ok {
					t.Errorf("job %s: target %s is no compose service", sc.JobName, target)
					continue
				}
				listen := ""
				if v := s.Environment["ASPM_LISTEN"]; v != nil {
					listen = *v
				}
				if _, lport, err := net.SplitHostPort(listen); err != nil || lport != port {
					t.Errorf("job %s: target %s, but %s listens on %q", sc.JobName, target, host, listen)
				}
				scraped[host] = true
			}
		}
	}
	for name, s := range p.Services {
		if s.Build != nil && s.Restart != "no" && !scraped[name] {
			t.Errorf("compose service %s is built from this repository and long-running, but Prometheus does not scrape it", name)
		}
	}

	listenPort := regexp.MustCompile(`^--listen=.*:(\d+)$`)
	for _, ov := range overlays {
		r := mustRender(t, ov.name)
		for name, d := range r.deployments {
			if !strings.HasPrefix(name, "aspm-") {
				continue
			}
			a := d.Spec.Template.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("%s: %s pods: annotations %v, want prometheus.io/scrape \"true\" and path /metrics", ov.name, name, a)
				continue
			}
			served := false
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, arg := range c.Args {
					if m := listenPort.FindStringSubmatch(arg); m != nil && m[1] == a["prometheus.io/port"] {
						served = slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == m[1] })
					}
				}
			}
			if !served {
				t.Errorf("%s: %s pods: prometheus.io/port %q is not a port a container listens on and exposes", ov.name, name, a["prometheus.io/port"])
			}
		}
	}
}

// TestOpsDashboardMetricsExported runs the whole pipeline — `aspm up --demo`: embedded NATS,
// the SQLite store, the ingest, scorer and api services on signed demo artifacts, with the
// api's /metrics serving the other services' metrics too — makes a few API requests, scrapes
// /metrics, and checks that every metric the operations dashboard reads is exported (a
// histogram's _bucket, _sum and _count by its name).
func TestOpsDashboardMetricsExported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo pipeline")
	}
	ds := mustPromDatasource(t)
	want := map[string][]string{} // metric → where
	for _, e := range mustOpsExprs(t, ds) {
		names, err := metricNames(e.expr)
		if err != nil {
			t.Fatalf("%s: %v", e.where, err)
		}
		for _, n := range names {
			want[n] = append(want[n], e.where)
		}
	}

	bin := buildComposeBinaries(t, map[string]string{"aspm": "./cmd/aspm"})["aspm"]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "up", "--demo", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	ready := regexp.MustCompile(`Dashboard: (http://[^/\s]+)/#token=(\S+)`)
	var base, token string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			base, token = m[1], m[2]
			break
		}
	}
	if base == "" {
		t.Fatalf("aspm up --demo did not get ready (%v); stderr:\n%s", sc.Err(), stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	get := func(path, tok string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/v1/coverage", "/v1/gaps", "/v1/artifacts"} {
		if code, body := get(path, token); code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	if code, _ := get("/v1/coverage", ""); code != 401 {
		t.Errorf("GET /v1/coverage without a token: %d, want 401", code)
	}
	code, text := get("/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, text)
	}
	exported := map[string]bool{}
	for l := range strings.Lines(text) {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		exported[f[2]] = true
		if f[3] == "histogram" || f[3] == "summary" {
			exported[f[2]+"_bucket"], exported[f[2]+"_sum"], exported[f[2]+"_count"] = true, true, true
		}
	}
	if len(exported) < 10 {
		t.Fatalf("/metrics exports only %d families:\n%s", len(exported), text)
	}
	for name, where := range want {
		if !exported[name] {
			t.Errorf("%s is read by %v but nothing exports it", name, where)
		}
	}
	// The check is not vacuous: the queue state of both consumers was scraped.
	for _, series := range []string{`aspm_bus_consumer_pending_messages{consumer="ingest"}`, `aspm_bus_consumer_pending_messages{consumer="scorer"}`,
		`aspm_bus_stream_messages{stream="ASPM_EVENTS"}`} {
		if !strings.Contains(text, series+" ") {
			t.Errorf("/metrics has no %s", series)
		}
	}
}
