package verify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// OrgPolicy is what one organisation trusts: which of the configured trusted roots, and which
// signer identities (none listed: any identity the roots vouch for).
type OrgPolicy struct {
	Roots      []string         `json:"roots,omitempty"`
	Identities []IdentityPolicy `json:"identities,omitempty"`
}

// TrustConfig maps organisations to their OrgPolicy. An organisation it does not list trusts
// every configured root and any identity.
type TrustConfig struct {
	Orgs map[string]OrgPolicy `json:"orgs"`
}

// LoadTrustConfig reads a TrustConfig from a YAML or JSON file and validates it against the
// names of the configured roots. Unknown fields are errors, so a typo cannot silently widen
// trust.
func LoadTrustConfig(path string, rootNames []string) (*TrustConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading trust config: %w", err)
	}
	var c TrustConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("parsing trust config %s: %w", path, err)
	}
	if err := c.Validate(rootNames); err != nil {
		return nil, fmt.Errorf("trust config %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks every organisation's roots exist among rootNames and compiles its identity
// policies.
func (c *TrustConfig) Validate(rootNames []string) error {
	var errs []error
	for org, p := range c.Orgs {
		for _, r := range p.Roots {
			if !slices.Contains(rootNames, r) {
				errs = append(errs, fmt.Errorf("org %s: %w %q (configured: %s)", org, ErrUnknownRoot, r, strings.Join(rootNames, ", ")))
			}
		}
		for i := range p.Identities {
			if err := p.Identities[i].Validate(); err != nil {
				errs = append(errs, fmt.Errorf("org %s: identity %d: %w", org, i, err))
			}
		}
		c.Orgs[org] = p
	}
	return errors.Join(errs...)
}

// Options returns the verification options for artifacts of org.
func (c *TrustConfig) Options(org string) Options {
	if c == nil {
		return Options{}
	}
	p := c.Orgs[org]
	return Options{Roots: p.Roots, Identities: p.Identities}
}

// ParseRootSpec splits a --trusted-root value, "NAME=PATH" or "PATH", into a name and a path;
// without a name, the file's base name without extension names the root.
func ParseRootSpec(spec string) (name, path string) {
	if n, p, ok := strings.Cut(spec, "="); ok && n != "" && !strings.ContainsAny(n, `/\`) {
		return n, p
	}
	base := filepath.Base(spec)
	return strings.TrimSuffix(base, filepath.Ext(base)), spec
}
