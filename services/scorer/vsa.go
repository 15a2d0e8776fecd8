package scorer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/svcmain"
	"github.com/aspmhq/aspm/pkg/vsa"
)

// VSAConfig configures the SLSA verification summary attestations (VSAs) the scorer issues
// for artifacts that pass an environment's policy (see Passes). Issuance is off without a key.
type VSAConfig struct {
	// KeyPath is the PEM private key (PKCS#8 ECDSA P-256 or Ed25519) VSAs are signed with;
	// empty disables issuance.
	KeyPath string
	// VerifierID is the VSAs' verifier.id; default vsa.DefaultVerifierID.
	VerifierID string
	// PolicyURI is the base of the VSAs' policy.uri; default vsa.DefaultPolicyURI.
	PolicyURI string
	// Environments, when not empty, are the only environments VSAs are issued for.
	Environments []string
	// Registry configures how VSAs are pushed to the artifacts' registries.
	Registry oci.Config
}

// RegisterFlags adds the VSA flags to fs: --vsa-key, --vsa-verifier-id, --vsa-policy-uri,
// --vsa-env and --insecure-registry.
func (c *VSAConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.KeyPath, "vsa-key", "", "PEM private key (PKCS#8 ECDSA P-256 or Ed25519) to sign SLSA VSAs for passing artifacts with, pushed to their registries (default: none issued)")
	fs.StringVar(&c.VerifierID, "vsa-verifier-id", vsa.DefaultVerifierID, "verifier.id of the VSAs")
	fs.StringVar(&c.PolicyURI, "vsa-policy-uri", vsa.DefaultPolicyURI, "policy.uri of the VSAs (the environment is added as ?env=)")
	fs.Var((*svcmain.List)(&c.Environments), "vsa-env", "issue VSAs only for these environments (comma-separated; default: all)")
	fs.Var((*svcmain.List)(&c.Registry.Insecure), "insecure-registry", "registry host VSAs are pushed to over plain HTTP (repeatable)")
}

func (c *VSAConfig) validate() error {
	if c.VerifierID == "" {
		c.VerifierID = vsa.DefaultVerifierID
	}
	if c.PolicyURI == "" {
		c.PolicyURI = vsa.DefaultPolicyURI
	}
	return c.Registry.Validate()
}

// Passes reports whether a score earns a VSA: the policy found verified provenance for the
// artifact, its level meets the environment's requirement (no level.below_required gap), and
// no gap is of high or critical severity. The VSA states the score's level.
func Passes(sc evidence.Score) bool {
	if !sc.VerifiedProvenance {
		return false
	}
	for _, g := range sc.Gaps {
		if g.Code == "level.below_required" || g.Severity == "high" || g.Severity == "critical" {
			return false
		}
	}
	return true
}

// vsaIssuer signs and pushes VSAs. It is nil when issuance is off.
type vsaIssuer struct {
	cfg    VSAConfig
	key    *vsa.Key
	reg    *oci.Client
	now    func() time.Time
	issued *prometheus.CounterVec
	// seen remembers the VSAs this process pushed or found, so that rescans and redeliveries
	// do not ask the registry again; it is emptied when it holds maxSeen.
	mu   sync.Mutex
	seen map[string]bool
}

// maxSeen bounds the VSAs a scorer remembers.
const maxSeen = 100_000

// newVSAIssuer loads the key and builds the registry client, or returns nil when cfg has no
// key.
func newVSAIssuer(cfg VSAConfig, reg *prometheus.Registry) (*vsaIssuer, error) {
	if cfg.KeyPath == "" {
		return nil, nil
	}
	key, err := vsa.LoadKey(cfg.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("scorer: VSA key: %w", err)
	}
	client, err := oci.New(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("scorer: VSA registry: %w", err)
	}
	v := &vsaIssuer{cfg: cfg, key: key, reg: client, now: time.Now, seen: map[string]bool{}}
	v.issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aspm_scorer_vsas_total", Help: "VSAs pushed (issued), found already attached (exists) or failed to push (failed).",
	}, []string{"outcome"})
	reg.MustRegister(v.issued)
	return v, nil
}

// issue pushes a VSA for every score in scores that passes, in an environment VSAs are
// issued for, unless one for the same digest, environment, policy version and level is
// already attached. A failure is returned (the message is retried; the scores are already
// written, and redelivery finds the VSAs already pushed).
func (v *vsaIssuer) issue(ctx context.Context, log *slog.Logger, m event.EvidenceCollected, scores []evidence.Score) error {
	if v == nil {
		return nil
	}
	var errs []error
	for _, sc := range scores {
		if !Passes(sc) || (len(v.cfg.Environments) > 0 && !slices.Contains(v.cfg.Environments, sc.Environment)) {
			continue
		}
		s := vsa.Summary{
			Image:             sc.Image,
			VerifierID:        v.cfg.VerifierID,
			TimeVerified:      v.now().UTC(),
			PolicyURI:         v.cfg.PolicyURI,
			PolicyVersion:     sc.PolicyVersion,
			Environment:       sc.Environment,
			InputAttestations: inputAttestations(m.Artifact.Evidence),
			Result:            vsa.Passed,
			Level:             sc.Level,
		}
		d, err := v.push(ctx, s)
		switch {
		case err != nil:
			v.issued.WithLabelValues("failed").Inc()
			errs = append(errs, err)
		case d == "":
			v.issued.WithLabelValues("exists").Inc()
		default:
			v.issued.WithLabelValues("issued").Inc()
			log.Info("VSA issued", "image", sc.Image.String(), "env", sc.Environment, "level", sc.Level.String(),
				"policy", sc.PolicyVersion, "referrer", string(d))
		}
	}
	return errors.Join(errs...)
}

// push issues the VSA for s unless this process already pushed or found it, or it is attached
// (a referrer with the same annotations); it returns the referrer's digest, or "" when it was
// already there. Two replicas racing on the same evaluation may both push: the VSAs are then
// equivalent, and later rescans push no more.
func (v *vsaIssuer) push(ctx context.Context, s vsa.Summary) (evidence.Digest, error) {
	id := strings.Join([]string{string(s.Image.Digest), s.Image.Repository, s.Environment, s.PolicyVersion, s.Level.String()}, "\x00")
	v.mu.Lock()
	known := v.seen[id]
	v.mu.Unlock()
	if known {
		return "", nil
	}
	done, err := vsa.Issued(ctx, v.reg, s)
	if err != nil {
		return "", err
	}
	var d evidence.Digest
	if !done {
		if d, err = v.sign(ctx, s); err != nil {
			return "", err
		}
	}
	v.remember(id)
	return d, nil
}

func (v *vsaIssuer) remember(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) >= maxSeen {
		clear(v.seen)
	}
	v.seen[id] = true
}

// sign signs the VSA for s and pushes it.
func (v *vsaIssuer) sign(ctx context.Context, s vsa.Summary) (evidence.Digest, error) {
	st, err := vsa.Statement(s)
	if err != nil {
		return "", err
	}
	b, err := vsa.Sign(ctx, v.key, st)
	if err != nil {
		return "", err
	}
	return vsa.Push(ctx, v.reg, s, b)
}

// inputAttestations are the documents a decision rests on: verified provenance and SBOMs
// about the artifact, by the digest of the document, at most vsa.MaxInputAttestations.
func inputAttestations(evs []evidence.Evidence) []evidence.Digest {
	var out []evidence.Digest
	for _, e := range evs {
		if (e.Kind == evidence.KindProvenance || e.Kind == evidence.KindSBOM) && e.SubjectMatch &&
			e.Verification.Verified && e.Malformed == "" && e.ID.Validate() == nil {
			out = append(out, e.ID)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), vsa.MaxInputAttestations)]
}
