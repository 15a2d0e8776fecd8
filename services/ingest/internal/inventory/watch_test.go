package inventory_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/services/ingest/internal/inventory"
)

// wait bounds every wait for the watcher; polls run every millisecond or so.
const wait = time.Second

// digest returns a valid sha256 digest derived from s.
func digest(s string) evidence.Digest {
	sum := sha256.Sum256([]byte(s))
	return evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// resolver is a fake Resolver: tag resolution is a registry call, which ingest tests for real.
type resolver struct {
	resolve func(ctx context.Context, ref string) (evidence.ImageRef, error)
}

func (r resolver) Resolve(ctx context.Context, ref string) (evidence.ImageRef, error) {
	return r.resolve(ctx, ref)
}

// tags is a mutable tag → digest table behind a resolver; a tag mapped to "" fails.
type tags struct {
	t     testing.TB
	mu    sync.Mutex
	table map[string]evidence.Digest
}

func newTags(t testing.TB, table map[string]evidence.Digest) *tags {
	return &tags{t: t, table: table}
}

func (g *tags) set(ref string, d evidence.Digest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.table[ref] = d
}

func (g *tags) resolver() resolver {
	return resolver{resolve: func(_ context.Context, ref string) (evidence.ImageRef, error) {
		if strings.Contains(ref, "@") {
			g.t.Errorf("resolver called with a digest reference %q", ref)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		d, ok := g.table[ref]
		if !ok || d == "" {
			return evidence.ImageRef{}, fmt.Errorf("resolving %s: registry unavailable", ref)
		}
		return evidence.ImageRef{Repository: ref[:strings.LastIndex(ref, ":")], Digest: d}, nil
	}}
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// logs is a slog handler that forwards every message to a channel, so a test can wait for the
// watcher to have seen something that produces no emission.
type logs chan string

func (l logs) Enabled(context.Context, slog.Level) bool { return true }
func (l logs) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logs) WithGroup(string) slog.Handler      { return l }

// waitLog waits for a log message containing msg.
func (l logs) waitLog(t testing.TB, msg string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-l:
			if strings.Contains(m, msg) {
				return
			}
		case <-deadline:
			t.Fatalf("no log %q within %s", msg, wait)
		}
	}
}

// batches collects what the watcher emits.
type batches chan []evidence.Deployment

func (b batches) emit(ctx context.Context, deps []evidence.Deployment) error {
	select {
	case b <- deps:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next returns the next batch.
func (b batches) next(t testing.TB) []evidence.Deployment {
	t.Helper()
	select {
	case d := <-b:
		return d
	case <-time.After(wait):
		t.Fatalf("no batch emitted within %s", wait)
		return nil
	}
}

// expect checks that the next batch is want, and that every deployment in it is valid.
func (b batches) expect(t testing.TB, what string, want []evidence.Deployment) {
	t.Helper()
	got := b.next(t)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s (-want +got):\n%s", what, diff)
	}
	for _, d := range got {
		if err := d.Validate(); err != nil {
			t.Errorf("%s: emitted an invalid deployment: %v", what, err)
		}
	}
}

// none checks that no batch is waiting.
func (b batches) none(t testing.TB) {
	t.Helper()
	select {
	case d := <-b:
		t.Fatalf("unexpected batch: %+v", d)
	default:
	}
}

// mustWrite replaces the file at path atomically, as a ConfigMap mount does.
func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// mustWatch writes content to a new inventory file and runs a watcher of it that polls every
// millisecond and emits into out, or to emit when it is not nil. It stops the watcher when the
// test ends, checking that Run returned nil.
func mustWatch(tb testing.TB, content string, r inventory.Resolver, emit inventory.Emit, opts inventory.Options) (path string, out batches) {
	tb.Helper()
	path = filepath.Join(tb.TempDir(), "inventory.yaml")
	mustWrite(tb, path, content)
	out = make(batches, 10)
	if emit == nil {
		emit = out.emit
	}
	opts.PollInterval = time.Millisecond
	w, err := inventory.NewWatcher(path, r, emit, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			tb.Errorf("Run did not return within %s of cancellation", wait)
		}
	})
	return path, out
}

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t1.Add(time.Hour)
)

// dep is the expected deployment of a workload in namespace "payments" of org "acme".
func dep(env, workload, repo string, d evidence.Digest, observed time.Time, ended bool) evidence.Deployment {
	out := evidence.Deployment{
		Image:       evidence.ImageRef{Repository: "registry.example/acme/" + repo, Digest: d},
		Environment: env, Namespace: "payments", Workload: workload, Org: "acme", ObservedAt: observed,
	}
	if ended {
		end := observed
		out.EndedAt = &end
	}
	return out
}

// doc renders an inventory of org "acme", namespace "payments": each workload is
// "ENV/NAME" followed by its images.
func doc(workloads ...[]string) string {
	var b strings.Builder
	b.WriteString("org: acme\nenvironments:\n")
	byEnv := map[string][]string{}
	var envs []string
	for _, w := range workloads {
		env, name, _ := strings.Cut(w[0], "/")
		if _, ok := byEnv[env]; !ok {
			envs = append(envs, env)
		}
		entry := fmt.Sprintf("      - name: %s\n        namespace: payments\n        images:\n", name)
		for _, img := range w[1:] {
			entry += "          - " + img + "\n"
		}
		byEnv[env] = append(byEnv[env], entry)
	}
	for _, env := range envs {
		b.WriteString("  " + env + ":\n    workloads:\n" + strings.Join(byEnv[env], ""))
	}
	return b.String()
}

func TestWatcherReload(t *testing.T) {
	var (
		apiV1, apiV2   = digest("api v1"), digest("api v2")
		side14, side15 = digest("sidecar 1.4"), digest("sidecar 1.4 rebuilt")
		worker         = digest("worker")
		sidecar        = "registry.example/acme/sidecar:1.4"
	)
	tg := newTags(t, map[string]evidence.Digest{sidecar: side14})
	clk := &clock{t: t0}
	path, out := mustWatch(t, doc(
		[]string{"prod/api", "registry.example/acme/api@" + string(apiV1), sidecar},
		[]string{"prod/worker", "registry.example/acme/worker@" + string(worker)},
		[]string{"staging/api", "registry.example/acme/api@" + string(apiV2)},
	), tg.resolver(), nil, inventory.Options{Now: clk.now})

	want := []evidence.Deployment{
		dep("prod", "api", "api", apiV1, t0, false),
		dep("prod", "api", "sidecar", side14, t0, false),
		dep("prod", "worker", "worker", worker, t0, false),
		dep("staging", "api", "api", apiV2, t0, false),
	}
	out.expect(t, "initial batch", want)

	// Touching the file without changing it emits nothing.
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		t.Fatal(err)
	}

	// Remove a workload, change a pinned digest, and re-push the tag.
	clk.set(t1)
	tg.set(sidecar, side15)
	mustWrite(t, path, doc(
		[]string{"prod/api", "registry.example/acme/api@" + string(apiV2), sidecar},
		[]string{"staging/api", "registry.example/acme/api@" + string(apiV2)},
	))
	want = []evidence.Deployment{
		dep("prod", "api", "api", apiV1, t1, true),
		dep("prod", "api", "sidecar", side14, t1, true),
		dep("prod", "worker", "worker", worker, t1, true),
		dep("prod", "api", "api", apiV2, t1, false),
		dep("prod", "api", "sidecar", side15, t1, false),
		dep("staging", "api", "api", apiV2, t1, false),
	}
	out.expect(t, "batch after the change", want)
	out.none(t)
}

func TestWatcherBadFile(t *testing.T) {
	var (
		api    = digest("api")
		worker = digest("worker")
	)
	good := doc(
		[]string{"prod/api", "registry.example/acme/api@" + string(api)},
		[]string{"prod/worker", "registry.example/acme/worker@" + string(worker)},
	)
	clk := &clock{t: t0}
	log := make(logs, 100)
	path, out := mustWatch(t, good, newTags(t, nil).resolver(), nil, inventory.Options{Now: clk.now, Logger: slog.New(log)})
	if got := out.next(t); len(got) != 2 {
		t.Fatalf("initial batch: got %d deployments, want 2", len(got))
	}

	// A broken file is logged and changes nothing.
	clk.set(t1)
	mustWrite(t, path, "org: acme\nenvironments: [\n")
	log.waitLog(t, "invalid inventory file")
	mustWrite(t, path, good+"  staging:\n    workloads:\n      - {name: api, images: [nope]}\n")
	log.waitLog(t, "invalid inventory file")
	// A deleted file is logged and changes nothing.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	log.waitLog(t, "inventory file is missing")
	out.none(t)

	// The same content again is no change; a valid change ends only what it removes.
	mustWrite(t, path, good)
	clk.set(t2)
	mustWrite(t, path, doc([]string{"prod/api", "registry.example/acme/api@" + string(api)}))
	want := []evidence.Deployment{
		dep("prod", "worker", "worker", worker, t2, true),
		dep("prod", "api", "api", api, t2, false),
	}
	out.expect(t, "batch after the fix", want)

	// An explicitly empty inventory ends everything.
	mustWrite(t, path, "# nothing runs here any more\n")
	want = []evidence.Deployment{dep("prod", "api", "api", api, t2, true)}
	out.expect(t, "batch after emptying", want)
}

func TestWatcherResolverFailure(t *testing.T) {
	var (
		api              = digest("api")
		sidecar, proxy   = "registry.example/acme/sidecar:1.4", "registry.example/acme/proxy:2"
		sideDig, proxDig = digest("sidecar"), digest("proxy")
	)
	tg := newTags(t, map[string]evidence.Digest{sidecar: sideDig}) // proxy fails
	clk := &clock{t: t0}
	path, out := mustWatch(t, doc([]string{"prod/api", "registry.example/acme/api@" + string(api), sidecar, proxy}),
		tg.resolver(), nil, inventory.Options{Now: clk.now})

	want := []evidence.Deployment{
		dep("prod", "api", "api", api, t0, false),
		dep("prod", "api", "sidecar", sideDig, t0, false),
	}
	out.expect(t, "initial batch", want)

	// The failing tag is retried without a file change; only it is emitted.
	clk.set(t1)
	tg.set(proxy, proxDig)
	want = []evidence.Deployment{dep("prod", "api", "proxy", proxDig, t1, false)}
	out.expect(t, "batch after the retry", want)

	// On a reload, a tag that no longer resolves keeps its previous digest: nothing ends.
	clk.set(t2)
	tg.set(sidecar, "")
	mustWrite(t, path, doc(
		[]string{"prod/api", "registry.example/acme/api@" + string(api), sidecar, proxy},
		[]string{"prod/worker", "registry.example/acme/api@" + string(api)},
	))
	want = []evidence.Deployment{
		dep("prod", "api", "api", api, t2, false),
		dep("prod", "api", "proxy", proxDig, t2, false),
		dep("prod", "api", "sidecar", sideDig, t2, false),
		dep("prod", "worker", "api", api, t2, false),
	}
	out.expect(t, "batch after a reload with a failing tag", want)
}

func TestWatcherEmitRetry(t *testing.T) {
	api := digest("api")
	var (
		mu    sync.Mutex
		calls int
	)
	out := make(batches, 10)
	emit := func(ctx context.Context, deps []evidence.Deployment) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 {
			return errors.New("bus unavailable")
		}
		return out.emit(ctx, deps)
	}
	mustWatch(t, doc([]string{"prod/api", "registry.example/acme/api@" + string(api)}), newTags(t, nil).resolver(), emit,
		inventory.Options{Now: func() time.Time { return t0 }})
	want := []evidence.Deployment{dep("prod", "api", "api", api, t0, false)}
	out.expect(t, "batch delivered after failures", want)
	// Once delivered, the batch is not sent again.
	time.Sleep(20 * time.Millisecond)
	out.none(t)
}

func TestWatcherStops(t *testing.T) {
	// A missing file is no reason to stop; cancellation is.
	path := filepath.Join(t.TempDir(), "absent.yaml")
	w, err := inventory.NewWatcher(path, newTags(t, nil).resolver(), batches(make(chan []evidence.Deployment)).emit, inventory.Options{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after cancellation")
	}
}

func TestNewWatcher(t *testing.T) {
	r := newTags(t, nil).resolver()
	emit := batches(nil).emit
	for _, tc := range []struct {
		name    string
		path    string
		r       inventory.Resolver
		emit    inventory.Emit
		opts    inventory.Options
		wantErr bool
	}{
		{name: "ok", path: "inventory.yaml", r: r, emit: emit},
		{name: "no path", r: r, emit: emit, wantErr: true},
		{name: "no resolver", path: "inventory.yaml", emit: emit, wantErr: true},
		{name: "no emit", path: "inventory.yaml", r: r, wantErr: true},
		{name: "negative interval", path: "inventory.yaml", r: r, emit: emit, opts: inventory.Options{PollInterval: -time.Second}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inventory.NewWatcher(tc.path, tc.r, tc.emit, tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewWatcher: got error %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
