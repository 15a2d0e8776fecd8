package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
)

func policiesDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "policies")
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		out    string // substring of stdout
		errOut string // substring of stderr
	}{
		{name: "version", args: []string{"version"}, code: cli.ExitOK, out: "aspm "},
		{name: "policy tests pass", args: []string{"policy", "test", policiesDir(t)}, code: cli.ExitOK, out: "PASS: "},
		{name: "policy test needs a directory", args: []string{"policy", "test", "/nonexistent"}, code: cli.ExitUsage, errOut: "not a directory"},
		{name: "unknown flag", args: []string{"up", "--no-such-flag"}, code: cli.ExitUsage, errOut: "unknown flag"},
		{name: "up without trust", args: []string{"up", "--data-dir", t.TempDir()}, code: cli.ExitUsage, errOut: "--trusted-root"},
		{name: "bad store", args: []string{"up", "--demo", "--store", "mysql"}, code: cli.ExitUsage, errOut: `--store "mysql"`},
		{name: "bad store from the environment", env: map[string]string{"ASPM_STORE": "mysql"}, args: []string{"up", "--demo"}, code: cli.ExitUsage, errOut: `--store "mysql"`},
		{name: "flag wins over environment", env: map[string]string{"ASPM_LOG_LEVEL": "loud"}, args: []string{"up", "--demo", "--log-level", "shout"}, code: cli.ExitUsage, errOut: `"shout"`},
		{name: "bad trusted key", args: []string{"up", "--trusted-key", "nokey"}, code: cli.ExitUsage, errOut: "NAME=PATH"},
		{name: "help teaches", args: []string{"up", "--help"}, code: cli.ExitOK, out: "aspm up --demo"},
		{name: "a misspelt command", args: []string{"verfiy"}, code: cli.ExitUsage, errOut: "did you mean verify?"},
		{name: "a misspelt subcommand", args: []string{"token", "lst"}, code: cli.ExitUsage, errOut: "did you mean list?"},
		{name: "a group prints its help", args: []string{"token"}, code: cli.ExitOK, out: "aspm token create --name pay-dashboard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.errOut) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr containing %q",
					code, out, errOut, tc.code, tc.out, tc.errOut)
			}
		})
	}
}

func TestPolicyTestFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.rego"), "package p\n\nallow := false\n")
	writeFile(t, filepath.Join(dir, "p_test.rego"), "package p_test\n\nimport data.p\n\ntest_allow if p.allow\n")
	code, out, errOut := run(t, "policy", "test", dir)
	if code != cli.ExitFailure || !strings.Contains(errOut, "1 failed") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 naming the failure", code, out, errOut)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
