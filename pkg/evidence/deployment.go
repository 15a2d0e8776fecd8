package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"time"
)

// Deployment is one observation that an artifact runs somewhere: a workload in a namespace of a
// cluster, in an environment, owned by an org and a team.
type Deployment struct {
	Image       ImageRef  `json:"image"`
	Environment string    `json:"environment"`
	Cluster     string    `json:"cluster,omitempty"`
	Namespace   string    `json:"namespace,omitempty"`
	Workload    string    `json:"workload,omitempty"`
	Org         string    `json:"org"`
	Team        string    `json:"team,omitempty"`
	ObservedAt  time.Time `json:"observed_at"`
	// EndedAt, when set, says the artifact stopped running there at that time (the workload
	// was removed or now runs another digest); coverage counts only deployments not ended.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// Ended reports whether the deployment has ended.
func (d Deployment) Ended() bool { return d.EndedAt != nil }

var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// Validate reports whether d names an image by digest, an environment and an org, and whether
// its labels are short identifiers. The error wraps ErrInvalid.
func (d Deployment) Validate() error {
	if err := d.Image.Validate(); err != nil {
		return err
	}
	if d.EndedAt != nil && d.EndedAt.Before(d.ObservedAt) {
		return invalidf("deployment: ended_at %s is before observed_at %s", d.EndedAt.Format(time.RFC3339), d.ObservedAt.Format(time.RFC3339))
	}
	for _, f := range []struct {
		name, value string
		required    bool
	}{
		{"environment", d.Environment, true},
		{"org", d.Org, true},
		{"team", d.Team, false},
		{"cluster", d.Cluster, false},
		{"namespace", d.Namespace, false},
		{"workload", d.Workload, false},
	} {
		if f.value == "" {
			if f.required {
				return invalidf("deployment: %s is required", f.name)
			}
			continue
		}
		if !labelRE.MatchString(f.value) {
			return invalidf("deployment: %s %q: want letters, digits, '.', '_', '/', '-' (at most 128)", f.name, f.value)
		}
	}
	return nil
}

// Key identifies the place a deployment runs (org, environment, cluster, namespace, workload)
// together with the digest that runs there. Two observations of the same image in the same
// place share a key.
func (d Deployment) Key() string {
	h := sha256.New()
	for _, s := range []string{d.Org, d.Environment, d.Cluster, d.Namespace, d.Workload, d.Image.Repository, string(d.Image.Digest)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
