package cli_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// refusedAddr returns a loopback address nothing listens on: a listener's, closed.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestExitCodes: 0 success, 1 a failure found, 2 a usage error (command line, environment,
// config file), 3 a dependency that cannot be reached.
func TestExitCodes(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	bundle := testcorpus.Path(t, "sigstore/sigstore-go/bundle-provenance.json")
	failing := t.TempDir()
	writeFile(t, filepath.Join(failing, "p.rego"), "package p\n\nallow := false\n")
	writeFile(t, filepath.Join(failing, "p_test.rego"), "package p_test\n\nimport data.p\n\ntest_allow if p.allow\n")
	badConfig := writeConfig(t, "verify:\n  min-levle: 3\n")
	down := refusedAddr(t)
	digest := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"version", nil, []string{"version"}, cli.ExitOK},
		{"help", nil, []string{"verify", "--help"}, cli.ExitOK},
		{"a gate met", nil, []string{"verify", "--bundle", bundle, "--min-level", "2"}, cli.ExitOK},
		{"a gate not met", nil, []string{"verify", "--bundle", bundle, "--min-level", "3"}, cli.ExitFailure},
		{"a denied gap", nil, []string{"verify", "--bundle", bundle, "--deny-gaps", "sbom.missing"}, cli.ExitFailure},
		{"a policy test fails", nil, []string{"policy", "test", failing}, cli.ExitFailure},
		{"an unknown command", nil, []string{"verfiy"}, cli.ExitUsage},
		{"an unknown flag", nil, []string{"verify", "--no-such-flag"}, cli.ExitUsage},
		{"a bad -o", nil, []string{"token", "list", "-o", "xml"}, cli.ExitUsage},
		{"a bad -o for version", nil, []string{"version", "-o", "csv"}, cli.ExitUsage},
		{"a bad -o from the environment", map[string]string{"ASPM_OUTPUT": "xml"}, []string{"version"}, cli.ExitUsage},
		{"a bad flag value", nil, []string{"verify", "--bundle", bundle, "--min-level", "x"}, cli.ExitUsage},
		{"too many arguments", nil, []string{"version", "extra"}, cli.ExitUsage},
		{"a bad config key", nil, []string{"verify", "--bundle", bundle, "--config", badConfig}, cli.ExitUsage},
		{"ClickHouse down", nil, []string{"token", "list", "--store", "clickhouse", "--clickhouse-addr", down}, cli.ExitUnavailable},
		{"a registry down", nil, []string{"verify", down + "/acme/app@" + digest, "--insecure-registry", down}, cli.ExitUnavailable},
		{"a registry that does not resolve", nil, []string{"scan", "registry.invalid", "--insecure"}, cli.ExitUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("%q: exit %d, want %d\nstdout: %.300s\nstderr: %s", tc.args, code, tc.code, out, errOut)
			}
			if code != cli.ExitOK && !strings.HasPrefix(errOut, "aspm: ") {
				t.Errorf("%q: exit %d without a message on stderr: %q", tc.args, code, errOut)
			}
		})
	}
}

// TestScanProgressOnlyOnTerminals: scanning with stderr a pipe-like buffer or a file draws no
// progress (no carriage returns or escape codes) anywhere, in every output format.
func TestScanProgressOnlyOnTerminals(t *testing.T) {
	sr := seed(t)
	args := append([]string{"scan", sr.host, "--insecure"}, sr.trustArgs()...)
	for _, format := range []string{"table", "json", "yaml"} {
		var out, errOut bytes.Buffer
		if code := cli.Main(append(args, "-o", format), &out, &errOut); code != cli.ExitOK {
			t.Fatalf("-o %s: exit %d: %s", format, code, errOut.String())
		}
		if strings.ContainsAny(out.String()+errOut.String(), "\r\x1b") {
			t.Errorf("-o %s into buffers: progress drawn:\nstdout %q\nstderr %q", format, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "release-train") {
			t.Errorf("-o %s: no results:\n%s", format, out.String())
		}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if code := cli.Main(append(args, "-o", "json"), &out, f); code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	logged, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(logged), "\r\x1b") {
		t.Errorf("progress drawn into a file: %q", logged)
	}
}
