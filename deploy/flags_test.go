package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/svcmain"
)

// binFlag is one flag of a service binary as its -h output lists it: Type is the word Go's
// flag package prints after the name ("string", "int", "duration", "float", "value", …), empty
// for a boolean flag.
type binFlag struct {
	Name, Type string
}

// binFlags holds a binary's flags by name.
type binFlags map[string]binFlag

// serviceCommands maps each service to the package of its binary, relative to the repository
// root.
var serviceCommands = map[string]string{
	"ingest": "./services/ingest/cmd/aspm-ingest",
	"scorer": "./services/scorer/cmd/aspm-scorer",
	"api":    "./services/api/cmd/aspm-api",
}

var (
	flagsMu    sync.Mutex
	flagsCache = map[string]binFlags{}
)

// mustServiceFlags builds the binary of service (ingest, scorer or api), runs it with -h and
// returns the flags it lists. Results are cached for the test binary's life, so every test
// may ask; the build goes to a temporary directory of tb.
func mustServiceFlags(tb testing.TB, service string) binFlags {
	tb.Helper()
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if f, ok := flagsCache[service]; ok {
		return f
	}
	pkg, ok := serviceCommands[service]
	if !ok {
		tb.Fatalf("no binary for service %q", service)
	}
	bin := filepath.Join(tb.TempDir(), "aspm-"+service)
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Dir = ".." // the repository root, inside go.work
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	tb.Logf("built %s in %s", pkg, time.Since(start).Round(time.Millisecond))
	var out bytes.Buffer
	help := exec.Command(bin, "-h")
	help.Stdout, help.Stderr = &out, &out
	err := help.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tb.Fatalf("running %s -h: %v", bin, err)
	}
	f, err := parseFlagUsage(out.String())
	if err != nil {
		tb.Fatalf("%s -h: %v\n%s", bin, err, out.String())
	}
	flagsCache[service] = f
	return f
}

// usageLine matches a flag line of Go's flag.PrintDefaults: "  -name type" or "  -name".
var usageLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9._-]*)(?: ([a-z0-9]+))?$`)

// parseFlagUsage reads the flags out of the -h output of a binary using Go's flag package.
func parseFlagUsage(out string) (binFlags, error) {
	flags := binFlags{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := usageLine.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = binFlag{Name: m[1], Type: m[2]}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(flags) == 0 {
		return nil, errors.New("no flags found in the usage output")
	}
	return flags, nil
}

// Env returns the flag whose ASPM_* environment variable is name, if any.
func (f binFlags) Env(name string) (binFlag, bool) {
	for _, fl := range f {
		if svcmain.EnvName(fl.Name) == name {
			return fl, true
		}
	}
	return binFlag{}, false
}

// Parse parses args as the binary would, with flags of the listed types, so that an unknown
// flag, a missing value or a value of the wrong type (a bad integer or duration) is an error.
func (f binFlags) Parse(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	for _, fl := range f {
		f.define(fs, fl)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// CheckValue reports whether value is valid for the flag, as its environment variable would be.
func (f binFlags) CheckValue(fl binFlag, value string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	f.define(fs, fl)
	return fs.Set(fl.Name, value)
}

// define adds fl to fs with a value of its listed type.
func (binFlags) define(fs *flag.FlagSet, fl binFlag) {
	switch fl.Type {
	case "":
		fs.Bool(fl.Name, false, "")
	case "int":
		fs.Int64(fl.Name, 0, "")
	case "uint":
		fs.Uint64(fl.Name, 0, "")
	case "float":
		fs.Float64(fl.Name, 0, "")
	case "duration":
		fs.Duration(fl.Name, 0, "")
	default: // string, value and names given in backquotes
		fs.String(fl.Name, "", "")
	}
}
