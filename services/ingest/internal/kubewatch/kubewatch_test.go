package kubewatch_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/services/ingest/internal/kubewatch"
)

// wait bounds every wait for the watcher.
const wait = 2 * time.Second

// digest returns a valid sha256 digest derived from s.
func digest(s string) evidence.Digest {
	sum := sha256.Sum256([]byte(s))
	return evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// podOpt shapes a test pod.
type podOpt func(*corev1.Pod)

// ownedBy makes kind/name the pod's controller.
func ownedBy(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: &yes,
		})
	}
}

// container adds a running container with this image and imageID.
func container(image, imageID string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: "c" + string(rune('0'+len(p.Status.ContainerStatuses))), Image: image, ImageID: imageID,
		})
	}
}

// initContainer adds an init container that ran with this image and imageID.
func initContainer(image, imageID string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: "init", Image: image, ImageID: imageID,
		})
	}
}

func labels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		for i := 0; i < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func annotations(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		for i := 0; i < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

// pod returns a running pod.
func pod(ns, name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}, Annotations: map[string]string{}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// watcher runs kubewatch.Run on a fake clientset and collects what it emits.
type watcher struct {
	client  *fake.Clientset
	batches chan []evidence.Deployment
}

// mustStart runs the watcher on a fake clientset holding objs, and waits until its pod watch
// is established, so that later changes reach it. It stops the watcher when the test ends.
func mustStart(tb testing.TB, cfg kubewatch.Config, objs ...runtime.Object) *watcher {
	tb.Helper()
	w := &watcher{client: fake.NewClientset(objs...), batches: make(chan []evidence.Deployment, 100)}
	watching := make(chan struct{}, 10)
	// Serve the watch as the default reactor does, but say when it is registered: changes made
	// between the informer's list and its watch would be missed by the fake.
	w.client.PrependWatchReactor("pods", func(action k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if a, ok := action.(k8stesting.WatchActionImpl); ok {
			opts = a.ListOptions
		}
		wi, err := w.client.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return true, nil, err
		}
		watching <- struct{}{}
		return true, wi, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	emit := func(ctx context.Context, deps []evidence.Deployment) error {
		select {
		case w.batches <- deps:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() { done <- kubewatch.Run(ctx, w.client, cfg, emit, nil) }()
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
	namespaces := max(len(cfg.Namespaces), 1)
	for range namespaces {
		select {
		case <-watching:
		case <-time.After(wait):
			tb.Fatalf("no pod watch within %s", wait)
		}
	}
	return w
}

// observation is an emitted deployment with its times checked and cleared.
type observation struct {
	evidence.Deployment
	Ended bool
}

// next collects n observations, whatever batches they arrive in, sorted by workload and image.
func (w *watcher) next(tb testing.TB, n int) []observation {
	tb.Helper()
	var out []observation
	deadline := time.After(wait)
	for len(out) < n {
		select {
		case batch := <-w.batches:
			for _, d := range batch {
				if err := d.Validate(); err != nil {
					tb.Errorf("emitted an invalid deployment: %v", err)
				}
				if d.ObservedAt.IsZero() {
					tb.Errorf("emitted %s without ObservedAt", d.Image)
				}
				o := observation{Deployment: d, Ended: d.Ended()}
				o.ObservedAt, o.EndedAt = time.Time{}, nil
				out = append(out, o)
			}
		case <-deadline:
			tb.Fatalf("got %d observations within %s, want %d: %+v", len(out), wait, n, out)
		}
	}
	slices.SortFunc(out, func(a, b observation) int {
		return cmp.Or(cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Image.String(), b.Image.String()), cmp.Compare(a.Namespace, b.Namespace))
	})
	return out
}

// none checks that nothing more was emitted.
func (w *watcher) none(tb testing.TB) {
	tb.Helper()
	select {
	case b := <-w.batches:
		tb.Fatalf("unexpected batch: %+v", b)
	default:
	}
}

// obs is an expected observation in cluster "test-1", org "acme", environment "prod".
func obs(ns, workload, repo string, d evidence.Digest, ended bool) observation {
	return observation{Deployment: evidence.Deployment{
		Image:       evidence.ImageRef{Repository: repo, Digest: d},
		Environment: "prod", Cluster: "test-1", Namespace: ns, Workload: workload, Org: "acme",
	}, Ended: ended}
}

var cfg = kubewatch.Config{Cluster: "test-1", DefaultOrg: "acme", DefaultEnvironment: "prod"}

// TestLifecycle follows one Deployment's pods: listed at start, scaled down, moved to another
// digest, and deleted; pods of other namespaces are ignored.
func TestLifecycle(t *testing.T) {
	var (
		api, api2, proxy = digest("api"), digest("api v2"), digest("proxy")
		apiRepo          = "registry.example/acme/api"
		proxyRepo        = "registry.example/acme/proxy"
	)
	replica := func(name string, apiDigest evidence.Digest) *corev1.Pod {
		return pod("shop", name, ownedBy("ReplicaSet", "api-7d9f8c"), labels("pod-template-hash", "7d9f8c"),
			container(apiRepo+":1.0", "docker-pullable://"+apiRepo+"@"+string(apiDigest)),
			container(proxyRepo+":2", proxyRepo+"@"+string(proxy)))
	}
	c := cfg
	c.Namespaces = []string{"shop"}
	w := mustStart(t, c,
		replica("api-7d9f8c-aaaaa", api),
		replica("api-7d9f8c-bbbbb", api),
		pod("elsewhere", "intruder", container(apiRepo+":1.0", apiRepo+"@"+string(digest("intruder")))),
	)
	want := []observation{
		obs("shop", "api", apiRepo, api, false),
		obs("shop", "api", proxyRepo, proxy, false),
	}
	if diff := gocmp.Diff(want, w.next(t, 2)); diff != "" {
		t.Fatalf("initial observations (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	pods := w.client.CoreV1().Pods("shop")

	// Scaling 2 → 1 ends nothing; a pod elsewhere is not seen.
	if err := pods.Delete(ctx, "api-7d9f8c-bbbbb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	other := pod("elsewhere", "intruder-2", container(apiRepo+":1.0", apiRepo+"@"+string(digest("intruder 2"))))
	if _, err := w.client.CoreV1().Pods("elsewhere").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The last pod running api@v1 now runs v2.
	if _, err := pods.Update(ctx, replica("api-7d9f8c-aaaaa", api2), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []observation{
		obs("shop", "api", apiRepo, api, true),
		obs("shop", "api", apiRepo, api2, false),
	}
	if diff := gocmp.Diff(want, w.next(t, 2)); diff != "" {
		t.Fatalf("after the image change (-want +got):\n%s", diff)
	}

	// A new replica of the same digest is no news.
	if _, err := pods.Create(ctx, replica("api-7d9f8c-ccccc", api2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleting both pods ends everything.
	if err := pods.Delete(ctx, "api-7d9f8c-aaaaa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "api-7d9f8c-ccccc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []observation{
		obs("shop", "api", apiRepo, api2, true),
		obs("shop", "api", proxyRepo, proxy, true),
	}
	if diff := gocmp.Diff(want, w.next(t, 2)); diff != "" {
		t.Fatalf("after deleting the last pods (-want +got):\n%s", diff)
	}
	w.none(t)
}

// TestPods covers how one pod becomes deployments: the imageID forms, the workload named by
// the controller, init containers, and pods that are skipped.
func TestPods(t *testing.T) {
	d := func(s string) string { return string(digest(s)) }
	w := mustStart(t, cfg,
		pod("ns", "pullable", ownedBy("StatefulSet", "db"), container("registry.example/acme/db:15", "docker-pullable://registry.example/acme/db@"+d("db"))),
		pod("ns", "repo-digest", ownedBy("DaemonSet", "agent"), container("registry.example:5000/acme/agent:1", "registry.example:5000/acme/agent@"+d("agent"))),
		pod("ns", "bare-digest", ownedBy("Job", "backup-2891"), container("registry.example/acme/backup:7@"+d("ignored"), "sha256:"+d("backup")[7:])),
		pod("ns", "hub", container("nginx:1.27", "docker.io/library/nginx@"+d("nginx")), container("redis", "sha256:"+d("redis")[7:])),
		pod("ns", "rs-without-hash", ownedBy("ReplicaSet", "plain-rs"), container("registry.example/acme/rs:1", "registry.example/acme/rs@"+d("rs"))),
		pod("ns", "with-init", ownedBy("ReplicaSet", "web-5f6d"), labels("pod-template-hash", "5f6d"),
			initContainer("registry.example/acme/migrate:3", "registry.example/acme/migrate@"+d("migrate")),
			container("registry.example/acme/web:1", "registry.example/acme/web@"+d("web")),
			container("registry.example/acme/web:1", "registry.example/acme/web@"+d("web"))), // same image twice: one deployment
		pod("ns", "custom-controller", ownedBy("Rollout", "canary"), container("registry.example/acme/canary:1", "registry.example/acme/canary@"+d("canary"))),
		// Skipped: no imageID yet, an imageID that is no digest, not running.
		pod("ns", "creating", ownedBy("StatefulSet", "creating"), container("registry.example/acme/x:1", "")),
		pod("ns", "odd-id", ownedBy("StatefulSet", "odd"), container("registry.example/acme/x:1", "docker://not-a-digest")),
		pod("ns", "pending", phase(corev1.PodPending), container("registry.example/acme/p:1", "registry.example/acme/p@"+d("pending"))),
		pod("ns", "finished", ownedBy("Job", "done"), phase(corev1.PodSucceeded), container("registry.example/acme/j:1", "registry.example/acme/j@"+d("job"))),
	)
	want := []observation{
		obs("ns", "agent", "registry.example:5000/acme/agent", digest("agent"), false),
		obs("ns", "backup-2891", "registry.example/acme/backup", digest("backup"), false),
		obs("ns", "canary", "registry.example/acme/canary", digest("canary"), false),
		obs("ns", "db", "registry.example/acme/db", digest("db"), false),
		obs("ns", "hub", "docker.io/library/nginx", digest("nginx"), false),
		obs("ns", "hub", "docker.io/library/redis", digest("redis"), false),
		obs("ns", "plain-rs", "registry.example/acme/rs", digest("rs"), false),
		obs("ns", "web", "registry.example/acme/migrate", digest("migrate"), false),
		obs("ns", "web", "registry.example/acme/web", digest("web"), false),
	}
	if diff := gocmp.Diff(want, w.next(t, len(want))); diff != "" {
		t.Fatalf("observations (-want +got):\n%s", diff)
	}
	w.none(t)
}

// TestMetadata checks where org, team and environment come from: labels, then annotations,
// then the defaults; the keys are configurable, and a pod left without an org is skipped.
func TestMetadata(t *testing.T) {
	img := func(s string) podOpt {
		return container("registry.example/acme/"+s+":1", "registry.example/acme/"+s+"@"+string(digest(s)))
	}
	c := kubewatch.Config{Cluster: "test-1", DefaultOrg: "acme", DefaultEnvironment: "prod", TeamKey: "example.com/owner"}
	w := mustStart(t, c,
		pod("ns", "defaults", img("defaults")),
		pod("ns", "labels", img("labels"), labels("aspm.dev/org", "globex", "example.com/owner", "web", "aspm.dev/environment", "staging")),
		pod("ns", "annotations", img("annotations"), annotations("aspm.dev/org", "initech", "example.com/owner", "data", "aspm.dev/environment", "dev")),
		pod("ns", "both", img("both"),
			labels("aspm.dev/org", "globex", "example.com/owner", "web"),
			annotations("aspm.dev/org", "initech", "example.com/owner", "data", "aspm.dev/environment", "dev")),
		pod("ns", "default-team-key", img("ignored-team"), labels("aspm.dev/team", "nobody")),
		pod("ns", "bad-org", img("bad"), labels("aspm.dev/org", "-")),
	)
	at := func(name, org, team, env string) observation {
		o := obs("ns", name, "registry.example/acme/"+name, digest(name), false)
		o.Org, o.Team, o.Environment = org, team, env
		return o
	}
	ignored := at("default-team-key", "acme", "", "prod")
	ignored.Image = evidence.ImageRef{Repository: "registry.example/acme/ignored-team", Digest: digest("ignored-team")}
	want := []observation{
		at("annotations", "initech", "data", "dev"),
		at("both", "globex", "web", "dev"),
		ignored,
		at("defaults", "acme", "", "prod"),
		at("labels", "globex", "web", "staging"),
	}
	if diff := gocmp.Diff(want, w.next(t, len(want))); diff != "" {
		t.Fatalf("observations (-want +got):\n%s", diff)
	}

	// A team change is news, though the deployment's key is the same.
	p := pod("ns", "defaults", img("defaults"), labels("example.com/owner", "platform"))
	if _, err := w.client.CoreV1().Pods("ns").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []observation{at("defaults", "acme", "platform", "prod")}
	if diff := gocmp.Diff(want, w.next(t, 1)); diff != "" {
		t.Fatalf("after the team change (-want +got):\n%s", diff)
	}
	w.none(t)
}

// TestEmitRetry checks that a batch the bus rejects is delivered later.
func TestEmitRetry(t *testing.T) {
	client := fake.NewClientset(pod("ns", "web", container("registry.example/acme/web:1", "registry.example/acme/web@"+string(digest("web")))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []evidence.Deployment, 1)
	calls := 0
	emit := func(_ context.Context, deps []evidence.Deployment) error {
		calls++
		if calls == 1 {
			return errors.New("bus unavailable")
		}
		got <- deps
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- kubewatch.Run(ctx, client, cfg, emit, nil) }()
	select {
	case deps := <-got:
		if len(deps) != 1 || deps[0].Workload != "web" {
			t.Fatalf("redelivered batch: %+v", deps)
		}
	case <-time.After(wait):
		t.Fatal("the rejected batch was not redelivered")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     kubewatch.Config
		want    kubewatch.Config
		wantErr bool
	}{
		{
			name: "defaults",
			cfg:  kubewatch.Config{Cluster: "c"},
			want: kubewatch.Config{Cluster: "c", OrgKey: "aspm.dev/org", TeamKey: "aspm.dev/team", EnvironmentKey: "aspm.dev/environment"},
		},
		{
			name: "keys kept",
			cfg:  kubewatch.Config{Cluster: "c", OrgKey: "o", TeamKey: "t", EnvironmentKey: "e"},
			want: kubewatch.Config{Cluster: "c", OrgKey: "o", TeamKey: "t", EnvironmentKey: "e"},
		},
		{name: "no cluster", cfg: kubewatch.Config{}, wantErr: true},
		{name: "negative resync", cfg: kubewatch.Config{Cluster: "c", ResyncPeriod: -time.Second}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate: got error %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if diff := gocmp.Diff(tc.want, tc.cfg); diff != "" {
					t.Errorf("Validate (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := kubewatch.Run(context.Background(), fake.NewClientset(), kubewatch.Config{}, func(context.Context, []evidence.Deployment) error { return nil }, nil)
	if err == nil {
		t.Fatal("Run without a cluster name: got nil error")
	}
}
