package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeTestEnv stands in for .env: the variables the compose file requires.
var composeTestEnv = []string{"ASPM_CLICKHOUSE_PASSWORD=test-only-password", "GRAFANA_ADMIN_PASSWORD=test-only-password"}

// loadCompose loads docker-compose.yml with compose-go as `docker compose` does, with env as
// the only environment (not this process's, and no .env file).
func loadCompose(t *testing.T, env []string, opts ...cli.ProjectOptionsFn) (*types.Project, error) {
	t.Helper()
	root := composeRepoRoot(t)
	opts = append([]cli.ProjectOptionsFn{cli.WithWorkingDirectory(root), cli.WithEnv(env)}, opts...)
	po, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return po.LoadProject(context.Background())
}

// composeFlag is one flag a binary accepts, as its help prints it.
type composeFlag struct {
	typ  string // "" for a bool; string, int, duration, value, …
	def  string // the default its help shows, if any
	help string
}

// composeCLI is what a binary accepts: flags by name and ASPM_* environment variables.
type composeCLI struct {
	flags map[string]composeFlag
	env   map[string]string // variable → flag name ("" for variables the help names only)
}

var (
	goFlagLine    = regexp.MustCompile(`^  -([\w.-]+)(?: (\w+))?`)
	cobraFlagLine = regexp.MustCompile(`^\s+(?:-\w, )?--([\w.-]+)(?:\[=[^\]]*\])?(?: (\w+))?\s{2,}(.*)$`)
	helpDefault   = regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`)
	helpEnvVar    = regexp.MustCompile(`\bASPM_[A-Z0-9_]+\b`)
)

// composeEnvName is svcmain.EnvName: the ASPM_* variable of a flag.
func composeEnvName(flag string) string {
	return "ASPM_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flag))
}

// parseComposeHelp reads the flags from a binary's help: Go's flag package (-name type, the usage on
// the next line) or cobra's (--name type   usage).
func parseComposeHelp(help string) composeCLI {
	c := composeCLI{flags: map[string]composeFlag{}, env: map[string]string{}}
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if m := cobraFlagLine.FindStringSubmatch(l); m != nil {
			f := composeFlag{typ: m[2], help: m[3]}
			if d := helpDefault.FindStringSubmatch(m[3]); d != nil {
				f.def = d[1]
			}
			c.flags[m[1]] = f
			continue
		}
		if m := goFlagLine.FindStringSubmatch(l); m != nil {
			f := composeFlag{typ: m[2]}
			if i+1 < len(lines) {
				f.help = strings.TrimSpace(lines[i+1])
				if d := helpDefault.FindStringSubmatch(f.help); d != nil {
					f.def = d[1]
				}
			}
			c.flags[m[1]] = f
		}
	}
	for name := range c.flags {
		c.env[composeEnvName(name)] = name
	}
	for _, v := range helpEnvVar.FindAllString(help, -1) {
		if _, ok := c.env[v]; !ok {
			c.env[v] = ""
		}
	}
	return c
}

// composeCheckValue reports whether v is a valid value for a flag of type typ.
func composeCheckValue(typ, v string) error {
	var err error
	switch typ {
	case "":
		_, err = strconv.ParseBool(v)
	case "int", "int64", "uint", "uint64":
		_, err = strconv.ParseInt(v, 10, 64)
	case "float", "float64":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		_, err = time.ParseDuration(v)
	}
	return err
}

// buildComposeBinaries builds the binaries for the Dockerfile's SERVICE values into dir and returns
// SERVICE → binary path.
func buildComposeBinaries(t *testing.T, services map[string]string) map[string]string {
	t.Helper()
	root, dir := composeRepoRoot(t), t.TempDir()
	out := map[string]string{}
	for svc, pkg := range services {
		bin := filepath.Join(dir, "bin-"+svc)
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root // the flags do not depend on cgo: build as `go build` does here, from the cache
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		out[svc] = bin
	}
	return out
}

// composeHelpOf runs bin with the words of a subcommand and -h, and parses what it accepts.
func composeHelpOf(t *testing.T, bin string, words []string) composeCLI {
	t.Helper()
	var buf bytes.Buffer
	cmd := exec.Command(bin, append(slices.Clone(words), "-h")...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.Env = []string{"HOME=" + t.TempDir()}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v -h: %v\n%s", filepath.Base(bin), words, err, buf.String())
	}
	c := parseComposeHelp(buf.String())
	if len(c.flags) < 3 {
		t.Fatalf("%s %v -h: found only %d flags in:\n%s", filepath.Base(bin), words, len(c.flags), buf.String())
	}
	return c
}

// TestComposeMatchesBinaries loads docker-compose.yml with compose-go and checks every service
// built from this repository against the real binary it runs: each command-line flag and
// ASPM_* variable is one the binary accepts, with a value of the right type; its listen
// address, published ports and health check agree; the addresses it dials name services it
// waits for.
func TestComposeMatchesBinaries(t *testing.T) {
	root := composeRepoRoot(t)
	p, err := loadCompose(t, composeTestEnv)
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	services := dockerServices(t, stages[1])
	bins := buildComposeBinaries(t, services)

	built := 0
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		built++
		t.Run(name, func(t *testing.T) {
			if s.Build.Context != root || (s.Build.Dockerfile != "" && s.Build.Dockerfile != "Dockerfile") {
				t.Errorf("build %s / %s: want the repository's Dockerfile", s.Build.Context, s.Build.Dockerfile)
			}
			arg := s.Build.Args["SERVICE"]
			if arg == nil || bins[*arg] == "" {
				t.Fatalf("build arg SERVICE=%v: want one of the Dockerfile's %v", arg, slices.Sorted(composeKeys(services)))
			}
			if len(s.Entrypoint) > 0 {
				t.Errorf("entrypoint %v overrides the image's binary", s.Entrypoint)
			}
			// The subcommand words, then flags.
			var words []string
			args := []string(s.Command)
			for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				words, args = append(words, args[0]), args[1:]
			}
			if len(words) > 0 && *arg != "aspm" {
				t.Errorf("command %v: the service binaries take no arguments, only flags", s.Command)
			}
			acc := composeHelpOf(t, bins[*arg], words)
			settings := map[string]string{} // flag → value, from the command line and the environment
			for i := 0; i < len(args); i++ {
				a := args[i]
				if !strings.HasPrefix(a, "-") {
					t.Errorf("command %v: %q is not a flag", s.Command, a)
					continue
				}
				fname, val, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
				f, ok := acc.flags[fname]
				if !ok {
					t.Errorf("command flag %s: %s %v does not accept it", a, *arg, words)
					continue
				}
				if !inline && f.typ != "" {
					if i+1 == len(args) {
						t.Errorf("command flag %s has no value", a)
						continue
					}
					i++
					val = args[i]
				} else if !inline {
					val = "true"
				}
				if err := composeCheckValue(f.typ, val); err != nil {
					t.Errorf("command flag %s=%q: not of type %s: %v", fname, val, f.typ, err)
				}
				settings[fname] = val
			}
			for k, v := range s.Environment {
				flag, ok := acc.env[k]
				if !ok {
					t.Errorf("environment %s: %s %v reads no such variable", k, *arg, words)
					continue
				}
				if v == nil {
					t.Errorf("environment %s has no value", k)
					continue
				}
				if flag == "" {
					continue
				}
				if err := composeCheckValue(acc.flags[flag].typ, *v); err != nil {
					t.Errorf("environment %s=%q: not of type %s: %v", k, *v, acc.flags[flag].typ, err)
				}
				if _, set := settings[flag]; !set { // flags win over the environment
					settings[flag] = *v
				}
			}
			checkListen(t, s, acc, settings)
			checkDials(t, p, s, settings)
		})
	}
	if built < 4 {
		t.Errorf("%d services are built from this repository, want ingest, scorer, api and the seeder", built)
	}
	checkDemoWiring(t, p)
}

// checkListen checks that a service's published ports and health check reach its listen
// address.
func checkListen(t *testing.T, s types.ServiceConfig, acc composeCLI, settings map[string]string) {
	t.Helper()
	f, ok := acc.flags["listen"]
	if !ok {
		if len(s.Ports) > 0 {
			t.Errorf("ports %v published, but the binary listens on nothing", s.Ports)
		}
		if s.Restart != types.RestartPolicyNo {
			t.Errorf("restart %q: a binary that serves nothing is a one-shot: want restart \"no\"", s.Restart)
		}
		return
	}
	listen, set := settings["listen"]
	if !set {
		listen = f.def
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("listen %q: %v", listen, err)
	}
	for _, pc := range s.Ports {
		if strconv.Itoa(int(pc.Target)) != port {
			t.Errorf("publishes container port %d, but listens on %s", pc.Target, listen)
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("publishes port %d, but listens on %s, unreachable from outside the container", pc.Target, listen)
		}
	}
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 3 {
		t.Fatalf("healthcheck %v: a long-running service needs one", hc)
	}
	if hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/healthcheck" {
		t.Errorf("healthcheck %v: want [CMD /usr/local/bin/healthcheck URL] (the images have no shell)", hc.Test)
	}
	u, err := url.Parse(hc.Test[len(hc.Test)-1])
	if err != nil || u.Port() != port || (u.Path != "/readyz" && u.Path != "/healthz") {
		t.Errorf("healthcheck URL %s: want /readyz on the listen port %s", hc.Test[len(hc.Test)-1], port)
	}
}

var composeHostPort = regexp.MustCompile(`(?:^|[/=@,])([a-z][a-z0-9-]*):(\d+)\b`)

// checkDials checks that every HOST:PORT a service is given that names another compose service
// names a port that service serves, and that the service waits, directly or through others,
// for it to be healthy (or done, for a one-shot).
func checkDials(t *testing.T, p *types.Project, s types.ServiceConfig, settings map[string]string) {
	t.Helper()
	knownPorts := map[string][]string{"nats": {"4222", "8222"}, "clickhouse": {"9000", "8123"}, "registry": {"5000"}}
	for flag, v := range settings {
		for _, m := range composeHostPort.FindAllStringSubmatch(v, -1) {
			target, port := m[1], m[2]
			ts, ok := p.Services[target]
			if !ok {
				if target != "localhost" {
					t.Errorf("%s=%s names host %s, which is no service", flag, v, target)
				}
				continue
			}
			if ports, ok := knownPorts[target]; ok && !slices.Contains(ports, port) {
				t.Errorf("%s=%s: %s serves %v, not %s", flag, v, target, ports, port)
			}
			if ts.Build != nil {
				if l := ts.Environment["ASPM_LISTEN"]; l == nil || !strings.HasSuffix(*l, ":"+port) {
					t.Errorf("%s=%s: %s does not listen on port %s", flag, v, target, port)
				}
			}
			if !composeWaitsFor(p, s.Name, target, map[string]bool{}) {
				t.Errorf("%s=%s: %s does not wait (depends_on, healthy) for %s", flag, v, s.Name, target)
			}
		}
	}
}

// composeWaitsFor reports whether service from depends on target, directly or transitively, with a
// condition that waits for it to be ready.
func composeWaitsFor(p *types.Project, from, target string, seen map[string]bool) bool {
	if seen[from] {
		return false
	}
	seen[from] = true
	for dep, d := range p.Services[from].DependsOn {
		if d.Condition != types.ServiceConditionHealthy && d.Condition != types.ServiceConditionCompletedSuccessfully {
			continue
		}
		if dep == target || composeWaitsFor(p, dep, target, seen) {
			return true
		}
	}
	return false
}

// checkDemoWiring checks what the seeder and ingest must agree on: the registry, plain HTTP to
// it, and the trusted root and key, written by one and read by the other through a volume.
func checkDemoWiring(t *testing.T, p *types.Project) {
	t.Helper()
	seeder, ingest := p.Services["seeder"], p.Services["ingest"]
	opts := map[string]string{}
	for _, a := range seeder.Command {
		if k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "="); ok {
			opts[k] = v
		}
	}
	insecure := ""
	if v := ingest.Environment["ASPM_INSECURE_REGISTRY"]; v != nil {
		insecure = *v
	}
	if opts["registry"] == "" || insecure != opts["registry"] || !slices.Contains(seeder.Command, "--plain-http") {
		t.Errorf("the seeder pushes to %q (plain HTTP: %v); ingest reaches %q over plain HTTP",
			opts["registry"], slices.Contains(seeder.Command, "--plain-http"), insecure)
	}
	volumeAt := func(s types.ServiceConfig, path string) (types.ServiceVolumeConfig, bool) {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && (path == v.Target || strings.HasPrefix(path, v.Target+"/")) {
				return v, true
			}
		}
		return types.ServiceVolumeConfig{}, false
	}
	sv, ok := volumeAt(seeder, opts["trust-dir"])
	if !ok || sv.ReadOnly {
		t.Fatalf("the seeder's --trust-dir %q is on no writable volume", opts["trust-dir"])
	}
	for env, file := range map[string]string{"ASPM_TRUSTED_ROOT": "trusted_root.json", "ASPM_TRUSTED_KEY": "tekton-chains.pub"} {
		v := ingest.Environment[env]
		if v == nil {
			t.Errorf("ingest lacks %s", env)
			continue
		}
		_, path, _ := strings.Cut(*v, "=")
		iv, ok := volumeAt(ingest, path)
		if !ok || iv.Source != sv.Source || !iv.ReadOnly {
			t.Errorf("ingest's %s=%s is not on volume %s mounted read-only", env, *v, sv.Source)
			continue
		}
		if want := filepath.Join(iv.Target, strings.TrimPrefix(filepath.Join(opts["trust-dir"], file), sv.Target)); want != path {
			t.Errorf("ingest's %s reads %s; the seeder writes %s", env, path, want)
		}
	}
	if d, ok := ingest.DependsOn["seeder"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Error("ingest does not wait for the seeder to complete (it reads the trusted root the seeder writes)")
	}
	if tv, ok := volumeAt(seeder, opts["token-dir"]); !ok || tv.Source == sv.Source {
		t.Errorf("the seeder's --token-dir %q is not on a volume of its own (ingest must not see the tokens)", opts["token-dir"])
	}
	if api := p.Services["api"]; len(api.Ports) == 0 || !strings.HasSuffix(opts["dashboard-url"], ":"+api.Ports[0].Published) {
		t.Errorf("the seeder's --dashboard-url %q is not the api's published port", opts["dashboard-url"])
	}
}

func composeKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestComposeStructure checks what holds for every service: health checks on long-running
// services, depends_on conditions that wait, named volumes, read-only configuration mounts,
// and no unpinned images.
func TestComposeStructure(t *testing.T) {
	root := composeRepoRoot(t)
	p, err := loadCompose(t, composeTestEnv)
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	for _, want := range []string{"nats", "clickhouse", "registry", "ingest", "scorer", "api", "prometheus", "grafana", "seeder"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	used := map[string]bool{}
	for name, s := range p.Services {
		oneShot := s.Restart == types.RestartPolicyNo
		if !oneShot && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			t.Errorf("%s: long-running and without a health check", name)
		}
		if s.Build == nil {
			if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
				t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
			}
		}
		for dep, d := range s.DependsOn {
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if hc := p.Services[dep].HealthCheck; hc == nil || hc.Disable {
					t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if p.Services[dep].Restart != types.RestartPolicyNo {
					t.Errorf("%s waits for %s to complete, which is not a one-shot (restart \"no\")", name, dep)
				}
			default:
				t.Errorf("%s depends on %s with condition %q: want service_healthy or service_completed_successfully", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok || v.Source == "" {
					t.Errorf("%s: volume at %s is not a named volume", name, v.Target)
				}
				used[v.Source] = true
			case types.VolumeTypeBind:
				rel, err := filepath.Rel(root, v.Source)
				if err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s: bind mount %s is outside the repository", name, v.Source)
				} else if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount %s: %v", name, rel, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s: bind mount %s is writable: data goes into named volumes, configuration is read-only", name, v.Source)
				}
			default:
				t.Errorf("%s: %s mount at %s", name, v.Type, v.Target)
			}
		}
		for _, pc := range s.Ports {
			if pc.Published == "" {
				t.Errorf("%s: port %d published on a random host port", name, pc.Target)
			}
		}
	}
	for v := range p.Volumes {
		if !used[v] {
			t.Errorf("volume %s is used by no service", v)
		}
	}
	// NATS: JetStream with monitoring; its config file is the one in deploy/nats.
	nats := p.Services["nats"]
	conf, err := os.ReadFile(filepath.Join(root, "deploy", "nats", "jetstream.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "jetstream") || !strings.Contains(string(conf), "http_port: 8222") {
		t.Error("deploy/nats/jetstream.conf does not enable JetStream and monitoring on 8222")
	}
	if hc := strings.Join(nats.HealthCheck.Test, " "); !strings.Contains(hc, ":8222/healthz?js-enabled-only=true") {
		t.Errorf("nats health check %q does not ask for JetStream", hc)
	}
	// Grafana: the provisioned data source and dashboards, and the variables they expand.
	graf := p.Services["grafana"]
	targets := map[string]bool{}
	for _, v := range graf.Volumes {
		targets[v.Target] = true
	}
	if !targets["/etc/grafana/provisioning"] || !targets["/etc/grafana/dashboards/aspm"] {
		t.Errorf("grafana mounts %v: want the provisioning and the dashboards", targets)
	}
	ds, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "clickhouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+)\}`).FindAllStringSubmatch(uncommented(string(ds)), -1) {
		if graf.Environment[m[1]] == nil {
			t.Errorf("the ClickHouse data source expands ${%s}, which grafana's environment lacks", m[1])
		}
	}
}

// TestComposeNoSecrets checks that the file holds no secret: it does not load without the
// passwords from the environment (.env), the password-like variables hold references to it,
// and no value looks like a token or key.
func TestComposeNoSecrets(t *testing.T) {
	for _, missing := range []string{"ASPM_CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} {
		var env []string
		for _, e := range composeTestEnv {
			if !strings.HasPrefix(e, missing+"=") {
				env = append(env, e)
			}
		}
		if _, err := loadCompose(t, env); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("loads without %s (err %v): a default password would be a secret in the file", missing, err)
		}
	}
	// The uninterpolated model: what the file itself says.
	root := composeRepoRoot(t)
	po, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(nil), cli.WithInterpolation(false))
	if err != nil {
		t.Fatal(err)
	}
	model, err := po.LoadModel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	secretName := regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE)`)
	reference := regexp.MustCompile(`^\$\{[A-Z0-9_]+(:?\?[^}]*)?\}$`)
	tokenish := regexp.MustCompile(`aspm_[A-Za-z0-9_-]{16,}|-----BEGIN|[A-Fa-f0-9]{32,}|[A-Za-z0-9+/]{40,}={0,2}`)
	checked := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case string:
			// The loader resolves bind-mount sources to absolute paths under the checkout,
			// which may be long enough to look like base64.
			if tokenish.MatchString(strings.TrimPrefix(v, root)) {
				t.Errorf("%s = %q looks like a secret", path, v)
			}
			if strings.Contains(path, ".environment.") && secretName.MatchString(path[strings.LastIndex(path, ".")+1:]) {
				checked++
				if !reference.MatchString(v) {
					t.Errorf("%s = %q: a secret must be a ${VAR:?…} reference to .env, not a value", path, v)
				}
			}
		}
	}
	walk("", model)
	if checked < 4 {
		t.Errorf("checked %d password-like variables; the file has at least 4", checked)
	}
	// The example env file documents every variable the compose file requires.
	example, err := os.ReadFile(filepath.Join(root, "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::?[-?])?`).FindAllStringSubmatch(uncommented(string(raw)), -1) {
		if !regexp.MustCompile(`(?m)^#?\s*` + m[1] + `=`).Match(example) {
			t.Errorf("deploy/compose/.env.example does not document %s", m[1])
		}
	}
	for _, l := range strings.Split(string(example), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") && secretName.MatchString(k) && v != "" {
			t.Errorf(".env.example sets %s: an example must not carry a password", k)
		}
	}
}

// uncommented returns the lines of a YAML or env file that are not comments.
func uncommented(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
