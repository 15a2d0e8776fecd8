package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

// newStore makes an empty SQLite store in a fresh data directory and returns the directory.
func newStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "aspm.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return dir
}

// writeConfig writes a config file into a fresh directory and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, yaml)
	return path
}

// TestConfigPrecedence: one order for every flag — the command line, then ASPM_*, then the
// config file's section for the command, then its top level, then the default. aspm up
// names the --store it was given when the value is wrong, which shows which one won.
func TestConfigPrecedence(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	top := "store: from-top\n"
	section := "up:\n  store: from-section\n"
	for _, tc := range []struct {
		name   string
		config string
		env    string
		flag   string
		want   string
	}{
		{name: "the top level", config: top, want: "from-top"},
		{name: "the command's section over the top level", config: top + section, want: "from-section"},
		{name: "the environment over the file", config: top + section, env: "from-env", want: "from-env"},
		{name: "the flag over everything", config: top + section, env: "from-env", flag: "from-flag", want: "from-flag"},
		{name: "the flag over the file", config: top + section, flag: "from-flag", want: "from-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"up", "--demo", "--data-dir", t.TempDir(), "--config", writeConfig(t, tc.config)}
			if tc.env != "" {
				t.Setenv("ASPM_STORE", tc.env)
			}
			if tc.flag != "" {
				args = append(args, "--store", tc.flag)
			}
			code, _, errOut := run(t, args...)
			if code != cli.ExitUsage || !strings.Contains(errOut, `--store "`+tc.want+`"`) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming --store %q", code, errOut, tc.want)
			}
		})
	}
}

// TestConfigSetsFlags: values from the file take effect — a shared top-level key, a
// command's section, a list for a repeatable flag — and an output format from the file.
func TestConfigSetsFlags(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data := newStore(t)
	path := writeConfig(t, `# shared by every store command
data-dir: `+data+`
org: not-this-one
token:
  create:
    name: deployer
    org: acme
    scope: [read, write]
    team: [pay, web]
    output: json
`)
	code, out, errOut := run(t, "token", "create", "--config", path)
	if code != cli.ExitOK {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	var made struct {
		Token  string     `json:"token"`
		Record auth.Token `json:"record"`
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil {
		t.Fatalf("-o json from the config file: %v\n%s", err, out)
	}
	r := made.Record
	if r.Name != "deployer" || r.Org != "acme" || !r.Allows(auth.ScopeWrite) || r.Allows(auth.ScopeAdmin) ||
		!slices.Equal(r.Teams, []string{"pay", "web"}) {
		t.Errorf("token made from the config file: %+v", r)
	}
	// The same file through $ASPM_CONFIG, with a flag over the file's output.
	t.Setenv("ASPM_CONFIG", path)
	code, out, errOut = run(t, "token", "list", "-o", "yaml")
	if code != cli.ExitOK || !strings.Contains(out, "name: deployer") {
		t.Errorf("token list with $ASPM_CONFIG: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// --config '' reads no file: the data directory is the default again.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	if code, _, errOut = run(t, "token", "list", "--config", ""); code != cli.ExitUsage || !strings.Contains(errOut, "no store at") {
		t.Errorf("--config '': exit %d, stderr %q; want the default data directory, with no store", code, errOut)
	}
}

// TestConfigDefaultPath: $XDG_CONFIG_HOME/aspm/config.yaml is read when it exists, and its
// absence is no error.
func TestConfigDefaultPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	if code, _, errOut := run(t, "version"); code != cli.ExitOK {
		t.Fatalf("without a config file: exit %d, %s", code, errOut)
	}
	if err := os.MkdirAll(filepath.Join(home, "aspm"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, "aspm", "config.yaml"), "version:\n  output: json\n")
	code, out, errOut := run(t, "version")
	var v struct {
		Version, GoVersion, OS, Arch string
	}
	if err := json.Unmarshal([]byte(out), &v); code != cli.ExitOK || err != nil || v.Version == "" {
		t.Errorf("version with output: json in the default config file: exit %d, %v, stdout %q, stderr %q", code, err, out, errOut)
	}
}

// TestConfigErrors: a key no command has, a section no command has, a flag of another
// command in a command's section, a bad value, a list for a single-valued flag and a missing
// explicit file are usage errors naming the file and the key.
func TestConfigErrors(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tc := range []struct {
		name, config string
		args         []string
		msg          string // in stderr, with the file's path
	}{
		{"unknown key", "no-such-flag: 1\n", []string{"version"}, `unknown key "no-such-flag"`},
		{"unknown section", "tokens:\n  list:\n    output: json\n", []string{"version"}, `unknown key "tokens"`},
		{"unknown nested key", "token:\n  list:\n    outptu: json\n", []string{"token", "list"}, `unknown key "token.list.outptu"`},
		{"another command's flag", "token:\n  listen: 0.0.0.0:80\n", []string{"version"}, `unknown key "token.listen"`},
		{"a bad value", "version:\n  output: xml\n", []string{"version"}, `key "version.output"`},
		{"a list for one value", "org: [a, b]\n", []string{"token", "create", "--name", "x"}, `key "org": --org takes one value`},
		{"config in config", "config: other.yaml\n", []string{"version"}, `key "config"`},
		{"not YAML", "store: [unclosed\n", []string{"version"}, "config"},
		{"a mapping for a flag", "store:\n  driver: sqlite\n", []string{"version"}, `key "store": --store takes a value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.config)
			code, _, errOut := run(t, append(tc.args, "--config", path)...)
			if code != cli.ExitUsage || !strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, path) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming %s and %q", code, errOut, path, tc.msg)
			}
		})
	}
	// A key some other command has is fine at the top level.
	path := writeConfig(t, "listen: 0.0.0.0:8080\norg: acme\nstore: sqlite\n")
	if code, _, errOut := run(t, "version", "--config", path); code != cli.ExitOK {
		t.Errorf("shared top-level keys: exit %d, %s", code, errOut)
	}
	// Help works with a broken file.
	broken := writeConfig(t, "no-such-flag: 1\n")
	if code, out, errOut := run(t, "help", "token", "--config", broken); code != cli.ExitOK || !strings.Contains(out, "aspm token create") {
		t.Errorf("help with a broken config file: exit %d, %s", code, errOut)
	}
	// An explicit file must exist.
	if code, _, errOut := run(t, "version", "--config", filepath.Join(t.TempDir(), "missing.yaml")); code != cli.ExitUsage ||
		!strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing --config file: exit %d, %s", code, errOut)
	}
}
