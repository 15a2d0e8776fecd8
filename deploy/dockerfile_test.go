package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	cmd  string // upper case: FROM, RUN, …
	args string
	line int
}

// dockerStage is one FROM … stage.
type dockerStage struct {
	base, name string
	instrs     []dockerInstr
}

// composeRepoRoot is the repository root: this module is its deploy/ directory.
func composeRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// parseDockerfile splits the Dockerfile at path into stages; instructions before the first FROM
// (global ARGs) go into a stage with no base.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stages := []dockerStage{{}}
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := dockerStage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends in a continuation line", path)
	}
	return stages
}

func (s dockerStage) all(cmd string) []dockerInstr {
	var out []dockerInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// dockerServices parses the build stage's `case "$SERVICE" in` into SERVICE → Go package (with
// $SERVICE substituted), the binaries the Dockerfile can build.
func dockerServices(t *testing.T, build dockerStage) map[string]string {
	t.Helper()
	arm := regexp.MustCompile(`([a-z|]+)\)\s*pkg=(\S+)\s*;;`)
	out := map[string]string{}
	for _, in := range build.all("RUN") {
		if !strings.Contains(in.args, `case "$SERVICE" in`) {
			continue
		}
		for _, m := range arm.FindAllStringSubmatch(in.args, -1) {
			for _, svc := range strings.Split(m[1], "|") {
				out[svc] = strings.ReplaceAll(m[2], "$SERVICE", svc)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal(`the build stage has no RUN case "$SERVICE" in … pkg=… ;; choosing the binary`)
	}
	return out
}

// TestDockerfile checks the Dockerfile's structure: a Go build stage making static binaries
// of packages that exist, a minimal non-root runtime stage with OCI labels, and `make images`
// building every SERVICE it knows.
func TestDockerfile(t *testing.T) {
	root := composeRepoRoot(t)
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) < 3 { // globals + build + runtime
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages)-1)
	}
	build, runtime := stages[1], stages[len(stages)-1]

	if !strings.HasPrefix(build.base, "golang:") || build.name == "" {
		t.Errorf("first stage FROM %s AS %q: want a named golang stage", build.base, build.name)
	}
	env := strings.Join(instrArgs(build.all("ENV")), " ")
	if !strings.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build stage ENV %q lacks CGO_ENABLED=0 (static binaries)", env)
	}
	if !slices.Contains(instrArgs(build.all("ARG")), "SERVICE=api") && !slices.Contains(instrArgs(build.all("ARG")), "SERVICE") {
		t.Error("build stage lacks ARG SERVICE")
	}
	services := dockerServices(t, build)
	for _, want := range []string{"ingest", "scorer", "api", "aspm"} {
		if services[want] == "" {
			t.Errorf("SERVICE=%s is not built", want)
		}
	}
	pkgs := []string{"./deploy/compose/healthcheck"}
	for _, p := range services {
		pkgs = append(pkgs, p)
	}
	builds := strings.Join(instrArgs(build.all("RUN")), " ")
	if !strings.Contains(builds, `"$pkg"`) || !strings.Contains(builds, pkgs[0]) {
		t.Errorf("the build stage does not build the chosen $pkg and %s", pkgs[0])
	}
	// Every package the Dockerfile builds is a main package of this repository.
	cmd := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{.Name}}"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go list %v: %v\n%s", pkgs, err, out)
	} else {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(pkgs) {
			t.Errorf("go list found %d packages for %d paths:\n%s", len(lines), len(pkgs), out)
		}
		for _, l := range lines {
			if !strings.HasSuffix(l, " main") {
				t.Errorf("%s: not a main package", l)
			}
		}
	}

	// Runtime: minimal, non-root, exec-form entrypoint, binaries from the build stage.
	if !strings.Contains(runtime.base, "distroless/static") && runtime.base != "scratch" {
		t.Errorf("runtime FROM %s: want distroless static or scratch", runtime.base)
	}
	users := runtime.all("USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER: it would run as root")
	}
	user := users[len(users)-1].args
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %s: want a non-root user", user)
	}
	eps := runtime.all("ENTRYPOINT")
	var ep []string
	if len(eps) != 1 || json.Unmarshal([]byte(eps[0].args), &ep) != nil || len(ep) == 0 {
		t.Fatalf("runtime ENTRYPOINT %v: want one, in exec (JSON) form", eps)
	}
	copies := strings.Join(instrArgs(runtime.all("COPY")), "\n")
	if !strings.Contains(copies, "--from="+build.name) {
		t.Errorf("runtime COPY does not take the binaries from stage %s:\n%s", build.name, copies)
	}
	for _, bin := range []string{"/out/bin/app", "/out/bin/healthcheck"} {
		if !strings.Contains(builds, "-o "+bin) {
			t.Errorf("the build stage does not write %s, which the runtime stage copies", bin)
		}
	}
	if ep[0] != "/usr/local/bin/app" || !strings.Contains(copies, "/out/bin/ /usr/local/bin/") {
		t.Errorf("ENTRYPOINT %v does not run the binary copied to /usr/local/bin/app", ep)
	}

	// OCI labels.
	labels := map[string]string{}
	kv := regexp.MustCompile(`(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"`)
	for _, in := range runtime.all("LABEL") {
		for _, m := range kv.FindAllStringSubmatch(in.args, -1) {
			labels[m[1]] = m[2]
		}
	}
	for _, k := range []string{"title", "description", "source", "version", "revision", "created"} {
		if labels["org.opencontainers.image."+k] == "" {
			t.Errorf("runtime stage lacks LABEL org.opencontainers.image.%s", k)
		}
	}
	if !strings.Contains(labels["org.opencontainers.image.title"], "${SERVICE}") {
		t.Errorf("image title %q does not name the SERVICE", labels["org.opencontainers.image.title"])
	}
	runtimeArgs := instrArgs(runtime.all("ARG"))
	for _, a := range []string{"SERVICE", "VERSION", "REVISION", "CREATED"} {
		if !slices.ContainsFunc(runtimeArgs, func(s string) bool { return s == a || strings.HasPrefix(s, a+"=") }) {
			t.Errorf("runtime stage lacks ARG %s, which its labels use", a)
		}
	}

	// .dockerignore keeps secrets and VCS data out of the context.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", ".env", "bin"} {
		if !slices.Contains(strings.Split(string(ignore), "\n"), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}

	// make images builds every SERVICE.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE_SERVICES\s*:?=\s*(.+)$`).FindSubmatch(mk)
	if m == nil || !regexp.MustCompile(`(?m)^images:`).Match(mk) {
		t.Fatal("Makefile lacks the images target or IMAGE_SERVICES")
	}
	got := strings.Fields(string(m[1]))
	for svc := range services {
		if !slices.Contains(got, svc) {
			t.Errorf("make images does not build SERVICE=%s (IMAGE_SERVICES = %v)", svc, got)
		}
	}
}

func instrArgs(ins []dockerInstr) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.args)
	}
	return out
}
