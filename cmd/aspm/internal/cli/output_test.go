package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// sameData runs args with -o json and with -o yaml and fails unless both exit 0 and the
// YAML holds the same data, field names included, as the JSON. It returns the JSON.
func sameData(t *testing.T, args ...string) any {
	t.Helper()
	code, jsonOut, errOut := run(t, append(args, "-o", "json")...)
	if code != cli.ExitOK {
		t.Fatalf("%q -o json: exit %d: %s", args, code, errOut)
	}
	code, yamlOut, errOut := run(t, append(args, "-o", "yaml")...)
	if code != cli.ExitOK {
		t.Fatalf("%q -o yaml: exit %d: %s", args, code, errOut)
	}
	if strings.HasPrefix(strings.TrimSpace(yamlOut), "{") || strings.HasPrefix(strings.TrimSpace(yamlOut), "[") {
		t.Errorf("%q -o yaml printed JSON:\n%s", args, yamlOut)
	}
	fromYAML, err := yaml.YAMLToJSON([]byte(yamlOut))
	if err != nil {
		t.Fatalf("%q -o yaml is not YAML: %v\n%s", args, err, yamlOut)
	}
	var j, y any
	if err := json.Unmarshal([]byte(jsonOut), &j); err != nil {
		t.Fatalf("%q -o json is not JSON: %v\n%s", args, err, jsonOut)
	}
	if err := json.Unmarshal(fromYAML, &y); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, y); diff != "" {
		t.Errorf("%q: YAML differs from JSON (-json +yaml):\n%s", args, diff)
	}
	return j
}

// sameHuman runs args with -o table and -o text and fails unless both print the same, and
// the same as with no -o at all.
func sameHuman(t *testing.T, args ...string) string {
	t.Helper()
	_, def, _ := run(t, args...)
	_, table, _ := run(t, append(args, "-o", "table")...)
	_, text, _ := run(t, append(args, "-o", "text")...)
	if def != table || table != text || def == "" {
		t.Errorf("%q: default, -o table and -o text differ or are empty:\n%s\n--\n%s\n--\n%s", args, def, table, text)
	}
	return def
}

// TestOutputFormats: every command that prints data takes -o table|text|json|yaml, YAML with
// the same fields as JSON.
func TestOutputFormats(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	data := newStore(t)
	if code, _, errOut := run(t, "token", "create", "--data-dir", data, "--name", "ci", "--org", "acme", "--ttl", "24h"); code != 0 {
		t.Fatalf("token create: %s", errOut)
	}
	code, out, errOut := run(t, "exception", "create", "--data-dir", data, "--org", "acme", "--code", "sbom.missing",
		"--env", "dev", "--reason", "Q3", "--owner", "alice", "--ttl", "30d")
	if code != 0 {
		t.Fatalf("exception create: %s", errOut)
	}
	excID := strings.TrimSpace(out)

	tokens := sameData(t, "token", "list", "--data-dir", data).([]any)
	if len(tokens) != 1 || tokens[0].(map[string]any)["name"] != "ci" {
		t.Errorf("token list: %v", tokens)
	}
	if !strings.Contains(sameHuman(t, "token", "list", "--data-dir", data), "ID  ") {
		t.Error("token list: the table has no header")
	}
	exc := sameData(t, "exception", "show", "--data-dir", data, excID).(map[string]any)
	if exc["id"] != excID || exc["state"] != "active" || len(exc["history"].([]any)) != 1 {
		t.Errorf("exception show: %v", exc)
	}
	sameHuman(t, "exception", "show", "--data-dir", data, excID)
	if l := sameData(t, "exception", "list", "--data-dir", data).([]any); len(l) != 1 {
		t.Errorf("exception list: %v", l)
	}
	sameHuman(t, "exception", "list", "--data-dir", data)
	if a := sameData(t, "exception", "audit", "--data-dir", data).([]any); len(a) != 1 {
		t.Errorf("exception audit: %v", a)
	}
	sameHuman(t, "exception", "audit", "--data-dir", data)
	v := sameData(t, "version").(map[string]any)
	for _, k := range []string{"version", "go_version", "os", "arch"} {
		if s, _ := v[k].(string); s == "" {
			t.Errorf("version has no %s: %v", k, v)
		}
	}
	sameHuman(t, "version")
	bundle := testcorpus.Path(t, "sigstore/sigstore-go/bundle-provenance.json")
	if vd := sameData(t, "verify", "--bundle", bundle).(map[string]any); vd["slsa_level"] == nil {
		t.Errorf("verify: %v", vd)
	}
	sameHuman(t, "verify", "--bundle", bundle)

	// Made once, so compared by shape: YAML with the secret and the record.
	code, out, errOut = run(t, "exception", "create", "--data-dir", data, "--org", "acme", "--code", "sbom.missing",
		"--env", "prod", "--reason", "Q3", "--owner", "alice", "--ttl", "30d", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "\nid: exc_") || !strings.Contains(out, "\nreason: Q3") {
		t.Errorf("exception create -o yaml: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "token", "create", "--data-dir", data, "--name", "y", "--org", "acme", "-o", "yaml")
	if code != 0 || !strings.HasPrefix(out, "record:\n") || !strings.Contains(out, "\ntoken: aspm_") {
		t.Errorf("token create -o yaml: exit %d\n%s%s", code, out, errOut)
	}
}
