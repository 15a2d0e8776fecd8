package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/policies"
)

// namespace is where the overlays put every namespaced object.
const namespace = "aspm"

// clickhouseNamespace is where the README installs the ClickHouse cluster chart.
const clickhouseNamespace = "clickhouse"

// operatorCreated are the objects the manifests refer to but do not contain, because the
// operator creates them (deploy/k8s/README.md says how): secrets are never in the repository.
var operatorCreated = map[string]bool{
	"ConfigMap/aspm-trust":   true,
	"Secret/aspm-clickhouse": true,
	"Secret/aspm-github":     true,
}

// extraEnv are environment variables a binary reads that are not flags (its -h output names
// them).
var extraEnv = map[string][]string{
	"ingest": {"ASPM_GITHUB_TOKEN"},
}

// overlay is what one kustomize overlay must render.
type overlay struct {
	name string
	// minReplicas is the least replicas of the ingest pool, the scorer and the api.
	minReplicas int32
	// pdbs says whether those have PodDisruptionBudgets.
	pdbs bool
	// streamReplicas is ASPM_REPLICAS: the replicas of NATS streams.
	streamReplicas string
}

var overlays = []overlay{
	{name: "single-node", minReplicas: 1, pdbs: false, streamReplicas: "1"},
	{name: "ha", minReplicas: 2, pdbs: true, streamReplicas: "3"},
}

// rendered holds an overlay's objects, decoded strictly into their API types.
type rendered struct {
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	accounts     map[string]*corev1.ServiceAccount
	pdbs         map[string]*policyv1.PodDisruptionBudget
	roles        map[string][]rbacv1.PolicyRule // "Role/name" or "ClusterRole/name"
	bindings     []binding
	netpols      []*networkingv1.NetworkPolicy
	namespaces   map[string]*corev1.Namespace
	namespaceOf  map[string]string // "Kind/name" → metadata.namespace
	unrecognised []string
}

// binding is a RoleBinding or ClusterRoleBinding.
type binding struct {
	name     string
	roleRef  rbacv1.RoleRef
	subjects []rbacv1.Subject
}

// mustRender renders deploy/k8s/overlays/name with kustomize as kubectl would (default
// options: load restrictions to the kustomization roots) and decodes every object.
func mustRender(t *testing.T, name string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	dir, err := filepath.Abs(filepath.Join("k8s", "overlays", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		accounts: map[string]*corev1.ServiceAccount{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		roles: map[string][]rbacv1.PolicyRule{}, namespaces: map[string]*corev1.Namespace{},
		namespaceOf: map[string]string{},
	}
	for _, res := range m.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind, objName := res.GetKind(), res.GetName()
		r.namespaceOf[kind+"/"+objName] = res.GetNamespace()
		decode := func(into any) {
			t.Helper()
			if err := yaml.UnmarshalStrict(doc, into); err != nil {
				t.Fatalf("%s %s/%s: %v\n%s", name, kind, objName, err, doc)
			}
		}
		switch kind {
		case "Deployment":
			var d appsv1.Deployment
			decode(&d)
			r.deployments[objName] = &d
		case "Service":
			var s corev1.Service
			decode(&s)
			r.services[objName] = &s
		case "ConfigMap":
			var c corev1.ConfigMap
			decode(&c)
			r.configMaps[objName] = &c
		case "Secret":
			var s corev1.Secret
			decode(&s)
			r.secrets[objName] = &s
		case "ServiceAccount":
			var s corev1.ServiceAccount
			decode(&s)
			r.accounts[objName] = &s
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			decode(&p)
			r.pdbs[objName] = &p
		case "Role":
			var x rbacv1.Role
			decode(&x)
			r.roles["Role/"+objName] = x.Rules
		case "ClusterRole":
			var x rbacv1.ClusterRole
			decode(&x)
			r.roles["ClusterRole/"+objName] = x.Rules
		case "RoleBinding":
			var x rbacv1.RoleBinding
			decode(&x)
			r.bindings = append(r.bindings, binding{name: "RoleBinding/" + objName, roleRef: x.RoleRef, subjects: x.Subjects})
		case "ClusterRoleBinding":
			var x rbacv1.ClusterRoleBinding
			decode(&x)
			r.bindings = append(r.bindings, binding{name: "ClusterRoleBinding/" + objName, roleRef: x.RoleRef, subjects: x.Subjects})
		case "NetworkPolicy":
			var x networkingv1.NetworkPolicy
			decode(&x)
			r.netpols = append(r.netpols, &x)
		case "Namespace":
			var x corev1.Namespace
			decode(&x)
			r.namespaces[objName] = &x
		default:
			r.unrecognised = append(r.unrecognised, kind+"/"+objName)
		}
	}
	return r
}

// configMap returns the rendered ConfigMap named name, or generated from name (kustomize
// appends a content hash to generated names), or nil.
func (r *rendered) configMap(name string) *corev1.ConfigMap {
	if cm, ok := r.configMaps[name]; ok {
		return cm
	}
	for full, cm := range r.configMaps {
		if hash, ok := strings.CutPrefix(full, name+"-"); ok && generatedSuffix.MatchString(hash) {
			return cm
		}
	}
	return nil
}

// generatedSuffix matches the hash kustomize appends to a generated ConfigMap's name.
var generatedSuffix = regexp.MustCompile(`^[a-z0-9]{10}$`)

func TestKubernetesOverlays(t *testing.T) {
	for _, ov := range overlays {
		t.Run(ov.name, func(t *testing.T) {
			r := mustRender(t, ov.name)
			if len(r.unrecognised) > 0 {
				t.Errorf("objects of kinds this test does not check: %v", r.unrecognised)
			}
			checkNamespaces(t, r)
			for _, name := range []string{"aspm-ingest", "aspm-ingest-kubewatch", "aspm-scorer", "aspm-api"} {
				if r.deployments[name] == nil {
					t.Errorf("no Deployment %s", name)
				}
			}
			for name, d := range r.deployments {
				t.Run(name, func(t *testing.T) { checkDeployment(t, r, ov, d) })
			}
			checkReplicas(t, r, ov)
			checkPDBs(t, r, ov)
			checkRBAC(t, r)
			checkSecrets(t, r)
			checkServices(t, r)
			checkNetworkPolicies(t, r)
			checkPolicies(t, r)
		})
	}
}

// checkNamespaces: every namespaced object is in namespace aspm, which enforces the
// restricted Pod Security Standard.
func checkNamespaces(t *testing.T, r *rendered) {
	t.Helper()
	for obj, ns := range r.namespaceOf {
		kind, _, _ := strings.Cut(obj, "/")
		clusterScoped := kind == "Namespace" || kind == "ClusterRole" || kind == "ClusterRoleBinding"
		if clusterScoped && ns != "" || !clusterScoped && ns != namespace {
			t.Errorf("%s is in namespace %q", obj, ns)
		}
	}
	n := r.namespaces[namespace]
	if n == nil {
		t.Fatalf("no Namespace %s", namespace)
	}
	if got := n.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s enforces pod security %q, want restricted", namespace, got)
	}
}

// imagePattern matches the images of the services' binaries.
var imagePattern = regexp.MustCompile(`^ghcr\.io/aspmhq/aspm-(ingest|scorer|api):[A-Za-z0-9._-]+$`)

// checkDeployment checks one Deployment's pods: security, probes, resources, and that the
// image's binary accepts the arguments and environment it is given.
func checkDeployment(t *testing.T, r *rendered, ov overlay, d *appsv1.Deployment) {
	pod := d.Spec.Template.Spec
	if sel := d.Spec.Selector; sel == nil || !matches(sel.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod securityContext.runAsUser is not a non-zero uid")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("pod shares a host namespace")
	}

	// The service account exists; only the Pod watcher's pods get an API token.
	if pod.ServiceAccountName == "" || r.accounts[pod.ServiceAccountName] == nil {
		t.Errorf("service account %q is not among the manifests", pod.ServiceAccountName)
	}
	token := true
	if sa := r.accounts[pod.ServiceAccountName]; sa != nil && sa.AutomountServiceAccountToken != nil {
		token = *sa.AutomountServiceAccountToken
	}
	if pod.AutomountServiceAccountToken != nil {
		token = *pod.AutomountServiceAccountToken
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		checkVolumeRefs(t, r, v)
	}
	if len(pod.Containers) == 0 {
		t.Fatal("no containers")
	}
	if len(pod.InitContainers) > 0 {
		t.Error("init containers are not checked by this test: check them before adding one")
	}
	for _, c := range pod.Containers {
		t.Run(c.Name, func(t *testing.T) {
			service := checkContainer(t, r, ov, c, volumes)
			watcher := hasSetting(c, r, "kube-cluster")
			if watcher != token {
				t.Errorf("watches pods: %v, gets a service account token: %v; want both or neither", watcher, token)
			}
			if watcher && service != "ingest" {
				t.Errorf("the %s binary has no Pod watcher", service)
			}
		})
	}
}

// checkVolumeRefs checks that the ConfigMaps and Secrets a volume refers to are rendered or
// created by the operator.
func checkVolumeRefs(t *testing.T, r *rendered, v corev1.Volume) {
	t.Helper()
	var refs []string
	if v.ConfigMap != nil {
		refs = append(refs, "ConfigMap/"+v.ConfigMap.Name)
	}
	if v.Secret != nil {
		refs = append(refs, "Secret/"+v.Secret.SecretName)
	}
	if v.Projected != nil {
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				refs = append(refs, "ConfigMap/"+s.ConfigMap.Name)
			}
			if s.Secret != nil {
				refs = append(refs, "Secret/"+s.Secret.Name)
			}
		}
	}
	for _, ref := range refs {
		kind, name, _ := strings.Cut(ref, "/")
		found := kind == "ConfigMap" && r.configMap(name) != nil || kind == "Secret" && r.secrets[name] != nil
		if !found && !operatorCreated[ref] {
			t.Errorf("volume %s refers to %s, which is neither rendered nor created by the operator", v.Name, ref)
		}
	}
}

// checkContainer checks one container and returns the service whose binary it runs.
func checkContainer(t *testing.T, r *rendered, ov overlay, c corev1.Container, volumes map[string]corev1.Volume) string {
	m := imagePattern.FindStringSubmatch(c.Image)
	if m == nil {
		t.Fatalf("image %q is not one of the services' images (%s)", c.Image, imagePattern)
	}
	service := m[1]
	flags := mustServiceFlags(t, service)
	if len(c.Command) > 0 {
		t.Errorf("command %q overrides the image's entrypoint", c.Command)
	}
	if err := flags.Parse(c.Args); err != nil {
		t.Errorf("aspm-%s does not accept args %q: %v", service, c.Args, err)
	}
	settings := checkEnv(t, r, service, flags, c)
	if got := settings["replicas"]; got != ov.streamReplicas {
		t.Errorf("stream replicas (--replicas / ASPM_REPLICAS) = %q, want %q", got, ov.streamReplicas)
	}
	if settings["nats-url"] == "" {
		t.Error("no NATS URL set")
	}
	if _, ok := flags["store"]; ok && settings["store"] != "clickhouse" {
		t.Errorf("store = %q, want clickhouse", settings["store"])
	}

	// The operational port: --listen's port, declared, and probed.
	listen := settings["listen"]
	_, portText, ok := strings.Cut(listen, ":")
	port, err := strconv.Atoi(portText)
	if !ok || err != nil || strings.HasPrefix(listen, "127.") || strings.HasPrefix(listen, "localhost") {
		t.Fatalf("listen address %q is not reachable from the kubelet and other pods", listen)
	}
	var declared bool
	for _, p := range c.Ports {
		declared = declared || p.ContainerPort == int32(port)
	}
	if !declared {
		t.Errorf("listen port %d is not among the container ports %v", port, c.Ports)
	}
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", port, c)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", port, c)

	// Resources: requests for scheduling, a memory limit.
	res := c.Resources
	if res.Requests.Cpu().IsZero() || res.Requests.Memory().IsZero() {
		t.Errorf("resource requests %v lack cpu or memory", res.Requests)
	}
	if res.Limits.Memory().IsZero() {
		t.Errorf("resource limits %v lack memory", res.Limits)
	}
	if !res.Limits.Memory().IsZero() && res.Limits.Memory().Cmp(*res.Requests.Memory()) < 0 {
		t.Errorf("memory limit %s is below the request %s", res.Limits.Memory(), res.Requests.Memory())
	}

	// Security: no escalation, no capabilities, read-only root file system.
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Error("no container securityContext")
	default:
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("privileged")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 || sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			t.Error("the container overrides the pod's non-root user")
		}
	}

	// Mounts: every mount names a volume; /tmp is writable; files the flags name are mounted.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			t.Errorf("mount %s names no volume", vm.Name)
		}
		mounts[vm.MountPath] = vm
	}
	if tmp, ok := mounts["/tmp"]; !ok || volumes[tmp.Name].EmptyDir == nil {
		t.Error("no emptyDir at /tmp for the read-only root file system")
	}
	for _, name := range []string{"policies", "trusted-root", "trusted-key", "trust-config", "inventory", "notify-config", "vsa-key", "kubeconfig"} {
		p := settings[name]
		if p == "" {
			continue
		}
		if _, after, ok := strings.Cut(p, "="); ok && name == "trusted-root" {
			p = after
		}
		if mountFor(mounts, p) == nil {
			t.Errorf("--%s=%s is on no mounted volume", name, p)
		}
	}
	if service == "scorer" {
		p := settings["policies"]
		vm := mounts[p]
		if p == "" || vm.Name == "" {
			t.Errorf("--policies=%q is not the mount path of a volume", p)
		} else if v := volumes[vm.Name]; v.Projected == nil && v.ConfigMap == nil {
			t.Errorf("the policy volume %s holds no ConfigMap", vm.Name)
		}
	}
	return service
}

// checkEnv checks a container's environment against its binary and returns the effective
// settings by flag name (arguments win over the environment, as in the binaries).
func checkEnv(t *testing.T, r *rendered, service string, flags binFlags, c corev1.Container) map[string]string {
	t.Helper()
	settings := map[string]string{}
	set := func(source, name, value string) {
		if slices.Contains(extraEnv[service], name) {
			return
		}
		fl, ok := flags.Env(name)
		if !ok {
			t.Errorf("%s: aspm-%s reads no variable %s", source, service, name)
			return
		}
		if err := flags.CheckValue(fl, value); err != nil {
			t.Errorf("%s: %s=%q: %v", source, name, value, err)
		}
		settings[fl.Name] = value
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm := r.configMap(ef.ConfigMapRef.Name)
			if cm == nil {
				t.Errorf("envFrom ConfigMap %s is not rendered", ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				set("ConfigMap "+cm.Name, ef.Prefix+k, v)
			}
		default:
			t.Errorf("envFrom %+v: only ConfigMaps are expected (secrets go by key)", ef)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			if secretLike(e.Name) && e.Value != "" {
				t.Errorf("env %s holds a secret value in the manifests", e.Name)
			}
			set("env", e.Name, e.Value)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			t.Errorf("env %s: only secretKeyRef is expected in valueFrom", e.Name)
			continue
		}
		if !operatorCreated["Secret/"+ref.Name] {
			t.Errorf("env %s refers to Secret %s, which the operator is not told to create", e.Name, ref.Name)
		}
		if slices.Contains(extraEnv[service], e.Name) {
			continue
		}
		if _, ok := flags.Env(e.Name); !ok {
			t.Errorf("env %s: aspm-%s reads no such variable", e.Name, service)
		}
	}
	// Arguments override the environment.
	for _, a := range c.Args {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			t.Errorf("argument %q: write flags as --name=value", a)
			continue
		}
		settings[name] = value
	}
	return settings
}

// secretLike reports whether an environment variable is named like a secret.
func secretLike(name string) bool {
	for _, w := range []string{"PASSWORD", "TOKEN", "SECRET"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// hasSetting reports whether a container sets the flag name, by argument or environment.
func hasSetting(c corev1.Container, r *rendered, name string) bool {
	for _, a := range c.Args {
		if strings.HasPrefix(strings.TrimLeft(a, "-"), name+"=") {
			return true
		}
	}
	env := "ASPM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	for _, e := range c.Env {
		if e.Name == env && (e.Value != "" || e.ValueFrom != nil) {
			return true
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := r.configMap(ef.ConfigMapRef.Name); cm != nil && cm.Data[strings.TrimPrefix(env, ef.Prefix)] != "" {
				return true
			}
		}
	}
	return false
}

// mountFor returns the mount that holds path, or nil.
func mountFor(mounts map[string]corev1.VolumeMount, p string) *corev1.VolumeMount {
	for mp, vm := range mounts {
		if p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/") {
			return &vm
		}
	}
	return nil
}

// checkProbe checks that a probe GETs path on port, by number or by the name of a container
// port.
func checkProbe(t *testing.T, kind string, p *corev1.Probe, wantPath string, port int, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("no HTTP %s probe", kind)
		return
	}
	if p.HTTPGet.Path != wantPath {
		t.Errorf("%s probe path %q, want %q", kind, p.HTTPGet.Path, wantPath)
	}
	if got := resolvePort(p.HTTPGet.Port, c.Ports); got != port {
		t.Errorf("%s probe port %s is %d, want the listen port %d", kind, p.HTTPGet.Port.String(), got, port)
	}
}

// resolvePort returns the number of a port given by number or by container port name; 0
// when the name is unknown.
func resolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

// checkReplicas: the pool, scorer and api have the overlay's replicas; the Pod watcher is
// always one pod, replaced rather than rolled, so that two watchers never run at once.
func checkReplicas(t *testing.T, r *rendered, ov overlay) {
	t.Helper()
	for _, name := range []string{"aspm-ingest", "aspm-scorer", "aspm-api"} {
		d := r.deployments[name]
		if d == nil {
			continue
		}
		if got := replicas(d); got < ov.minReplicas || ov.name == "single-node" && got != 1 {
			t.Errorf("%s has %d replicas, want %d or more (exactly 1 on a single node)", name, got, ov.minReplicas)
		}
	}
	if d := r.deployments["aspm-ingest-kubewatch"]; d != nil {
		if got := replicas(d); got != 1 {
			t.Errorf("aspm-ingest-kubewatch has %d replicas, want 1", got)
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("aspm-ingest-kubewatch strategy %q, want Recreate", d.Spec.Strategy.Type)
		}
	}
}

// replicas returns a Deployment's replicas (1 when unset, as the API server defaults it).
func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// checkPDBs: in HA every replicated Deployment has a PodDisruptionBudget selecting its pods
// that still lets one be evicted; single node has none.
func checkPDBs(t *testing.T, r *rendered, ov overlay) {
	t.Helper()
	if !ov.pdbs {
		if len(r.pdbs) > 0 {
			t.Errorf("PodDisruptionBudgets %v on a single node would block drains", keys(r.pdbs))
		}
		return
	}
	for name, d := range r.deployments {
		n := replicas(d)
		var found []string
		for pname, p := range r.pdbs {
			if p.Spec.Selector != nil && len(p.Spec.Selector.MatchLabels) > 0 && len(p.Spec.Selector.MatchExpressions) == 0 &&
				matches(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				found = append(found, pname)
				if p.Spec.MinAvailable == nil || p.Spec.MaxUnavailable != nil {
					t.Errorf("PDB %s: want minAvailable only", pname)
				} else if min := p.Spec.MinAvailable.IntValue(); min < 1 || int32(min) >= n {
					t.Errorf("PDB %s: minAvailable %d with %d replicas", pname, min, n)
				}
			}
		}
		switch {
		case n >= 2 && len(found) != 1:
			t.Errorf("%s (%d replicas) is selected by PDBs %v, want exactly one", name, n, found)
		case n < 2 && len(found) != 0:
			t.Errorf("%s (%d replica) is selected by PDBs %v, which would block drains", name, n, found)
		}
	}
}

// checkRBAC: roles only read (get, list, watch), and only the Pod watcher's service account is
// bound, to a role that lets it list and watch pods.
func checkRBAC(t *testing.T, r *rendered) {
	t.Helper()
	readOnly := []string{"get", "list", "watch"}
	for name, rules := range r.roles {
		for _, rule := range rules {
			for _, v := range rule.Verbs {
				if !slices.Contains(readOnly, v) {
					t.Errorf("%s grants verb %q", name, v)
				}
			}
			if slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") || slices.Contains(rule.Resources, "secrets") {
				t.Errorf("%s grants %v in API groups %v", name, rule.Resources, rule.APIGroups)
			}
		}
	}
	watcher := r.deployments["aspm-ingest-kubewatch"]
	if watcher == nil {
		return
	}
	sa := watcher.Spec.Template.Spec.ServiceAccountName
	var podReader bool
	for _, b := range r.bindings {
		rules, ok := r.roles[b.roleRef.Kind+"/"+b.roleRef.Name]
		if !ok {
			t.Errorf("%s refers to %s %s, which is not among the manifests", b.name, b.roleRef.Kind, b.roleRef.Name)
		}
		for _, s := range b.subjects {
			if s.Kind != "ServiceAccount" || s.Name != sa || s.Namespace != namespace {
				t.Errorf("%s binds %s %s/%s; only the Pod watcher's %s/%s may be bound", b.name, s.Kind, s.Namespace, s.Name, namespace, sa)
			}
		}
		for _, rule := range rules {
			if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "pods") &&
				slices.Contains(rule.Verbs, "list") && slices.Contains(rule.Verbs, "watch") {
				podReader = true
			}
		}
	}
	if !podReader {
		t.Errorf("service account %s may not list and watch pods", sa)
	}
}

// checkSecrets: no Secret with data is rendered; secrets are the operator's.
func checkSecrets(t *testing.T, r *rendered) {
	t.Helper()
	for name, s := range r.secrets {
		if len(s.Data) > 0 || len(s.StringData) > 0 {
			t.Errorf("Secret %s holds data in the repository", name)
		}
	}
}

// checkServices: each Service selects the pods of a Deployment and targets ports they declare.
func checkServices(t *testing.T, r *rendered) {
	t.Helper()
	if r.services["aspm-api"] == nil {
		t.Error("no Service aspm-api")
	}
	for name, s := range r.services {
		var pods *corev1.PodTemplateSpec
		for _, d := range r.deployments {
			if len(s.Spec.Selector) > 0 && matches(s.Spec.Selector, d.Spec.Template.Labels) {
				pods = &d.Spec.Template
			}
		}
		if pods == nil {
			t.Errorf("Service %s selects no Deployment's pods", name)
			continue
		}
		for _, p := range s.Spec.Ports {
			var ports []corev1.ContainerPort
			for _, c := range pods.Spec.Containers {
				ports = append(ports, c.Ports...)
			}
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntValue() == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if resolvePort(target, ports) == 0 || target.Type == intstr.Int && !slices.ContainsFunc(ports, func(cp corev1.ContainerPort) bool { return int(cp.ContainerPort) == target.IntValue() }) {
				t.Errorf("Service %s port %s targets %s, which its pods do not declare", name, p.Name, target.String())
			}
		}
	}
}

// checkNetworkPolicies: every container port of a pod a policy selects is allowed in.
func checkNetworkPolicies(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.netpols) == 0 {
		t.Error("no NetworkPolicy")
	}
	for _, np := range r.netpols {
		var selected int
		for name, d := range r.deployments {
			if !matches(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
				continue
			}
			selected++
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, cp := range c.Ports {
					if !allowsPort(np, cp) {
						t.Errorf("NetworkPolicy %s blocks %s port %d", np.Name, name, cp.ContainerPort)
					}
				}
			}
		}
		if selected == 0 {
			t.Errorf("NetworkPolicy %s selects no pods", np.Name)
		}
	}
}

// allowsPort reports whether some ingress rule of np admits traffic to cp.
func allowsPort(np *networkingv1.NetworkPolicy, cp corev1.ContainerPort) bool {
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			return true
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.Type == intstr.Int && p.Port.IntValue() == int(cp.ContainerPort) ||
				p.Port.Type == intstr.String && p.Port.StrVal == cp.Name {
				return true
			}
		}
	}
	return false
}

// checkPolicies lays the scorer's policy volume out as the kubelet would mount it, and loads
// it with the scorer's policy engine: it must compile and be the very policy set built into the
// binaries (same version hash), so no module or data file is missing from the ConfigMaps.
func checkPolicies(t *testing.T, r *rendered) {
	t.Helper()
	d := r.deployments["aspm-scorer"]
	if d == nil {
		return
	}
	c := d.Spec.Template.Spec.Containers[0]
	var dir string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--policies="); ok {
			dir = v
		}
	}
	var vol *corev1.Volume
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dir {
			for i := range d.Spec.Template.Spec.Volumes {
				if d.Spec.Template.Spec.Volumes[i].Name == vm.Name {
					vol = &d.Spec.Template.Spec.Volumes[i]
				}
			}
		}
	}
	if dir == "" || vol == nil {
		t.Fatalf("scorer: no volume mounted at --policies=%q", dir)
	}
	var sources []corev1.VolumeProjection
	switch {
	case vol.Projected != nil:
		sources = vol.Projected.Sources
	case vol.ConfigMap != nil:
		sources = []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: vol.ConfigMap.LocalObjectReference, Items: vol.ConfigMap.Items}}}
	}
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sources {
		if s.ConfigMap == nil {
			t.Fatalf("policy volume source %+v is not a ConfigMap", s)
		}
		cm := r.configMap(s.ConfigMap.Name)
		if cm == nil {
			t.Fatalf("policy ConfigMap %s is not rendered", s.ConfigMap.Name)
		}
		if len(cm.BinaryData) > 0 {
			t.Errorf("ConfigMap %s has binary data, which the policy loader would not read", cm.Name)
		}
		if len(s.ConfigMap.Items) == 0 {
			for k, v := range cm.Data {
				write(k, v)
			}
			continue
		}
		// With items, the kubelet projects only the keys listed: a key left out is a file lost.
		listed := map[string]bool{}
		for _, it := range s.ConfigMap.Items {
			v, ok := cm.Data[it.Key]
			if !ok {
				t.Errorf("ConfigMap %s has no key %s", cm.Name, it.Key)
			}
			listed[it.Key] = true
			write(path.Clean(it.Path), v)
		}
		for k := range cm.Data {
			if !listed[k] {
				t.Errorf("ConfigMap %s key %s is not projected into the policy directory", cm.Name, k)
			}
		}
	}
	ctx := context.Background()
	mounted, err := policy.LoadDir(ctx, root)
	if err != nil {
		t.Fatalf("loading the policy directory the scorer would mount: %v", err)
	}
	builtin, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	if mounted.Version() != builtin.Version() {
		t.Errorf("the mounted policies (version %s) differ from the built-in ones (%s): a file of policies/ is missing from policies/kustomization.yaml, or one is extra",
			mounted.Version(), builtin.Version())
	}
}

// matches reports whether labels has every pair of selector.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// keys returns a map's keys, sorted.
func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestKubernetesExternalNames checks that the manifests and the Helm values agree on where
// NATS and ClickHouse are, that the NATS values run JetStream on a three-node cluster for HA,
// and that the README tells the operator to create every object the manifests only refer to.
func TestKubernetesExternalNames(t *testing.T) {
	r := mustRender(t, "ha")
	common, store := r.configMap("aspm-common"), r.configMap("aspm-store")
	if common == nil || store == nil {
		t.Fatal("ConfigMaps aspm-common and aspm-store are not rendered")
	}

	nats := mustValues(t, "nats-values.yaml")
	wantNATS := fmt.Sprintf("nats://%s.%s.svc:4222", str(nats, "fullnameOverride"), str(nats, "namespaceOverride"))
	if got := common.Data["ASPM_NATS_URL"]; got != wantNATS {
		t.Errorf("ASPM_NATS_URL = %q, want %q (the Service of helm/nats-values.yaml)", got, wantNATS)
	}
	if !boolean(nats, "config", "jetstream", "enabled") || !boolean(nats, "config", "cluster", "enabled") {
		t.Error("nats-values.yaml: want config.jetstream.enabled and config.cluster.enabled")
	}
	if n := num(nats, "config", "cluster", "replicas"); n != 3 {
		t.Errorf("nats-values.yaml: config.cluster.replicas = %v, want 3", n)
	}
	single := mustValues(t, "nats-single-node-values.yaml")
	if str(single, "fullnameOverride") != str(nats, "fullnameOverride") || str(single, "namespaceOverride") != str(nats, "namespaceOverride") ||
		!boolean(single, "config", "jetstream", "enabled") {
		t.Error("nats-single-node-values.yaml: want the Service of nats-values.yaml (fullnameOverride, namespaceOverride) and JetStream enabled")
	}

	ch := mustValues(t, "clickhouse-values.yaml")
	wantCH := str(ch, "clickhouse", "meta", "name") + "-clickhouse-headless." + clickhouseNamespace + ".svc:9000"
	if got := store.Data["ASPM_CLICKHOUSE_ADDR"]; got != wantCH {
		t.Errorf("ASPM_CLICKHOUSE_ADDR = %q, want %q (the Service the operator makes for helm/clickhouse-values.yaml)", got, wantCH)
	}

	if n := num(ch, "clickhouse", "spec", "replicas"); n != 1 {
		t.Errorf("clickhouse-values.yaml: %v replicas; the services' own migrations make unreplicated tables, want 1", n)
	}
	// The replicated setup: a Keeper quorum, and a profile for the services' user whose
	// insert quorum is every replica, so that a write is visible to the next read anywhere.
	chHA := mustValues(t, "clickhouse-ha-values.yaml")
	replicasHA := num(chHA, "clickhouse", "spec", "replicas")
	if replicasHA < 2 {
		t.Errorf("clickhouse-ha-values.yaml: %v replicas, want 2 or more", replicasHA)
	}
	if k := num(chHA, "keeper", "spec", "replicas"); k < 3 || int(k)%2 == 0 {
		t.Errorf("clickhouse-ha-values.yaml: %v Keeper replicas, want an odd number, 3 or more", k)
	}
	user := store.Data["ASPM_CLICKHOUSE_USER"]
	profile := str(chHA, "clickhouse", "spec", "settings", "extraUsersConfig", "users", user, "profile")
	settings := []string{"clickhouse", "spec", "settings", "extraUsersConfig", "profiles", profile}
	if profile == "" || num(chHA, append(settings, "insert_quorum")...) != replicasHA ||
		num(chHA, append(settings, "insert_distributed_sync")...) != 1 || num(chHA, append(settings, "select_sequential_consistency")...) != 1 {
		t.Errorf("clickhouse-ha-values.yaml: user %s's profile %q does not make writes visible on every replica", user, profile)
	}
	if str(ch, "clickhouse", "spec", "settings", "extraUsersConfig", "users", user, "profile") == "" {
		t.Errorf("clickhouse-values.yaml defines no ClickHouse user %s (ASPM_CLICKHOUSE_USER)", user)
	}

	readme, err := os.ReadFile(filepath.Join("k8s", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "-n "+clickhouseNamespace+" ") {
		t.Errorf("k8s/README.md does not install ClickHouse in namespace %s", clickhouseNamespace)
	}
	for obj := range operatorCreated {
		kind, name, _ := strings.Cut(obj, "/")
		cmd := "create " + strings.ToLower(kind)
		if !strings.Contains(string(readme), name) || !strings.Contains(string(readme), cmd) {
			t.Errorf("k8s/README.md does not say how to create %s (%q … %s)", obj, cmd, name)
		}
	}
}

// mustValues reads a Helm values file of deploy/k8s/helm.
func mustValues(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("k8s", "helm", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// lookup walks nested maps along keys.
func lookup(v map[string]any, keys ...string) any {
	var cur any = v
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func str(v map[string]any, keys ...string) string {
	s, _ := lookup(v, keys...).(string)
	return s
}

func boolean(v map[string]any, keys ...string) bool {
	b, _ := lookup(v, keys...).(bool)
	return b
}

func num(v map[string]any, keys ...string) float64 {
	n, _ := lookup(v, keys...).(float64)
	return n
}
