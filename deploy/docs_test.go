package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mvdan.cc/sh/v3/syntax"
	"sigs.k8s.io/yaml"

	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/policies"
)

// The documentation check (`make docs-check`): every command in a ```sh, ```bash, ```shell or
// ```console block of README.md and docs/**/*.md is parsed as a shell script and checked
// against the repository — aspm command lines against the real binary, service binaries
// against their flags, make targets against the Makefile, curl calls against the OpenAPI
// document, kubectl/kustomize/helm/docker/nats/clickhouse-client lines against the files,
// services and streams they name — and any other command must be in docsAllowed with a
// reason. Blocks marked <!-- docs-check: run --> are also run, in a scratch directory holding a
// copy of policies/ and with the aspm binary on PATH. Tables between <!-- generated: NAME -->
// and <!-- end generated --> are generated from the policies' data and the report mapping, so
// copied tables cannot drift: -update rewrites them.

var docsUpdate = flag.Bool("update", false, "rewrite the generated tables in docs/*.md from the policies and pkg/report")

// docsAllowed are the commands the docs may use that the check cannot test against the
// repository, each with the reason it is allowed. Paths they name under the repository's
// top-level directories are still checked to exist.
var docsAllowed = map[string]string{
	"cd":        "changes directory; the check follows it and checks the directory exists",
	"cp":        "copies files; paths into the repository are checked to exist",
	"mkdir":     "makes a directory",
	"rm":        "removes scratch files",
	"cat":       "prints a file",
	"chmod":     "restricts a secret file's mode",
	"echo":      "prints",
	"printf":    "prints",
	"sed":       "edits a copied file (.env, a policy copy)",
	"grep":      "filters output",
	"jq":        "reads a JSON answer",
	"sha256sum": "hashes a password for ClickHouse's users config",
	"cut":       "cuts sha256sum's output",
	"openssl":   "generates random passwords (openssl rand)",
	"date":      "names backup files",
	"tar":       "packs an OPA bundle",
	"git":       "clones the repository; the clone's directory is followed as the repository root",
	"go":        "the Go toolchain (go build, go test); paths into the repository are checked to exist",
	"clickhouse-backup": "Altinity's backup tool for current ClickHouse; not installed here " +
		"(its config file is the operator's)",
	":":      "the shell's no-op (while :)",
	"[":      "the shell's test",
	"break":  "leaves a shell loop",
	"tr":     "strips a carriage return from a header line",
	"source": "loads aspm's shell completion (aspm completion is checked as an aspm command)",
}

// docsPathPrefixes are the repository's top-level entries: an argument starting with one is a
// path into the repository, which must exist.
var docsPathPrefixes = []string{
	"deploy/", "docs/", "policies/", "pkg/", "services/", "cmd/", "scripts/",
	"docker-compose.yml", "Dockerfile", "Makefile", "go.work",
}

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	file string // relative to the repository root
	line int    // of the first line of the block's content
	lang string
	text string
	run  bool // marked <!-- docs-check: run -->
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var (
	docsFence     = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([\\w-]*)")
	docsRunMarker = regexp.MustCompile(`^<!--\s*docs-check:\s*run\s*-->\s*$`)
)

// docsFiles lists README.md and docs/**/*.md, relative to root.
func docsFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing docs/: %v", err)
	}
	return files
}

// parseDocBlocks returns the fenced code blocks of a Markdown document.
func parseDocBlocks(file, md string) ([]docBlock, error) {
	var blocks []docBlock
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		m := docsFence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence, lang := m[1], m[2], m[3]
		b := docBlock{file: file, line: i + 2, lang: lang}
		for j := i - 1; j >= 0 && j >= i-2; j-- { // the marker may be a line or two above
			if docsRunMarker.MatchString(strings.TrimSpace(lines[j])) {
				b.run = true
			}
		}
		var body []string
		j := i + 1
		for ; j < len(lines); j++ {
			if strings.HasPrefix(strings.TrimSpace(lines[j]), fence[:3]) && strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(lines[j]), fence[:1])) == "" {
				break
			}
			body = append(body, strings.TrimPrefix(lines[j], indent))
		}
		if j == len(lines) {
			return nil, fmt.Errorf("%s:%d: code block is never closed", file, i+1)
		}
		b.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
		i = j
	}
	return blocks, nil
}

// script returns the shell script of a block: all of it for sh/bash/shell, and for console
// the lines after "$ " (with their continuation lines).
func (b docBlock) script() string {
	if b.lang != "console" {
		return b.text
	}
	var out []string
	cont := false
	for _, l := range strings.Split(b.text, "\n") {
		switch {
		case cont:
			out = append(out, l)
		case strings.HasPrefix(l, "$ "):
			out = append(out, strings.TrimPrefix(l, "$ "))
		default:
			out = append(out, "") // output: keeps line numbers
			continue
		}
		cont = strings.HasSuffix(l, "\\")
	}
	return strings.Join(out, "\n")
}

// docWord is a shell word: its text with expansions ($X, $(…)) replaced by docsDyn, and
// whether it was all literal.
type docWord struct {
	text    string
	literal bool
}

// docsDyn stands for the value of an expansion in a docWord's text.
const docsDyn = "\x00"

// docsWordOf flattens w.
func docsWordOf(w *syntax.Word) docWord {
	var sb strings.Builder
	lit := true
	var parts func([]syntax.WordPart)
	parts = func(ps []syntax.WordPart) {
		for _, p := range ps {
			switch p := p.(type) {
			case *syntax.Lit:
				sb.WriteString(p.Value)
			case *syntax.SglQuoted:
				sb.WriteString(p.Value)
			case *syntax.DblQuoted:
				parts(p.Parts)
			default:
				sb.WriteString(docsDyn)
				lit = false
			}
		}
	}
	parts(w.Parts)
	return docWord{text: sb.String(), literal: lit}
}

// docCmd is one simple command of a block.
type docCmd struct {
	block docBlock
	line  int
	args  []docWord
	// stdin is the file redirected into the command, if any.
	stdin *docWord
	// dir is the working directory relative to the repository root ("." at the root); empty
	// when the block has changed to a directory outside the repository.
	dir string
}

func (c docCmd) String() string {
	ws := make([]string, len(c.args))
	for i, a := range c.args {
		ws[i] = strings.ReplaceAll(a.text, docsDyn, "$…")
	}
	return fmt.Sprintf("%s:%d: %s", c.block.file, c.line, strings.Join(ws, " "))
}

// docCommands parses a block's script and returns its simple commands in order, following cd.
func docCommands(b docBlock) ([]docCmd, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(b.script()), b.file)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid shell script: %w", b, err)
	}
	var cmds []docCmd
	dir := "."
	clones := map[string]bool{} // directories `git clone` made: the repository
	var stdin *docWord
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Stmt:
			stdin = nil
			for _, r := range n.Redirs {
				if r.Op == syntax.RdrIn && r.Word != nil {
					w := docsWordOf(r.Word)
					stdin = &w
				}
			}
		case *syntax.CallExpr:
			if len(n.Args) == 0 {
				return true
			}
			c := docCmd{block: b, line: b.line + int(n.Pos().Line()) - 1, stdin: stdin, dir: dir}
			stdin = nil
			for _, a := range n.Args {
				c.args = append(c.args, docsWordOf(a))
			}
			cmds = append(cmds, c)
			switch name := c.args[0].text; {
			case name == "git" && len(c.args) >= 3 && c.args[1].text == "clone":
				target := strings.TrimSuffix(path.Base(c.args[len(c.args)-1].text), ".git")
				clones[target] = true
			case name == "cd" && len(c.args) == 2 && c.args[1].literal:
				to := c.args[1].text
				switch {
				case clones[to]:
					dir = "."
				case dir == "" || filepath.IsAbs(to) || strings.HasPrefix(to, "~"):
					dir = ""
				default:
					dir = path.Clean(path.Join(dir, to))
					if dir == ".." || strings.HasPrefix(dir, "../") {
						dir = ""
					}
				}
			}
		}
		return true
	})
	return cmds, nil
}

// docsRepo is what the checks compare the docs with.
type docsRepo struct {
	root     string
	aspm     *aspmCLI
	make     map[string]bool
	openapi  *docsOpenAPI
	services map[string]bool // docker-compose.yml's services
	svcFlags map[string]binFlags
	streams  map[string]bool // JetStream streams (KV and object store ones included)
	buckets  map[string]bool // KV and object store buckets
	used     map[string]bool // the docsAllowed commands the docs use
}

// TestDocs checks every command of the docs (see the comment at the top of this file).
func TestDocs(t *testing.T) {
	root := composeRepoRoot(t)
	repo := &docsRepo{
		root:     root,
		aspm:     buildAspmCLI(t, root),
		make:     docsMakeTargets(t, filepath.Join(root, "Makefile")),
		openapi:  loadDocsOpenAPI(t, filepath.Join(root, "services/api/openapi.yaml")),
		services: docsComposeServices(t, filepath.Join(root, "docker-compose.yml")),
		used:     map[string]bool{},
	}
	repo.streams, repo.buckets = docsBusNames(t, filepath.Join(root, "pkg/bus/bus.go"))
	repo.svcFlags = map[string]binFlags{}
	for svc := range serviceCommands {
		repo.svcFlags[svc] = mustServiceFlags(t, svc)
	}

	var all []docBlock
	for _, f := range docsFiles(t, root) {
		md, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range docsCheckLinks(root, f, string(md)) {
			t.Error(err)
		}
		blocks, err := parseDocBlocks(f, string(md))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, blocks...)
	}
	checked := map[string]int{}
	for _, b := range all {
		switch b.lang {
		case "sh", "bash", "shell", "console":
		case "":
			// An untagged block that holds commands would escape the check: tag it.
			for _, l := range strings.Split(b.text, "\n") {
				w := strings.Fields(strings.TrimPrefix(l, "$ "))
				if len(w) > 0 && (strings.HasPrefix(l, "$ ") || docsCheckedCommand(w[0])) {
					t.Errorf("%s: a code block holding commands (%q) has no language: tag it ```sh (or ```text)", b, l)
					break
				}
			}
			continue
		default:
			continue
		}
		if b.run && b.lang != "sh" && b.lang != "bash" {
			t.Errorf("%s: only sh and bash blocks can be run", b)
		}
		cmds, err := docCommands(b)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, c := range cmds {
			kind, err := repo.check(c)
			if err != nil {
				t.Errorf("%s\n\t%v", c, err)
			}
			checked[kind]++
		}
	}
	t.Logf("commands checked, by kind: %v", checked)
	for name := range docsAllowed {
		if !repo.used[name] {
			t.Errorf("docsAllowed lists %q, which no doc uses: remove it", name)
		}
	}
	if checked["aspm"] == 0 || checked["curl"] == 0 || checked["make"] == 0 {
		t.Errorf("found too few commands (%v): is the block parser broken?", checked)
	}

	// The blocks to run, by file: a file's blocks run in order in one directory, as a reader
	// would type them.
	runs := map[string][]docBlock{}
	var files []string
	for _, b := range all {
		if b.run {
			if runs[b.file] == nil {
				files = append(files, b.file)
			}
			runs[b.file] = append(runs[b.file], b)
		}
	}
	for _, f := range files {
		t.Run("run "+f, func(t *testing.T) { runDocBlocks(t, repo, runs[f]) })
	}
}

// docsLink matches a Markdown link or image: [text](target) or ![alt](target).
var docsLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// docsCheckLinks checks that the relative links of a Markdown file name files of the
// repository.
func docsCheckLinks(root, file, md string) []error {
	var errs []error
	for i, line := range strings.Split(md, "\n") {
		for _, m := range docsLink.FindAllStringSubmatch(line, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(root, filepath.Dir(file), filepath.FromSlash(target))
			if _, err := os.Stat(p); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: the link to %s names no file of the repository", file, i+1, m[1]))
			}
		}
	}
	return errs
}

// docsCheckedCommand reports whether name is a command the check knows.
func docsCheckedCommand(name string) bool {
	if strings.HasSuffix(name, "/") { // a directory in a listing
		return false
	}
	switch path.Base(name) {
	case "aspm", "aspm-ingest", "aspm-scorer", "aspm-api", "make", "curl", "kubectl", "kustomize", "helm",
		"docker", "nats", "clickhouse-client":
		return true
	}
	_, ok := docsAllowed[name]
	return ok
}

// check checks one command and returns its kind.
func (r *docsRepo) check(c docCmd) (string, error) {
	name := c.args[0].text
	if !c.args[0].literal {
		return "", errors.New("the command name is not literal")
	}
	base := path.Base(name)
	args := c.args[1:]
	switch {
	case base == "aspm":
		return "aspm", r.aspm.check(c, args)
	case name == "go" && len(args) >= 2 && args[0].text == "run" && (args[1].text == "./cmd/aspm" || args[1].text == "github.com/aspmhq/aspm/cmd/aspm"):
		return "aspm", r.aspm.check(c, args[2:])
	case base == "aspm-ingest" || base == "aspm-scorer" || base == "aspm-api":
		return "service", r.checkService(c, strings.TrimPrefix(base, "aspm-"), args)
	case name == "make":
		return "make", r.checkMake(args)
	case name == "curl":
		return "curl", r.checkCurl(args)
	case name == "kubectl":
		return "kubectl", r.checkKubectl(c, args)
	case name == "kustomize":
		return "kustomize", r.checkKustomize(c, args)
	case name == "helm":
		return "helm", r.checkHelm(c, args)
	case name == "docker":
		return "docker", r.checkDocker(c, args)
	case name == "nats":
		return "nats", r.checkNats(c, args)
	case name == "clickhouse-client":
		return "clickhouse-client", r.checkClickHouseClient(c, args)
	}
	if _, ok := docsAllowed[name]; !ok {
		return "", fmt.Errorf("%q is neither a command the docs check knows nor in docsAllowed (deploy/docs_test.go): add it there with the reason it cannot be checked", name)
	}
	r.used[name] = true
	if name == "cd" && c.dir != "" && len(args) == 1 && args[0].literal {
		// A directory of the repository (not one an earlier command made) must exist.
		to := path.Join(c.dir, args[0].text)
		first, _, _ := strings.Cut(to, "/")
		if fi, err := os.Stat(filepath.Join(r.root, first)); err == nil && fi.IsDir() && first != "." {
			if fi, err := os.Stat(filepath.Join(r.root, to)); err != nil || !fi.IsDir() {
				return "allowed", fmt.Errorf("cd %s: no such directory in the repository", to)
			}
		}
	}
	return "allowed", r.checkRepoPaths(c, args)
}

// exists checks that p (relative to the command's directory) is in the repository.
func (r *docsRepo) exists(c docCmd, p string) error {
	if c.dir == "" || filepath.IsAbs(p) {
		return nil
	}
	full := filepath.Join(r.root, c.dir, p)
	if strings.ContainsAny(p, "*?[") {
		if m, _ := filepath.Glob(full); len(m) == 0 {
			return fmt.Errorf("%s matches no file in the repository", p)
		}
		return nil
	}
	if _, err := os.Stat(full); err != nil {
		return fmt.Errorf("%s does not exist in the repository (from %s)", p, c.dir)
	}
	return nil
}

// checkRepoPaths checks that literal arguments (and --flag=values) naming repository paths
// exist.
func (r *docsRepo) checkRepoPaths(c docCmd, args []docWord) error {
	var errs []error
	for _, a := range args {
		if !a.literal {
			continue
		}
		p := a.text
		if strings.HasPrefix(p, "-") {
			_, v, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			p = v
		}
		p = strings.TrimPrefix(p, "./")
		for _, pre := range docsPathPrefixes {
			if strings.HasPrefix(p, pre) {
				errs = append(errs, r.exists(c, p))
				break
			}
		}
	}
	if c.stdin != nil && c.stdin.literal {
		errs = append(errs, r.exists(c, c.stdin.text))
	}
	return errors.Join(errs...)
}

// --- aspm ---

// aspmCLI runs a freshly built aspm binary for its help, per command path.
type aspmCLI struct {
	bin  string
	mu   sync.Mutex
	help map[string]*aspmCommand
}

// aspmCommand is one cobra command as its --help describes it.
type aspmCommand struct {
	path     string
	subs     map[string]bool
	flags    map[string]aspmFlag // by long name and by shorthand
	runnable bool
}

// aspmFlag is one flag of an aspm command.
type aspmFlag struct {
	name   string
	isBool bool
}

var (
	aspmFlagLine = regexp.MustCompile(`^\s+(?:-(\w), )?--([\w.-]+)(\[=[^\]]*\])?(?: (\w+))?(?:\s{2,}|$)`)
	aspmSubLine  = regexp.MustCompile(`^  ([\w-]+)\s{2,}`)
)

// buildAspmCLI builds ./cmd/aspm into t's temporary directory.
func buildAspmCLI(t *testing.T, root string) *aspmCLI {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aspm")
	start := time.Now()
	build := exec.Command("go", "build", "-o", bin, "./cmd/aspm")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building aspm: %v\n%s", err, out)
	}
	t.Logf("built aspm in %s", time.Since(start).Round(time.Millisecond))
	return &aspmCLI{bin: bin, help: map[string]*aspmCommand{}}
}

// command returns the command at path (the words after aspm), from its --help.
func (a *aspmCLI) command(words []string) (*aspmCommand, error) {
	key := strings.Join(words, " ")
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.help[key]; ok {
		return c, nil
	}
	out, err := exec.Command(a.bin, append(slices.Clone(words), "--help")...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("aspm %s --help: %v\n%s", key, err, out)
	}
	c := &aspmCommand{path: strings.TrimSpace("aspm " + key), subs: map[string]bool{}, flags: map[string]aspmFlag{}}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasSuffix(l, ":") && !strings.HasPrefix(l, " ") {
			section = l
			continue
		}
		switch section {
		case "Usage:":
			if u := strings.TrimSpace(l); u != "" && !strings.HasSuffix(u, "[command]") {
				c.runnable = true
			}
		case "Available Commands:":
			if m := aspmSubLine.FindStringSubmatch(l); m != nil {
				c.subs[m[1]] = true
			}
		case "Flags:", "Global Flags:":
			if m := aspmFlagLine.FindStringSubmatch(l); m != nil {
				f := aspmFlag{name: m[2], isBool: m[3] != "" || m[4] == ""}
				c.flags[m[2]] = f
				if m[1] != "" {
					c.flags[m[1]] = f
				}
			}
		}
	}
	if len(c.flags) == 0 {
		return nil, fmt.Errorf("aspm %s --help lists no flags:\n%s", key, out)
	}
	a.help[key] = c
	return c, nil
}

// check checks an aspm command line: the subcommands exist, every flag is one the command
// has, and the binary accepts the line with --help added (flag values of the right type).
func (a *aspmCLI) check(c docCmd, args []docWord) error {
	var words []string
	cmd, err := a.command(nil)
	if err != nil {
		return err
	}
	var flags []string
	var positional []string
	help := false
	for i := 0; i < len(args); i++ {
		w := args[i].text
		switch {
		case w == "--":
			positional = append(positional, "--")
			i = len(args)
		case strings.HasPrefix(w, "-") && w != "-":
			name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if !strings.HasPrefix(w, "--") && len(name) > 1 { // -ojson
				name, hasValue = name[:1], true
			}
			if name == "help" || name == "h" {
				help = true
			}
			flags = append(flags, name)
			f, ok := cmd.flags[name]
			if !ok {
				return fmt.Errorf("%s has no flag %s (flags go after the subcommand)", cmd.path, w)
			}
			if !f.isBool && !hasValue {
				i++
				if i == len(args) {
					return fmt.Errorf("flag %s of %s needs a value", w, cmd.path)
				}
			}
		case len(positional) == 0 && cmd.subs[w]:
			words = append(words, w)
			if cmd, err = a.command(words); err != nil {
				return err
			}
		default:
			positional = append(positional, w)
		}
	}
	if len(cmd.subs) > 0 && !cmd.runnable && !help {
		if len(positional) > 0 {
			return fmt.Errorf("%s has no subcommand %q", cmd.path, positional[0])
		}
		return fmt.Errorf("%s needs a subcommand", cmd.path)
	}
	for _, f := range flags {
		if _, ok := cmd.flags[f]; !ok {
			return fmt.Errorf("%s has no flag --%s", cmd.path, f)
		}
	}
	// What the binary itself makes of the line: flag types and values are its own parser's.
	line := make([]string, 0, len(args)+1)
	for _, w := range args {
		line = append(line, strings.ReplaceAll(w.text, docsDyn, "x"))
	}
	out, err := exec.Command(a.bin, append(line, "--help")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("aspm %s --help: %v\n%s", strings.Join(line, " "), err, out)
	}
	return nil
}

// --- the service binaries ---

func (r *docsRepo) checkService(c docCmd, service string, args []docWord) error {
	flags := r.svcFlags[service]
	if flags == nil {
		return fmt.Errorf("no flags for service %s", service)
	}
	line := make([]string, len(args))
	for i, w := range args {
		line[i] = strings.ReplaceAll(w.text, docsDyn, "x")
	}
	// The services use Go's flag package, which takes --name as -name.
	if err := flags.Parse(line); err != nil {
		return fmt.Errorf("aspm-%s: %w", service, err)
	}
	return r.checkRepoPaths(c, args)
}

// --- make ---

var docsMakeTargetLine = regexp.MustCompile(`^([A-Za-z0-9_.-]+)\s*:([^=]|$)`)

// docsMakeTargets returns the targets of a Makefile.
func docsMakeTargets(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if m := docsMakeTargetLine.FindStringSubmatch(l); m != nil && !strings.HasPrefix(m[1], ".") {
			targets[m[1]] = true
		}
	}
	if len(targets) == 0 {
		t.Fatalf("%s: no targets", file)
	}
	return targets
}

func (r *docsRepo) checkMake(args []docWord) error {
	n := 0
	for _, a := range args {
		switch {
		case strings.HasPrefix(a.text, "-"):
			return fmt.Errorf("make %s: the check knows no make flags", a.text)
		case strings.Contains(a.text, "="): // VAR=value
		case !r.make[a.text]:
			return fmt.Errorf("the Makefile has no target %q", a.text)
		default:
			n++
		}
	}
	if n == 0 {
		return errors.New("name the make target (the default one is not documented)")
	}
	return nil
}

// --- curl ---

// docsOpenAPI is the OpenAPI document's operations: path template → method → query
// parameter names.
type docsOpenAPI struct {
	paths []docsPath
}

type docsPath struct {
	template string
	re       *regexp.Regexp
	methods  map[string]map[string]bool
}

// loadDocsOpenAPI reads services/api/openapi.yaml.
func loadDocsOpenAPI(t *testing.T, file string) *docsOpenAPI {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	api := &docsOpenAPI{}
	for tmpl, item := range doc.Paths {
		p := docsPath{template: tmpl, methods: map[string]map[string]bool{}}
		re := regexp.QuoteMeta(tmpl)
		re = regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(re, `[^/?]+`)
		p.re = regexp.MustCompile("^" + re + "$")
		for method, raw := range item {
			switch method {
			case "get", "post", "put", "patch", "delete", "head":
			default:
				continue
			}
			var op struct {
				Parameters []struct {
					Ref  string `json:"$ref"`
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %s %s: %v", file, method, tmpl, err)
			}
			query := map[string]bool{}
			for _, prm := range op.Parameters {
				if prm.Ref != "" {
					c := doc.Components.Parameters[strings.TrimPrefix(prm.Ref, "#/components/parameters/")]
					prm.Name, prm.In = c.Name, c.In
				}
				if prm.In == "query" {
					query[prm.Name] = true
				}
			}
			p.methods[strings.ToUpper(method)] = query
		}
		api.paths = append(api.paths, p)
	}
	if len(api.paths) < 10 {
		t.Fatalf("%s: only %d paths", file, len(api.paths))
	}
	return api
}

// docsCurlValueFlags are curl's options that take a value (the ones docs might use).
var docsCurlValueFlags = map[string]bool{
	"H": true, "header": true, "X": true, "request": true, "d": true, "data": true, "data-raw": true,
	"data-binary": true, "data-urlencode": true, "json": true, "o": true, "output": true, "u": true, "user": true,
	"w": true, "write-out": true, "m": true, "max-time": true, "connect-timeout": true, "retry": true,
	"cacert": true, "A": true, "user-agent": true, "e": true, "referer": true, "url": true, "T": true,
	"upload-file": true, "D": true, "dump-header": true,
}

// docsCurlBoolFlags are curl's options without a value that the docs may use; any other option is
// an error, so that one taking a value is never misread.
var docsCurlBoolFlags = map[string]bool{
	"s": true, "silent": true, "S": true, "show-error": true, "f": true, "fail": true, "fail-with-body": true,
	"i": true, "include": true, "v": true, "verbose": true, "k": true, "insecure": true, "L": true,
	"location": true, "I": true, "head": true, "compressed": true, "N": true, "no-buffer": true,
}

func (r *docsRepo) checkCurl(args []docWord) error {
	method, url := "", ""
	data, jsonType := false, false
	for i := 0; i < len(args); i++ {
		w := args[i].text
		if !strings.HasPrefix(w, "-") || w == "-" {
			if url == "" {
				url = w
			}
			continue
		}
		var names []string
		if strings.HasPrefix(w, "--") {
			names = []string{strings.TrimPrefix(w, "--")}
		} else {
			for _, ch := range w[1:] {
				names = append(names, string(ch))
			}
		}
		for _, n := range names {
			if !docsCurlValueFlags[n] && !docsCurlBoolFlags[n] {
				return fmt.Errorf("curl option %s is not one the docs check knows (docsCurlValueFlags, docsCurlBoolFlags)", w)
			}
		}
		last := names[len(names)-1]
		value := ""
		if docsCurlValueFlags[last] {
			i++
			if i == len(args) {
				return fmt.Errorf("curl %s needs a value", w)
			}
			value = args[i].text
		}
		switch last {
		case "X", "request":
			method = value
		case "d", "data", "data-raw", "data-binary":
			data = true
		case "json":
			data, jsonType = true, true
		case "H", "header":
			if k, v, ok := strings.Cut(value, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "content-type") &&
				strings.HasPrefix(strings.TrimSpace(v), "application/json") {
				jsonType = true
			}
		case "I", "head":
			method = "HEAD"
		case "url":
			url = value
		}
	}
	if url == "" {
		return errors.New("curl without a URL")
	}
	if method == "" {
		method = "GET"
		if data {
			method = "POST"
		}
	}
	if data && !jsonType {
		return errors.New("curl sends a body without Content-Type: application/json (curl -d sends a form type, which the API refuses with 415): add -H 'Content-Type: application/json' or use --json")
	}
	p := url
	if _, rest, ok := strings.Cut(p, "://"); ok {
		if i := strings.Index(rest, "/"); i >= 0 {
			p = rest[i:]
		} else {
			p = "/"
		}
	} else if i := strings.LastIndex(p, docsDyn); i >= 0 {
		p = p[i+1:]
	}
	p, query, _ := strings.Cut(p, "?")
	if strings.Contains(p, docsDyn) {
		return fmt.Errorf("curl %s: the path is not literal", url)
	}
	// The most specific template that matches: /v1/artifacts/{digest}:rescan before
	// /v1/artifacts/{digest}, whose parameter would match "sha256:…:rescan" too.
	var match *docsPath
	for i, op := range r.openapi.paths {
		if op.re.MatchString(p) && (match == nil || len(op.template) > len(match.template)) {
			match = &r.openapi.paths[i]
		}
	}
	if op := match; op != nil {
		params, ok := op.methods[method]
		if !ok {
			return fmt.Errorf("%s %s: the OpenAPI document has no %s on %s", method, p, method, op.template)
		}
		for _, kv := range strings.Split(query, "&") {
			if k, _, _ := strings.Cut(kv, "="); k != "" && !params[k] {
				return fmt.Errorf("%s %s: %s has no query parameter %q", method, p, op.template, k)
			}
		}
		return nil
	}
	return fmt.Errorf("%s %s: no path of services/api/openapi.yaml matches", method, p)
}

// --- kubectl, kustomize, helm ---

// docsFlagValues returns the values of the given flags (long or short names, without dashes).
func docsFlagValues(args []docWord, names ...string) []docWord {
	var out []docWord
	for i := 0; i < len(args); i++ {
		w := args[i].text
		if !strings.HasPrefix(w, "-") {
			continue
		}
		name, v, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !slices.Contains(names, name) {
			continue
		}
		if hasValue {
			out = append(out, docWord{text: v, literal: args[i].literal})
		} else if i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

func (r *docsRepo) checkKubectl(c docCmd, args []docWord) error {
	var errs []error
	for _, v := range docsFlagValues(args, "f", "filename", "k", "kustomize") {
		if v.literal && v.text != "-" && !strings.Contains(v.text, "://") {
			errs = append(errs, r.exists(c, v.text))
		}
	}
	for _, v := range docsFlagValues(args, "k", "kustomize") {
		if v.literal {
			errs = append(errs, r.exists(c, path.Join(v.text, "kustomization.yaml")))
		}
	}
	for _, v := range docsFlagValues(args, "from-file", "from-env-file") {
		_, file, ok := strings.Cut(v.text, "=") // key=file
		if !ok {
			file = v.text
		}
		if v.literal && slices.ContainsFunc(docsPathPrefixes, func(p string) bool { return strings.HasPrefix(file, p) }) {
			errs = append(errs, r.exists(c, file))
		}
	}
	if c.stdin != nil && c.stdin.literal {
		errs = append(errs, r.exists(c, c.stdin.text))
	}
	return errors.Join(errs...)
}

func (r *docsRepo) checkKustomize(c docCmd, args []docWord) error {
	if len(args) == 0 {
		return errors.New("kustomize without a command")
	}
	switch args[0].text {
	case "build":
		for _, a := range args[1:] {
			if !strings.HasPrefix(a.text, "-") && a.literal {
				return r.exists(c, path.Join(a.text, "kustomization.yaml"))
			}
		}
		return r.exists(c, "kustomization.yaml")
	case "edit":
		return r.exists(c, "kustomization.yaml")
	}
	return fmt.Errorf("kustomize %s: the check knows build and edit", args[0].text)
}

func (r *docsRepo) checkHelm(c docCmd, args []docWord) error {
	var errs []error
	for _, v := range docsFlagValues(args, "f", "values") {
		if v.literal && !strings.Contains(v.text, "://") {
			errs = append(errs, r.exists(c, v.text))
		}
	}
	return errors.Join(errs...)
}

// --- docker ---

// docsComposeServices returns the services of docker-compose.yml.
func docsComposeServices(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]json.RawMessage `json:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[string]bool{}
	for s := range doc.Services {
		out[s] = true
	}
	return out
}

// docsComposeSubcommands are the docker compose subcommands whose arguments are service names.
var docsComposeSubcommands = map[string]bool{
	"up": true, "down": false, "logs": true, "ps": true, "restart": true, "stop": true, "start": true,
	"pull": true, "build": true, "config": false, "exec": true, "run": true, "cp": true, "rm": true, "top": true,
}

// docsComposeValueFlags are docker compose options (global and of its subcommands) that take a value.
var docsComposeValueFlags = map[string]bool{
	"f": true, "file": true, "p": true, "project-name": true, "profile": true, "env-file": true,
	"tail": true, "timeout": true, "t": true, "scale": true, "u": true, "user": true, "w": true, "workdir": true,
	"e": true, "env": true, "index": true, "since": true, "until": true, "wait-timeout": true,
}

func (r *docsRepo) checkDocker(c docCmd, args []docWord) error {
	if len(args) == 0 {
		return errors.New("docker without a command")
	}
	switch args[0].text {
	case "compose":
		return r.checkCompose(c, args[1:])
	case "build":
		var errs []error
		for _, v := range docsFlagValues(args[1:], "f", "file") {
			if v.literal {
				errs = append(errs, r.exists(c, v.text))
			}
		}
		last := args[len(args)-1]
		if last.literal && !strings.HasPrefix(last.text, "-") {
			errs = append(errs, r.exists(c, path.Join(last.text, "Dockerfile")))
		}
		return errors.Join(errs...)
	case "push", "pull", "tag", "info", "login", "run":
		return nil
	}
	return fmt.Errorf("docker %s: the check knows compose, build, push, pull, tag, info, login and run", args[0].text)
}

func (r *docsRepo) checkCompose(c docCmd, args []docWord) error {
	var errs []error
	files := docsFlagValues(args, "f", "file")
	for _, v := range files {
		if v.literal {
			errs = append(errs, r.exists(c, v.text))
		}
	}
	if len(files) == 0 {
		errs = append(errs, r.exists(c, "docker-compose.yml"))
	}
	sub := ""
	for i := 0; i < len(args); i++ {
		w := args[i].text
		if strings.HasPrefix(w, "-") {
			if name := strings.TrimLeft(w, "-"); docsComposeValueFlags[name] && !strings.Contains(w, "=") {
				i++
			}
			continue
		}
		if sub == "" {
			sub = w
			if _, ok := docsComposeSubcommands[sub]; !ok {
				errs = append(errs, fmt.Errorf("docker compose %s: the check does not know this subcommand", sub))
				break
			}
			if sub == "exec" || sub == "run" { // SERVICE COMMAND…: only the service is ours
				for j := i + 1; j < len(args); j++ {
					if !strings.HasPrefix(args[j].text, "-") {
						if !r.services[args[j].text] {
							errs = append(errs, fmt.Errorf("docker-compose.yml has no service %q", args[j].text))
						}
						break
					}
				}
				break
			}
			continue
		}
		if !docsComposeSubcommands[sub] {
			continue
		}
		svc := w
		if sub == "cp" {
			s, _, ok := strings.Cut(w, ":")
			if !ok {
				continue // the local side
			}
			svc = s
		}
		if !r.services[svc] {
			errs = append(errs, fmt.Errorf("docker-compose.yml has no service %q", svc))
		}
	}
	return errors.Join(errs...)
}

// --- nats, clickhouse-client ---

var docsBusConst = regexp.MustCompile(`\b(Stream|Bucket|ObjectStore)\w*\s*=\s*"([^"]+)"`)

// docsBusNames reads the JetStream stream and bucket names from pkg/bus (their constants), with
// the streams JetStream keeps KV buckets (KV_name) and object stores (OBJ_name) in.
func docsBusNames(t *testing.T, file string) (streams, buckets map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	streams, buckets = map[string]bool{}, map[string]bool{}
	for _, m := range docsBusConst.FindAllStringSubmatch(string(b), -1) {
		switch m[1] {
		case "Stream":
			streams[m[2]] = true
		case "Bucket":
			buckets[m[2]] = true
			streams["KV_"+m[2]] = true
		case "ObjectStore":
			buckets[m[2]] = true
			streams["OBJ_"+m[2]] = true
		}
	}
	if len(streams) < 2 || len(buckets) < 2 {
		t.Fatalf("%s: found streams %v and buckets %v", file, streams, buckets)
	}
	return streams, buckets
}

// docsNatsValueFlags are nats CLI options that take a value.
var docsNatsValueFlags = map[string]bool{"s": true, "server": true, "creds": true, "context": true, "user": true, "password": true}

func (r *docsRepo) checkNats(c docCmd, args []docWord) error {
	var words []docWord
	for i := 0; i < len(args); i++ {
		w := args[i].text
		if strings.HasPrefix(w, "-") {
			if docsNatsValueFlags[strings.TrimLeft(w, "-")] && !strings.Contains(w, "=") {
				i++
			}
			continue
		}
		words = append(words, args[i])
	}
	if len(words) < 2 {
		return nil // nats server check, nats account info, …
	}
	name := func(i int) (string, bool) {
		if i < len(words) && words[i].literal {
			return words[i].text, true
		}
		return "", false
	}
	switch words[0].text + " " + words[1].text {
	case "stream backup", "stream info", "stream view", "stream report", "stream restore", "stream ls":
		if words[1].text == "restore" || words[1].text == "ls" || words[1].text == "report" {
			return nil
		}
		if s, ok := name(2); ok && !r.streams[s] {
			return fmt.Errorf("no JetStream stream %q (pkg/bus makes %v)", s, docsSorted(r.streams))
		}
	case "kv ls", "kv get", "kv status", "kv history", "object ls", "object info", "object get":
		if s, ok := name(2); ok && !r.buckets[s] {
			return fmt.Errorf("no bucket %q (pkg/bus makes %v)", s, docsSorted(r.buckets))
		}
	}
	return nil
}

func (r *docsRepo) checkClickHouseClient(c docCmd, args []docWord) error {
	var errs []error
	for _, v := range docsFlagValues(args, "queries-file") {
		if v.literal {
			errs = append(errs, r.exists(c, v.text))
		}
	}
	if c.stdin != nil && c.stdin.literal {
		errs = append(errs, r.exists(c, c.stdin.text))
	}
	return errors.Join(errs...)
}

func docsSorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// --- running blocks ---

// runDocBlocks runs blocks marked <!-- docs-check: run --> of one file in order with bash, in
// one scratch directory holding a copy of policies/, with aspm on PATH, and requires each to
// succeed.
func runDocBlocks(t *testing.T, repo *docsRepo, blocks []docBlock) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "policies"), os.DirFS(filepath.Join(repo.root, "policies"))); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(repo.aspm.bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	for _, b := range blocks {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", b.text)
		cmd.Dir = dir
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: the block failed: %v\n%s", b, err, out)
		}
		t.Logf("%s: ran in %s:\n%s", b, time.Since(start).Round(time.Millisecond), out)
	}
}

// --- generated tables ---

var docsGenerated = regexp.MustCompile(`(?s)(<!-- generated: ([\w-]+) [^\n]*-->\n)(.*?)(<!-- end generated -->)`)

// TestDocsGenerated checks the tables the docs copy from the policies' data and the report
// mapping; go test -run TestDocsGenerated -update rewrites them.
func TestDocsGenerated(t *testing.T) {
	root := composeRepoRoot(t)
	tables, err := docsTables()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, f := range docsFiles(t, root) {
		file := filepath.Join(root, f)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var errs []string
		out := docsGenerated.ReplaceAllStringFunc(string(b), func(s string) string {
			m := docsGenerated.FindStringSubmatch(s)
			name := m[2]
			want, ok := tables[name]
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: no generated table %q", f, name))
				return s
			}
			used[name] = true
			if m[3] != want {
				errs = append(errs, fmt.Sprintf("%s: table %q is not what the policies and pkg/report give (run go test -run TestDocsGenerated -update in deploy/):\n--- in the file\n%s--- generated\n%s", f, name, m[3], want))
			}
			return m[1] + want + m[4]
		})
		if *docsUpdate {
			if out != string(b) {
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		for _, e := range errs {
			t.Error(e)
		}
	}
	for name := range tables {
		if !used[name] {
			t.Errorf("the docs hold no generated table %q", name)
		}
	}
}

// docsTables makes each generated table from the sources of truth.
func docsTables() (map[string]string, error) {
	m, err := report.LoadMapping(policies.FS)
	if err != nil {
		return nil, err
	}
	var data struct {
		ASPM struct {
			TrustedBuilders []struct {
				ID       string `json:"id"`
				Name     string `json:"name"`
				Source   string `json:"source"`
				MaxLevel int    `json:"max_level"`
				Signer   struct {
					Keyless *struct {
						Issuer          string `json:"issuer"`
						IdentityPattern string `json:"identity_pattern"`
					} `json:"keyless"`
					Key *struct {
						Keys []string `json:"keys"`
					} `json:"key"`
				} `json:"signer"`
				RequiresHostedRunner bool `json:"requires_hosted_runner"`
			} `json:"trusted_builders"`
			Environments map[string]struct {
				MinLevel    int     `json:"min_level"`
				RequireSBOM bool    `json:"require_sbom"`
				Weight      float64 `json:"weight"`
			} `json:"environments"`
			SeverityPoints map[string]int `json:"severity_points"`
		} `json:"aspm"`
	}
	for _, f := range []string{"data/trusted_builders.json", "data/environments.json", "data/gap_catalogue.json"} {
		b, err := fs.ReadFile(policies.FS, f)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &data); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	codes := func(cs []string) string {
		if len(cs) == 0 {
			return "—"
		}
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = "`" + c + "`"
		}
		return strings.Join(out, ", ")
	}
	tables := map[string]string{}

	var sb strings.Builder
	sb.WriteString("| code | severity | what it means | SSDF | SP 800-53 |\n| --- | --- | --- | --- | --- |\n")
	catCodes := make([]string, 0, len(m.Catalogue))
	for c := range m.Catalogue {
		catCodes = append(catCodes, c)
	}
	sort.Strings(catCodes)
	for _, c := range catCodes {
		g := m.Catalogue[c]
		fmt.Fprintf(&sb, "| `%s` | %s (%d) | %s | %s | %s |\n", c, g.Severity, data.ASPM.SeverityPoints[g.Severity],
			cell(g.Title), strings.Join(g.SSDF, ", "), strings.Join(g.SP80053, ", "))
	}
	tables["gap-catalogue"] = sb.String()

	sb.Reset()
	sb.WriteString("| id | build platform | up to | signer | hosted runner required |\n| --- | --- | --- | --- | --- |\n")
	for _, b := range data.ASPM.TrustedBuilders {
		signer := ""
		switch {
		case b.Signer.Keyless != nil:
			signer = fmt.Sprintf("keyless, issuer `%s`", b.Signer.Keyless.Issuer)
		case b.Signer.Key != nil:
			signer = "key " + codes(b.Signer.Key.Keys)
		}
		hosted := "no"
		if b.RequiresHostedRunner {
			hosted = "yes"
		}
		fmt.Fprintf(&sb, "| `%s` | [%s](%s) | L%d | %s | %s |\n", b.ID, cell(b.Name), b.Source, b.MaxLevel, signer, hosted)
	}
	tables["trusted-builders"] = sb.String()

	sb.Reset()
	sb.WriteString("| environment | minimum SLSA level | SBOM required | risk weight |\n| --- | --- | --- | --- |\n")
	envs := make([]string, 0, len(data.ASPM.Environments))
	for e := range data.ASPM.Environments {
		envs = append(envs, e)
	}
	sort.Slice(envs, func(i, j int) bool {
		ei, ej := data.ASPM.Environments[envs[i]], data.ASPM.Environments[envs[j]]
		if (envs[i] == "default") != (envs[j] == "default") {
			return envs[j] == "default"
		}
		if ei.MinLevel != ej.MinLevel {
			return ei.MinLevel > ej.MinLevel
		}
		return envs[i] < envs[j]
	})
	for _, e := range envs {
		v := data.ASPM.Environments[e]
		sbom := "no"
		if v.RequireSBOM {
			sbom = "yes"
		}
		fmt.Fprintf(&sb, "| `%s` | L%d | %s | %g |\n", e, v.MinLevel, sbom, v.Weight)
	}
	tables["environments"] = sb.String()

	requirements := func(reqs []report.Requirement, baselines bool) string {
		var sb strings.Builder
		if baselines {
			sb.WriteString("| control | name | FedRAMP baselines | evidenced by the absence (or acceptance) of | and the rules | evidence counted |\n| --- | --- | --- | --- | --- | --- |\n")
		} else {
			sb.WriteString("| task | what it asks | evidenced by the absence (or acceptance) of | and the rules | evidence counted |\n| --- | --- | --- | --- | --- |\n")
		}
		for _, r := range reqs {
			kinds := make([]string, len(r.Kinds))
			for i, k := range r.Kinds {
				kinds[i] = string(k)
			}
			row := []string{"**" + r.ID + "**", cell(r.Title)}
			if baselines {
				b := strings.Join(r.Baselines, ", ")
				if b == "" {
					b = "—"
				}
				row = append(row, b)
			}
			row = append(row, codes(r.Codes), codes(r.Rules), strings.Join(kinds, ", "))
			sb.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		return sb.String()
	}
	tables["compliance-ssdf"] = requirements(m.SSDF, false)
	tables["compliance-sp800-53"] = requirements(m.SP80053, true)

	sb.Reset()
	sb.WriteString("| rule | holds when | an exception for this code also accepts it |\n| --- | --- | --- |\n")
	rules := make([]string, 0, len(m.Rules))
	for r := range m.Rules {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		acc := m.Rules[r].AcceptedBy
		if acc == "" {
			acc = "—"
		} else {
			acc = "`" + acc + "`"
		}
		fmt.Fprintf(&sb, "| `%s` | %s | %s |\n", r, cell(m.Rules[r].Text), acc)
	}
	tables["compliance-rules"] = sb.String()

	// References in the catalogue that no report assesses.
	sb.Reset()
	for _, fw := range []struct {
		name string
		reqs []report.Requirement
		refs func(report.GapSummary) []string
	}{
		{"SSDF", m.SSDF, func(g report.GapSummary) []string { return g.SSDF }},
		{"SP 800-53", m.SP80053, func(g report.GapSummary) []string { return g.SP80053 }},
	} {
		assessed := map[string]bool{}
		for _, r := range fw.reqs {
			assessed[r.ID] = true
		}
		named := map[string][]string{}
		for _, c := range catCodes {
			for _, id := range fw.refs(m.Catalogue[c]) {
				if !assessed[id] {
					named[id] = append(named[id], c)
				}
			}
		}
		ids := make([]string, 0, len(named))
		for id := range named {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(&sb, "- %s **%s**, named by %s\n", fw.name, id, codes(named[id]))
		}
	}
	tables["compliance-unassessed"] = sb.String()
	return tables, nil
}
