package verify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

func TestIdentityPolicyValidate(t *testing.T) {
	for name, p := range map[string]verify.IdentityPolicy{
		"no issuer":         {SAN: "x"},
		"no san":            {Issuer: "x"},
		"both issuer forms": {Issuer: "x", IssuerRegex: "x", SAN: "y"},
		"both san forms":    {Issuer: "x", SAN: "y", SANRegex: "y"},
		"bad regex":         {Issuer: "x", SANRegex: "("},
		"bad runner":        {Issuer: "x", SAN: "y", RunnerEnvironment: "cloud"},
		"bad issuer regex":  {IssuerRegex: "[", SAN: "y"},
	} {
		if err := p.Validate(); !errors.Is(err, verify.ErrIdentityPolicy) {
			t.Errorf("%s: err = %v, want ErrIdentityPolicy", name, err)
		}
	}
}

func TestIdentityPolicyMatches(t *testing.T) {
	signer := &evidence.Signer{
		Type: evidence.SignatureKeyless, Issuer: demo.Issuer,
		Identity:          "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
		SourceRepository:  "https://github.com/acme/app",
		SourceRef:         "refs/heads/main",
		BuildSignerURI:    "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
		BuildConfigURI:    "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
		RunnerEnvironment: "github-hosted",
	}
	tests := []struct {
		name string
		p    verify.IdentityPolicy
		want bool
	}{
		{"exact", verify.IdentityPolicy{Issuer: demo.Issuer, SAN: signer.Identity}, true},
		{"regex", verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `^https://github\.com/acme/`}, true},
		{"issuer regex", verify.IdentityPolicy{IssuerRegex: `^https://token\.actions\.`, SANRegex: `acme`}, true},
		{"other issuer", verify.IdentityPolicy{Issuer: "https://accounts.google.com", SAN: signer.Identity}, false},
		{"other repo", verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `^https://github\.com/evil/`}, false},
		{"claims match", verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `.`, SourceRepository: "https://github.com/acme/app", SourceRef: "refs/heads/main", RunnerEnvironment: "github-hosted"}, true},
		{"self-hosted required", verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `.`, RunnerEnvironment: "self-hosted"}, false},
		{"other ref", verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `.`, SourceRef: "refs/heads/dev"}, false},
		{"reusable workflow required", verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `.`, BuildSignerURI: "https://github.com/org/wf/.github/workflows/build.yml@refs/tags/v1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tc.p.Matches(signer); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	key := &evidence.Signer{Type: evidence.SignatureKey, Identity: "k"}
	p := verify.IdentityPolicy{Issuer: "x", SANRegex: "."}
	if err := p.Validate(); err != nil || p.Matches(key) {
		t.Errorf("a key signer matched a keyless identity policy")
	}
}

// TestVerifyOptions covers identities, artifact binding and per-organisation root choice on
// fresh keyless bundles.
func TestVerifyOptions(t *testing.T) {
	ctx := context.Background()
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ss.SignKeyless(ctx, []byte(statement), ghIdentity)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := verify.LoadTrustedRoot(testcorpus.Path(t, "sigstore/trusted-roots/public-good.prod.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "public-good", Material: pg}, {Name: "acme", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	subject := evidence.Digest("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	other := evidence.Digest("sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	good := verify.IdentityPolicy{Issuer: ghIdentity.Issuer, SANRegex: `^https://github\.com/acme/app/`}
	bad := verify.IdentityPolicy{Issuer: ghIdentity.Issuer, SANRegex: `^https://github\.com/other/`}
	for _, p := range []*verify.IdentityPolicy{&good, &bad} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		opts         verify.Options
		verified     bool
		identityMiss bool
		root         string
		errContains  string
	}{
		{name: "any root", opts: verify.Options{}, verified: true, root: "acme"},
		{name: "the org's root", opts: verify.Options{Roots: []string{"acme"}}, verified: true, root: "acme"},
		{name: "another org's root only", opts: verify.Options{Roots: []string{"public-good"}}, errContains: "log"},
		{name: "subject matches", opts: verify.Options{ArtifactDigest: subject}, verified: true, root: "acme"},
		{name: "subject differs", opts: verify.Options{ArtifactDigest: other}, errContains: "digest"},
		{name: "expected identity", opts: verify.Options{Identities: []verify.IdentityPolicy{bad, good}}, verified: true, root: "acme"},
		{name: "unexpected identity", opts: verify.Options{Identities: []verify.IdentityPolicy{bad}}, identityMiss: true, root: "acme", errContains: "not an expected identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(mustBundle(t, data), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified != tc.verified || res.IdentityMismatch != tc.identityMiss || res.Root != tc.root {
				t.Errorf("verified=%v identity_mismatch=%v root=%q (error %q); want %v %v %q", res.Verified, res.IdentityMismatch, res.Root, res.Error, tc.verified, tc.identityMiss, tc.root)
			}
			if !strings.Contains(res.Error, tc.errContains) {
				t.Errorf("error %q does not contain %q", res.Error, tc.errContains)
			}
		})
	}
	if _, err := v.Verify(mustBundle(t, data), verify.Options{Roots: []string{"nope"}}); !errors.Is(err, verify.ErrUnknownRoot) {
		t.Errorf("unknown root: err = %v", err)
	}
	if _, err := v.Verify(mustBundle(t, data), verify.Options{Identities: []verify.IdentityPolicy{{Issuer: "x", SANRegex: "y"}}}); !errors.Is(err, verify.ErrIdentityPolicy) {
		t.Errorf("unvalidated identity policy: err = %v", err)
	}
	if _, err := verify.New([]verify.NamedRoot{{Name: "a", Material: pg}, {Name: "a", Material: pg}}, nil); err == nil {
		t.Error("a repeated root name was accepted")
	}
}
