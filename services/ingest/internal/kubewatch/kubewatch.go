// Package kubewatch observes what runs in a Kubernetes cluster: it watches Pods with client-go
// informers and turns every running container into a deployment observation — the image by
// the digest the kubelet reports, the workload by the pod's controller, and org, team and
// environment by pod labels or annotations. When no running pod is left for a workload and
// digest, it reports that deployment as ended.
package kubewatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Emit delivers a batch of deployment observations (ended ones have EndedAt set), typically
// by publishing one aspm.deploy.observed event each. An error means the batch was not
// delivered; it is offered again after a backoff.
type Emit func(ctx context.Context, deps []evidence.Deployment) error

// Default label-or-annotation keys.
const (
	DefaultOrgKey         = "aspm.dev/org"
	DefaultTeamKey        = "aspm.dev/team"
	DefaultEnvironmentKey = "aspm.dev/environment"
)

// Config configures the watcher.
type Config struct {
	// Cluster names the cluster in every observation; required, since deployments of two
	// clusters must not share keys.
	Cluster string
	// OrgKey, TeamKey and EnvironmentKey are the label (or, failing that, annotation) keys
	// read from each pod; defaults DefaultOrgKey, DefaultTeamKey, DefaultEnvironmentKey.
	OrgKey, TeamKey, EnvironmentKey string
	// DefaultOrg and DefaultEnvironment apply to pods without the label or annotation. A pod
	// left without an org or environment is skipped.
	DefaultOrg, DefaultEnvironment string
	// Namespaces limits the watch to these namespaces; empty watches all.
	Namespaces []string
	// ResyncPeriod is the informers' resync period; zero disables resyncs. A resync emits
	// nothing unless a pod's deployments differ from what was recorded.
	ResyncPeriod time.Duration
}

// Validate fills in the default keys and reports whether c names a cluster and has no
// negative period.
func (c *Config) Validate() error {
	if c.Cluster == "" {
		return errors.New("kubewatch: a cluster name is required")
	}
	if c.ResyncPeriod < 0 {
		return fmt.Errorf("kubewatch: resync period %s is negative", c.ResyncPeriod)
	}
	if c.OrgKey == "" {
		c.OrgKey = DefaultOrgKey
	}
	if c.TeamKey == "" {
		c.TeamKey = DefaultTeamKey
	}
	if c.EnvironmentKey == "" {
		c.EnvironmentKey = DefaultEnvironmentKey
	}
	return nil
}

// Backoff bounds for redelivering a batch that emit rejected.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Run watches the pods of the configured namespaces until ctx is done, when it returns nil.
// Once the informers have listed every pod it emits the deployments running then as one
// batch; afterwards it emits a deployment as observed when its first pod starts running it, or
// when its team changes, and with EndedAt set when its last pod stops running it (deleted,
// finished, or now running another digest). Batches that emit rejects are retried with
// backoff. Run keeps no state across restarts: a deployment that ended while it was not
// running is not reported as ended. The error reports an invalid configuration, a nil client or
// emit, or informers that could not be set up.
func Run(ctx context.Context, client kubernetes.Interface, cfg Config, emit Emit, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if client == nil || emit == nil {
		return errors.New("kubewatch: a client and an emit function are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("cluster", cfg.Cluster)
	t := newTracker(cfg, log)

	namespaces := slices.Compact(slices.Sorted(slices.Values(cfg.Namespaces)))
	if len(namespaces) == 0 || slices.Contains(namespaces, metav1.NamespaceAll) {
		namespaces = []string{metav1.NamespaceAll}
	}
	ctx, cancel := context.WithCancel(ctx)
	var factories []informers.SharedInformerFactory
	defer func() {
		cancel()
		for _, f := range factories {
			f.Shutdown() // waits for the informers, stopped by cancel
		}
	}()
	var synced []cache.InformerSynced
	for _, ns := range namespaces {
		f := informers.NewSharedInformerFactoryWithOptions(client, cfg.ResyncPeriod,
			informers.WithNamespace(ns), informers.WithTransform(slim))
		reg, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    t.podChanged,
			UpdateFunc: func(_, obj any) { t.podChanged(obj) },
			DeleteFunc: t.podDeleted,
		})
		if err != nil {
			return fmt.Errorf("kubewatch: watching pods in namespace %q: %w", ns, err)
		}
		synced = append(synced, reg.HasSynced)
		f.Start(ctx.Done())
		factories = append(factories, f)
	}
	log.Info("watching pods", "namespaces", namespaces)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // ctx is done
	}
	log.Info("pods listed", "deployments", t.size())
	t.deliver(ctx, emit)
	return nil
}

// slim drops what the watcher does not read from a pod before the informer caches it: its
// spec and managed fields.
func slim(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		p.Spec = corev1.PodSpec{}
		p.ManagedFields = nil
	}
	return obj, nil
}

// deployments returns the deployments pod p runs now, by key: none unless it is running; one
// per distinct image of its containers and of its init containers that ran.
func deployments(p *corev1.Pod, cfg Config, now time.Time, log *slog.Logger) map[string]evidence.Deployment {
	if p.Status.Phase != corev1.PodRunning {
		return nil
	}
	base := evidence.Deployment{
		Environment: lookup(p, cfg.EnvironmentKey, cfg.DefaultEnvironment),
		Cluster:     cfg.Cluster,
		Namespace:   p.Namespace,
		Workload:    workload(p),
		Org:         lookup(p, cfg.OrgKey, cfg.DefaultOrg),
		Team:        lookup(p, cfg.TeamKey, ""),
		ObservedAt:  now,
	}
	if base.Org == "" || base.Environment == "" {
		// Expected for system pods when no default is configured: not worth a warning per update.
		log.Debug("skipping pod without an org or environment", "namespace", p.Namespace, "pod", p.Name)
		return nil
	}
	out := map[string]evidence.Deployment{}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		img, err := image(cs)
		if err != nil {
			log.Debug("skipping container without a resolvable digest", "namespace", p.Namespace, "pod", p.Name,
				"container", cs.Name, "err", err)
			continue
		}
		d := base
		d.Image = img
		if err := d.Validate(); err != nil {
			log.Warn("skipping container", "namespace", p.Namespace, "pod", p.Name, "container", cs.Name, "err", err)
			continue
		}
		out[d.Key()] = d
	}
	return out
}

// lookup returns p's label key, else its annotation key, else def.
func lookup(p *corev1.Pod, key, def string) string {
	if v := p.Labels[key]; v != "" {
		return v
	}
	if v := p.Annotations[key]; v != "" {
		return v
	}
	return def
}

// workload names p's workload: its controller's name, a ReplicaSet's without the pod-template
// hash (so the Deployment's), or the pod's own name when nothing controls it.
func workload(p *corev1.Pod) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return p.Name
	}
	if ref.Kind == "ReplicaSet" {
		if h := p.Labels["pod-template-hash"]; h != "" {
			if name, ok := strings.CutSuffix(ref.Name, "-"+h); ok && name != "" {
				return name
			}
		}
	}
	return ref.Name
}

// image returns the image a container runs, by the digest in its imageID
// ("docker-pullable://REPO@sha256:…", "REPO@sha256:…", or "sha256:…", then with the repository
// of its image). Repositories are normalised as the container runtime does ("nginx" is
// "docker.io/library/nginx"). The error wraps evidence.ErrInvalid when imageID is empty or
// names no valid digest.
func image(cs corev1.ContainerStatus) (evidence.ImageRef, error) {
	id := cs.ImageID
	if _, rest, ok := strings.Cut(id, "://"); ok {
		id = rest
	}
	var ref evidence.ImageRef
	switch repo, dig, ok := strings.Cut(id, "@"); {
	case id == "":
		return evidence.ImageRef{}, fmt.Errorf("%w: no imageID yet", evidence.ErrInvalid)
	case ok:
		ref = evidence.ImageRef{Repository: repository(repo), Digest: evidence.Digest(dig)}
	case strings.HasPrefix(id, "sha256:"):
		ref = evidence.ImageRef{Repository: repository(cs.Image), Digest: evidence.Digest(id)}
	default:
		return evidence.ImageRef{}, fmt.Errorf("%w: imageID %q: want REPO@sha256:<hex> or sha256:<hex>", evidence.ErrInvalid, cs.ImageID)
	}
	if err := ref.Validate(); err != nil {
		return evidence.ImageRef{}, fmt.Errorf("imageID %q, image %q: %w", cs.ImageID, cs.Image, err)
	}
	return ref, nil
}

// repository returns the repository of an image reference without its tag or digest, with
// Docker Hub's implicit registry and "library/" made explicit.
func repository(name string) string {
	name, _, _ = strings.Cut(name, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	host, path, ok := strings.Cut(name, "/")
	switch {
	case name == "":
		return ""
	case !ok:
		return "docker.io/library/" + name
	case host == "index.docker.io" || host == "docker.io":
		host = "docker.io"
	case !strings.ContainsAny(host, ".:") && host != "localhost":
		host, path = "docker.io", name
	default:
		return name
	}
	if !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return host + "/" + path
}
