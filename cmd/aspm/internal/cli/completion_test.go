package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
)

// TestCompletionScripts: aspm completion prints a script for each shell; bash accepts the
// bash one and it registers the completion of aspm, through aspm __complete.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := run(t, "completion", shell)
		if code != cli.ExitOK || !strings.Contains(out, "aspm") || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
	_, script, _ := run(t, "completion", "bash")
	if !strings.Contains(script, "__start_aspm") {
		t.Fatalf("the bash script defines no __start_aspm:\n%.400s", script)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bash is needed to check the bash completion script")
		}
		t.Skip("no bash")
	}
	path := filepath.Join(t.TempDir(), "aspm.bash")
	writeFile(t, path, script)
	out, err := exec.Command(bash, "-c", "source "+path+" && complete -p aspm").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "__start_aspm") || !strings.Contains(string(out), "aspm") {
		t.Errorf("sourcing the bash script: %v\n%s", err, out)
	}
}

// TestCompletions asks what the shell scripts ask, aspm __complete ARGS…, and checks the
// subcommands, the enumerated flags' values and the directive (4: no file names; 16:
// directories only).
func TestCompletions(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want      []string
		directive string
	}{
		{[]string{""}, []string{"up", "verify", "scan", "policy", "token", "exception", "report", "demo", "bench", "version", "completion"}, ":4"},
		{[]string{"token", ""}, []string{"create", "list", "revoke"}, ":4"},
		{[]string{"report", ""}, []string{"ssdf", "fedramp"}, ":4"},
		{[]string{"token", "list", "-o", ""}, []string{"table", "text", "json", "yaml"}, ":4"},
		{[]string{"verify", "--output", ""}, []string{"table", "text", "json", "yaml"}, ":4"},
		{[]string{"up", "--store", ""}, []string{"sqlite", "clickhouse"}, ":4"},
		{[]string{"up", "--log-level", ""}, []string{"debug", "info", "warn", "error"}, ":4"},
		{[]string{"report", "ssdf", "--format", ""}, []string{"json", "csv", "html", "oscal-ar", "oscal-ap", "oscal-poam"}, ":4"},
		{[]string{"exception", "list", "--state", ""}, []string{"active", "expired", "revoked", "all"}, ":4"},
		{[]string{"token", "create", "--scope", ""}, []string{"read", "write", "admin"}, ":4"},
		{[]string{"policy", "test", ""}, nil, ":16"},
		{[]string{"token", "list", "--data-dir", ""}, nil, ":16"},
		{[]string{"version", ""}, nil, ":4"},
	} {
		code, out, errOut := run(t, append([]string{"__complete"}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var got []string
		for _, l := range lines[:len(lines)-1] {
			name, _, _ := strings.Cut(l, "\t")
			got = append(got, name)
		}
		missing := slices.DeleteFunc(slices.Clone(tc.want), func(w string) bool { return slices.Contains(got, w) })
		if code != cli.ExitOK || len(missing) > 0 || lines[len(lines)-1] != tc.directive || (tc.want == nil && len(got) > 0) {
			t.Errorf("__complete %q: exit %d, completions %q (missing %q), last line %q (want %s), stderr %q",
				tc.args, code, got, missing, lines[len(lines)-1], tc.directive, errOut)
		}
	}
}

// TestCompletionsFromTheStore: the ID arguments complete with the IDs in the store the
// command's flags (or its environment and config file) name.
func TestCompletionsFromTheStore(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data := newStore(t)
	code, tokenID, errOut := run(t, "token", "create", "--data-dir", data, "--name", "ci", "--org", "acme", "-o", "json")
	if code != 0 {
		t.Fatal(errOut)
	}
	code, excID, errOut := run(t, "exception", "create", "--data-dir", data, "--org", "acme", "--code", "sbom.missing",
		"--env", "dev", "--reason", "Q3", "--owner", "alice", "--ttl", "30d")
	if code != 0 {
		t.Fatal(errOut)
	}
	excID = strings.TrimSpace(excID)
	_, tokenID, _ = strings.Cut(tokenID, `"id": "`)
	tokenID, _, _ = strings.Cut(tokenID, `"`)

	_, out, _ := run(t, "__complete", "token", "revoke", "--data-dir", data, "")
	if !strings.Contains(out, tokenID+"\tci, org acme\n") || !strings.HasSuffix(out, ":4\n") {
		t.Errorf("token revoke completes %q, want %s", out, tokenID)
	}
	t.Setenv("ASPM_DATA_DIR", data)
	for _, sub := range []string{"show", "renew", "revoke"} {
		_, out, _ = run(t, "__complete", "exception", sub, "")
		if !strings.Contains(out, excID+"\tsbom.missing for env dev in acme\n") {
			t.Errorf("exception %s completes %q, want %s", sub, out, excID)
		}
	}
	// A second argument, or no store, completes nothing, and no file names.
	for _, args := range [][]string{{"exception", "show", excID, ""}, {"token", "revoke", "--data-dir", t.TempDir(), ""}} {
		if _, out, _ = run(t, append([]string{"__complete"}, args...)...); out != ":4\n" {
			t.Errorf("__complete %q: %q, want nothing", args, out)
		}
	}
}
