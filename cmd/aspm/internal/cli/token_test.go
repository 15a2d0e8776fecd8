package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Main(args, &o, &e)
	return code, o.String(), e.String()
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "aspm.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errOut := runCLI(t, "token", "create", "--data-dir", dir, "--name", "pay dash", "--org", "acme",
		"--team", "pay,web", "--env", "prod", "--ttl", "48h", "-o", "json")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	var made struct {
		Token  string     `json:"token"`
		Record auth.Token `json:"record"`
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil {
		t.Fatalf("create -o json: %v\n%s", err, out)
	}
	st, err = sqlite.Open(ctx, filepath.Join(dir, "aspm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok, err := auth.Authenticate(ctx, st, "Bearer "+made.Token, time.Now())
	if err != nil {
		t.Fatalf("the printed secret does not authenticate: %v", err)
	}
	if tok.ID != made.Record.ID || tok.Org != "acme" || len(tok.Teams) != 2 || tok.Environments[0] != "prod" ||
		!tok.Allows(auth.ScopeRead) || tok.Allows(auth.ScopeWrite) || tok.ExpiresAt == nil {
		t.Errorf("stored token %+v", tok)
	}
	if tok.Hash != auth.Hash(made.Token) || strings.Contains(tok.Hash, made.Token) {
		t.Errorf("the store keeps %q, want the secret's SHA-256", tok.Hash)
	}

	// Text output: the secret alone on stdout, so $(aspm token create …) works.
	code, out, errOut = runCLI(t, "token", "create", "--data-dir", dir, "--name", "ops", "--org", "*", "--scope", "admin")
	if code != 0 || !strings.HasPrefix(out, auth.Prefix) || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "shown once") {
		t.Errorf("create (text): exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, _ = runCLI(t, "token", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, made.Record.ID) || !strings.Contains(out, "every org") ||
		strings.Contains(out, made.Token) || strings.Contains(out, tok.Hash) {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	if code, out, _ = runCLI(t, "token", "revoke", "--data-dir", dir, made.Record.ID); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: exit %d %s", code, out)
	}
	if _, err := auth.Authenticate(ctx, st, "Bearer "+made.Token, time.Now()); err == nil {
		t.Error("a revoked token still authenticates")
	}
	code, out, _ = runCLI(t, "token", "list", "--data-dir", dir, "-o", "json")
	var listed []auth.Token
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed) != 2 {
		t.Errorf("list -o json: exit %d, %v: %s", code, err, out)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no name", []string{"token", "create", "--data-dir", dir, "--org", "acme"}},
		{"no org", []string{"token", "create", "--data-dir", dir, "--name", "x"}},
		{"bad scope", []string{"token", "create", "--data-dir", dir, "--name", "x", "--org", "acme", "--scope", "root"}},
		{"no store", []string{"token", "create", "--data-dir", t.TempDir(), "--name", "x", "--org", "acme"}},
		{"unknown id", []string{"token", "revoke", "--data-dir", dir, "tok_nope"}},
	} {
		if code, _, errOut := runCLI(t, tc.args...); code != cli.ExitUsage || errOut == "" {
			t.Errorf("%s: exit %d (%q), want %d with a message", tc.name, code, errOut, cli.ExitUsage)
		}
	}
}

// TestStoreFlagsClickHouseCredentials: the store commands log in to ClickHouse as --clickhouse-user
// with the password in $ASPM_CLICKHOUSE_PASSWORD (never a flag, which ps would show).
func TestStoreFlagsClickHouseCredentials(t *testing.T) {
	cfg := clickhousetest.Config(t)
	args := []string{"token", "list", "--store", "clickhouse", "--clickhouse-addr", cfg.Addr[0], "--clickhouse-database", cfg.Database}
	if code, out, errOut := runCLI(t, args...); code != 0 {
		t.Fatalf("as the default user: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, append(args, "--clickhouse-user", "aspm_no_such_user")...); code == 0 ||
		!strings.Contains(errOut, "aspm_no_such_user") {
		t.Errorf("as an unknown user: exit %d, stderr %q; want a failure naming the user", code, errOut)
	}
	t.Setenv("ASPM_CLICKHOUSE_PASSWORD", "not-the-password")
	if code, _, errOut := runCLI(t, args...); code == 0 {
		t.Errorf("with a wrong password: exit 0, stderr %q; want a failure", errOut)
	}
}
