package verify_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/verify"
)

func writeTrust(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trust.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTrustConfig(t *testing.T) {
	roots := []string{"public-good", "acme"}
	good := writeTrust(t, `
orgs:
  acme:
    roots: [acme]
    identities:
      - issuer: https://token.actions.githubusercontent.com
        san_regex: ^https://github\.com/acme/
        runner_environment: github-hosted
`)
	c, err := verify.LoadTrustConfig(good, roots)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options("acme")
	if len(o.Roots) != 1 || o.Roots[0] != "acme" || len(o.Identities) != 1 {
		t.Fatalf("options for acme = %+v", o)
	}
	if o := c.Options("other"); len(o.Roots) != 0 || len(o.Identities) != 0 {
		t.Errorf("an unlisted org gets restrictions: %+v", o)
	}
	var none *verify.TrustConfig
	if o := none.Options("acme"); len(o.Roots) != 0 {
		t.Errorf("nil config restricts: %+v", o)
	}

	for name, tc := range map[string]struct {
		content, want string
		is            error
	}{
		"unknown root":  {content: "orgs:\n  acme:\n    roots: [staging]\n", want: "staging", is: verify.ErrUnknownRoot},
		"bad identity":  {content: "orgs:\n  acme:\n    identities:\n      - issuer: x\n", want: "san", is: verify.ErrIdentityPolicy},
		"unknown field": {content: "orgs:\n  acme:\n    root: [acme]\n", want: "root"},
		"not yaml":      {content: "orgs: [", want: "parsing"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := verify.LoadTrustConfig(writeTrust(t, tc.content), roots)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("err = %v; want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseRootSpec(t *testing.T) {
	for spec, want := range map[string][2]string{
		"public-good=/etc/roots/pg.json": {"public-good", "/etc/roots/pg.json"},
		"/etc/roots/trusted_root.json":   {"trusted_root", "/etc/roots/trusted_root.json"},
		"staging.json":                   {"staging", "staging.json"},
		"./a=b/root.json":                {"root", "./a=b/root.json"},
	} {
		n, p := verify.ParseRootSpec(spec)
		if n != want[0] || p != want[1] {
			t.Errorf("ParseRootSpec(%q) = %q, %q; want %q, %q", spec, n, p, want[0], want[1])
		}
	}
}
