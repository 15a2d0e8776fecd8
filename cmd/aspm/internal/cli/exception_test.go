package cli_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

// TestExceptionLifecycle drives aspm exception against a store: create (text and JSON), list
// by state, renew, revoke, show with history and the audit log; bad input exits 2 with a reason.
func TestExceptionLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "aspm.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	run := func(args ...string) (int, string, string) {
		t.Helper()
		args = append(args, "--data-dir", dir)
		switch args[1] {
		case "create", "renew", "revoke":
			args = append(args, "--actor", "cli:alice@test")
		}
		return runCLI(t, args...)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exception", "create", "--org", "acme", "--code", "sbom.missing", "--reason", "r", "--owner", "o", "--ttl", "30d"}, "at least one of digest"},
		{[]string{"exception", "create", "--org", "acme", "--code", "sbom.missing", "--env", "dev", "--reason", "r", "--owner", "o"}, "an expiry is required"},
		{[]string{"exception", "create", "--org", "acme", "--code", "sbom.missing", "--env", "dev", "--reason", "r", "--owner", "o", "--ttl", "400d"}, "more than 366 days"},
		{[]string{"exception", "create", "--org", "acme", "--code", "sbom.missing", "--env", "dev", "--owner", "o", "--ttl", "3d"}, "are required"},
		{[]string{"exception", "create", "--org", "acme", "--code", "sbom.missing", "--repository", "reg/[ab]", "--reason", "r", "--owner", "o", "--ttl", "3d"}, "repository"},
		{[]string{"exception", "create", "--org", "acme", "--code", "sbom.missing", "--env", "dev", "--reason", "r", "--owner", "o", "--expires", "2020-01-01"}, "not in the future"},
		{[]string{"exception", "list", "--state", "lapsed"}, "--state"},
		{[]string{"exception", "revoke", "exc_0000000000000000"}, "no exception"},
	} {
		if code, _, errOut := run(tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}

	code, out, errOut := run("exception", "create", "--org", "acme", "--code", "sbom.missing", "--env", "dev",
		"--reason", "SBOMs for dev arrive in Q3", "--owner", "alice@acme.example", "--ttl", "30d")
	id := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(id, "exc_") || !strings.Contains(errOut, "Accepted sbom.missing for env dev in acme") {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = run("exception", "create", "--org", "acme", "--code", "provenance.missing",
		"--repository", "registry.acme.example/payments/*", "--reason", "vendor", "--owner", "bob", "--expires", "2099-01-01", "-o", "json")
	var second store.Exception
	if code != 2 {
		// 2099 is more than 366 days ahead: refused.
		t.Errorf("create with a far expiry: exit %d %s", code, out)
	}
	code, out, errOut = run("exception", "create", "--org", "acme", "--code", "provenance.missing",
		"--repository", "registry.acme.example/payments/*", "--reason", "vendor", "--owner", "bob", "--ttl", "720h", "-o", "json")
	if err := json.Unmarshal([]byte(out), &second); code != 0 || err != nil || second.Scope.Repository != "registry.acme.example/payments/*" ||
		second.CreatedBy != "cli:alice@test" {
		t.Fatalf("create -o json: exit %d %v\n%s%s", code, err, out, errOut)
	}

	if code, out, _ = run("exception", "renew", id, "--ttl", "60d", "--comment", "slipped"); code != 0 || !strings.Contains(out, "updated "+id) {
		t.Errorf("renew: exit %d %s", code, out)
	}
	if code, _, errOut = run("exception", "renew", id); code != 2 || !strings.Contains(errOut, "nothing to change") {
		t.Errorf("empty renew: exit %d %s", code, errOut)
	}
	if code, out, _ = run("exception", "revoke", second.ID, "--comment", "fixed"); code != 0 || !strings.Contains(out, "revoked "+second.ID) {
		t.Errorf("revoke: exit %d %s", code, out)
	}
	if code, out, _ = run("exception", "revoke", second.ID); code != 0 || !strings.Contains(out, "already revoked") {
		t.Errorf("revoke again: exit %d %s", code, out)
	}
	if code, _, errOut = run("exception", "renew", second.ID, "--ttl", "1d"); code != 2 || !strings.Contains(errOut, "is revoked") {
		t.Errorf("renewing a revoked exception: exit %d %s", code, errOut)
	}

	code, out, _ = run("exception", "list")
	if code != 0 || !strings.Contains(out, id) || strings.Contains(out, second.ID) {
		t.Errorf("list (active): exit %d\n%s", code, out)
	}
	var all []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	code, out, _ = run("exception", "list", "--state", "all", "-o", "json")
	if err := json.Unmarshal([]byte(out), &all); code != 0 || err != nil || len(all) != 2 {
		t.Errorf("list --state all: exit %d %v\n%s", code, err, out)
	}
	code, out, _ = run("exception", "show", id)
	if code != 0 || !strings.Contains(out, "created") || !strings.Contains(out, "updated") || !strings.Contains(out, "slipped") {
		t.Errorf("show: exit %d\n%s", code, out)
	}
	var history []store.ExceptionChange
	code, out, _ = run("exception", "audit", "-o", "json")
	if err := json.Unmarshal([]byte(out), &history); code != 0 || err != nil || len(history) != 4 {
		t.Fatalf("audit: exit %d %v\n%s", code, err, out)
	}
	var actions []string
	for _, c := range history {
		actions = append(actions, c.Action+":"+c.Exception.ID)
		if c.Actor != "cli:alice@test" {
			t.Errorf("audit entry by %q", c.Actor)
		}
	}
	want := []string{"created:" + id, "created:" + second.ID, "updated:" + id, "revoked:" + second.ID}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("audit log %v, want %v", actions, want)
	}
}
