package verify_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// corpusCase is one row of the corpus's expectations.json.
type corpusCase struct {
	Case           string  `json:"case"`
	File           string  `json:"file"`
	EntryIndex     int     `json:"entry_index"`
	TrustedRoot    string  `json:"trusted_root"`
	Artifact       *string `json:"artifact"`
	ArtifactDigest *string `json:"artifact_digest"`
	Key            *string `json:"key"`
	Expect         string  `json:"expect"`
	Upstream       string  `json:"upstream"`
	CertSAN        *string `json:"cert_san"`
	CertIssuer     *string `json:"cert_oidc_issuer"`
}

// keyWindows are the key validity windows upstream tests configure; other keys are trusted
// without bounds, as upstream does.
var keyWindows = map[string][2]time.Time{
	// TestPublicKeyValidityCheckedAgainstSignedTimestamp: the key is valid for one second in 1970.
	"sg/public-key-validity": {time.Unix(0, 0), time.Unix(1, 0)},
}

// identityPolicies are the signer identities upstream tests require where they are part of
// the expected result (a bundle that verifies but was signed by someone else must fail).
var identityPolicies = map[string]verify.IdentityPolicy{
	// Test_runVerifyGithubAttestation: the BCR provenance must come from publish-to-bcr.
	"sv/bcr/MODULE-wrong-signer.bazel": {
		Issuer:   "https://token.actions.githubusercontent.com",
		SANRegex: `^https://github\.com/bazel-contrib/publish-to-bcr/\.github/workflows/publish\.yaml@`,
	},
	"sv/bcr/MODULE.bazel": {
		Issuer:   "https://token.actions.githubusercontent.com",
		SANRegex: `^https://github\.com/bazel-contrib/publish-to-bcr/\.github/workflows/publish\.yaml@`,
	},
}

// TestCorpusExpectations runs every bundle case of the real-world corpus through the
// project's verifier and checks the outcome upstream expects and, for keyless bundles that
// verify, the signer identity.
func TestCorpusExpectations(t *testing.T) {
	var doc struct {
		Cases []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(testcorpus.Read(t, "expectations.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) != 137 {
		t.Fatalf("expectations.json has %d cases, want 137", len(doc.Cases))
	}
	roots := map[string]verify.NamedRoot{}
	for _, c := range doc.Cases {
		t.Run(c.Case, func(t *testing.T) {
			v, err := verifierFor(t, c, roots)
			if err != nil {
				// Refusing the trusted material itself (a key that is not on its curve, a root
				// with a log lacking its validity start) is a rejection too.
				if c.Expect == "verify" {
					t.Fatalf("loading trusted material: %v", err)
				}
				return
			}
			var opts verify.Options
			switch {
			case c.Artifact != nil:
				data, err := os.ReadFile(testcorpus.Path(t, *c.Artifact))
				if err != nil {
					t.Fatal(err)
				}
				opts.Artifact = bytes.NewReader(data)
			case c.ArtifactDigest != nil:
				opts.ArtifactDigest = evidence.Digest(*c.ArtifactDigest)
			}
			if p, ok := identityPolicies[c.Case]; ok {
				if err := p.Validate(); err != nil {
					t.Fatal(err)
				}
				opts.Identities = []verify.IdentityPolicy{p}
			}

			verified, res, why := run(t, v, c, opts)

			want := c.Expect == "verify"
			if c.Expect == "verify-crypto / fail-policy" {
				// Cryptographically valid: identity policy (BCR) or a client's bundle-version
				// policy (gh refuses v0.1 bundles; this project accepts them) decides.
				want = c.Case != "sv/bcr/MODULE-wrong-signer.bazel"
				if !want && (!res.IdentityMismatch || res.Signer == nil) {
					t.Errorf("want an identity mismatch after a cryptographic success, got %+v", res.Verification)
				}
			}
			if verified != want {
				t.Fatalf("verified = %v, want %v (%s)\nreason: %s\nupstream: %s", verified, want, c.Expect, why, c.Upstream)
			}
			if verified && res.Signer != nil && res.Signer.Type == evidence.SignatureKeyless {
				if c.CertSAN != nil && strings.TrimPrefix(*c.CertSAN, "otherName:") != res.Signer.Identity {
					t.Errorf("signer identity %q, want %q", res.Signer.Identity, *c.CertSAN)
				}
				if c.CertIssuer != nil && *c.CertIssuer != res.Signer.Issuer {
					t.Errorf("signer issuer %q, want %q", res.Signer.Issuer, *c.CertIssuer)
				}
			}
			if !verified && why == "" {
				t.Error("a failed verification must say why")
			}
		})
	}
}

// run verifies entry c.EntryIndex of c.File; a document or entry that cannot be read counts
// as a failure with its reason.
func run(t *testing.T, v *verify.Verifier, c corpusCase, opts verify.Options) (bool, verify.Result, string) {
	t.Helper()
	entries, err := verify.ParseBundles(testcorpus.Read(t, c.File))
	if err != nil {
		return false, verify.Result{}, err.Error()
	}
	if c.EntryIndex >= len(entries) {
		t.Fatalf("document has %d entries, case wants entry %d", len(entries), c.EntryIndex)
	}
	e := entries[c.EntryIndex]
	if e.Err != nil {
		return false, verify.Result{}, e.Err.Error()
	}
	res, err := v.Verify(e.Bundle, opts)
	if err != nil {
		return false, res, err.Error()
	}
	return res.Verified, res, res.Error
}

// verifierFor builds the verifier a case names; roots caches parsed roots across cases.
func verifierFor(t *testing.T, c corpusCase, roots map[string]verify.NamedRoot) (*verify.Verifier, error) {
	t.Helper()
	r, ok := roots[c.TrustedRoot]
	if !ok {
		tr, err := verify.LoadTrustedRoot(testcorpus.Path(t, c.TrustedRoot))
		if err != nil {
			return nil, err
		}
		r = verify.NamedRoot{Name: c.TrustedRoot, Material: tr}
		roots[c.TrustedRoot] = r
	}
	var keys []verify.TrustedKey
	if c.Key != nil {
		k, err := verify.LoadTrustedKey("key", testcorpus.Path(t, *c.Key))
		if err != nil {
			return nil, err
		}
		if w, ok := keyWindows[c.Case]; ok {
			k.ValidFrom, k.ValidUntil = w[0], w[1]
		}
		keys = append(keys, k)
	}
	return verify.New([]verify.NamedRoot{r}, keys)
}
