package verify

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// IdentityPolicy is an identity a keyless signer is expected to have: the OIDC issuer and the
// certificate's subject alternative name, each exact or as a regular expression (Go syntax,
// unanchored as in cosign: anchor with ^ and $), and, when set, the GitHub workflow claims
// Fulcio records in the certificate, compared exactly.
type IdentityPolicy struct {
	Issuer      string `json:"issuer,omitempty"`
	IssuerRegex string `json:"issuer_regex,omitempty"`
	SAN         string `json:"san,omitempty"`
	SANRegex    string `json:"san_regex,omitempty"`

	SourceRepository string `json:"source_repository,omitempty"`
	SourceRef        string `json:"source_ref,omitempty"`
	BuildSignerURI   string `json:"build_signer_uri,omitempty"`
	BuildConfigURI   string `json:"build_config_uri,omitempty"`
	// RunnerEnvironment is "github-hosted" or "self-hosted".
	RunnerEnvironment string `json:"runner_environment,omitempty"`

	issuerRE, sanRE *regexp.Regexp
}

// ErrIdentityPolicy is the class of IdentityPolicy.Validate errors.
var ErrIdentityPolicy = errors.New("invalid identity policy")

// Validate compiles the expressions and checks that the policy names an issuer and a SAN,
// each exactly or by expression but not both. The error wraps ErrIdentityPolicy.
func (p *IdentityPolicy) Validate() error {
	if (p.Issuer == "") == (p.IssuerRegex == "") {
		return fmt.Errorf("%w: give exactly one of issuer and issuer_regex", ErrIdentityPolicy)
	}
	if (p.SAN == "") == (p.SANRegex == "") {
		return fmt.Errorf("%w: give exactly one of san and san_regex", ErrIdentityPolicy)
	}
	var err error
	if p.IssuerRegex != "" {
		if p.issuerRE, err = regexp.Compile(p.IssuerRegex); err != nil {
			return fmt.Errorf("%w: issuer_regex: %w", ErrIdentityPolicy, err)
		}
	}
	if p.SANRegex != "" {
		if p.sanRE, err = regexp.Compile(p.SANRegex); err != nil {
			return fmt.Errorf("%w: san_regex: %w", ErrIdentityPolicy, err)
		}
	}
	switch p.RunnerEnvironment {
	case "", "github-hosted", "self-hosted":
	default:
		return fmt.Errorf("%w: runner_environment %q: want github-hosted or self-hosted", ErrIdentityPolicy, p.RunnerEnvironment)
	}
	return nil
}

// Matches reports whether s satisfies p; p must have been validated.
func (p *IdentityPolicy) Matches(s *evidence.Signer) bool {
	if s == nil || s.Type != evidence.SignatureKeyless {
		return false
	}
	if !matchOne(p.Issuer, p.issuerRE, s.Issuer) || !matchOne(p.SAN, p.sanRE, s.Identity) {
		return false
	}
	for _, c := range [][2]string{
		{p.SourceRepository, s.SourceRepository},
		{p.SourceRef, s.SourceRef},
		{p.BuildSignerURI, s.BuildSignerURI},
		{p.BuildConfigURI, s.BuildConfigURI},
		{p.RunnerEnvironment, s.RunnerEnvironment},
	} {
		if c[0] != "" && c[0] != c[1] {
			return false
		}
	}
	return true
}

func matchOne(exact string, re *regexp.Regexp, got string) bool {
	if re != nil {
		return re.MatchString(got)
	}
	return exact == got
}

// String describes the policy for error messages.
func (p *IdentityPolicy) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("issuer", p.Issuer)
	add("issuer~", p.IssuerRegex)
	add("san", p.SAN)
	add("san~", p.SANRegex)
	add("source_repository", p.SourceRepository)
	add("source_ref", p.SourceRef)
	add("build_signer_uri", p.BuildSignerURI)
	add("build_config_uri", p.BuildConfigURI)
	add("runner_environment", p.RunnerEnvironment)
	return "{" + strings.Join(parts, " ") + "}"
}

// validated reports an error unless every policy was validated (its expressions compiled).
func validated(policies []IdentityPolicy) error {
	for _, p := range policies {
		if (p.IssuerRegex != "" && p.issuerRE == nil) || (p.SANRegex != "" && p.sanRE == nil) ||
			(p.Issuer == "" && p.IssuerRegex == "") || (p.SAN == "" && p.SANRegex == "") {
			return fmt.Errorf("%w: identity policy %s was not validated", ErrIdentityPolicy, p.String())
		}
	}
	return nil
}

// matchIdentity returns nil when policies is empty or s matches one of them.
func matchIdentity(policies []IdentityPolicy, s *evidence.Signer) error {
	if len(policies) == 0 {
		return nil
	}
	for i := range policies {
		if policies[i].Matches(s) {
			return nil
		}
	}
	who := "no signer"
	if s != nil {
		who = fmt.Sprintf("%s (issuer %s", s.Identity, s.Issuer)
		if s.RunnerEnvironment != "" {
			who += ", runner " + s.RunnerEnvironment
		}
		who += ")"
	}
	return fmt.Errorf("signature verified, but the signer %s is not an expected identity (%d identity policies)", who, len(policies))
}
