package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aspmhq/aspm/cmd/aspm/internal/verdict"
	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/github"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/svcmain"
	"github.com/aspmhq/aspm/pkg/verify"
	"github.com/aspmhq/aspm/policies"
)

// trustFlags are the verification and scoring flags aspm verify and aspm scan share.
type trustFlags struct {
	roots, keys, insecure svcmain.List
	rawPayloadKeys        svcmain.List
	identity, issuer      string
	policies, env         string
	output                outputFlag
	minLevel              int
	denyGaps              svcmain.List
	tuf                   bool
	tufURL                string
	githubOrgs            svcmain.List
	githubURL             string
}

type verifyFlags struct {
	trustFlags
	vsa                      vsaFlags
	bundle, digest, artifact string
}

func newVerifyCmd() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify (--bundle FILE | IMAGE@DIGEST)",
		Short: "Verify an artifact's provenance and SBOMs and score its SLSA level, offline",
		Long: `verify checks the evidence for one artifact — a Sigstore bundle file (or a list of them,
as JSON lines or npm's attestations response), a raw DSSE envelope file (VSAs, Google Cloud
Build provenance, older slsa-github-generator .intoto.jsonl), an in-toto statement or an
SBOM, or everything attached to IMAGE@DIGEST in its registry — with sigstore-go, then scores
it with the Rego policies as the scorer would.

Keyless signatures are checked against the embedded Sigstore public-good trusted root unless
--trusted-root is given (repeatable: public-good, staging, a private instance); key-signed ones
against --key. The certificate chain is checked at the time the transparency log or timestamp
authority proves the signature was made, never at "now". Nothing is fetched from the network
except the registry for IMAGE@DIGEST (and the TUF repository with --tuf).

Without --digest or --artifact, the statements' subjects are taken as the artifact and listed.

SLSA verification summary attestations (VSAs) — such as the scorer issues for artifacts that
pass an environment's policy — attached to IMAGE@DIGEST (or given with --bundle and --digest)
are checked with --key: the signature, that the statement names the artifact, the VSA v1
predicate and a PASSED result. --require-vsa, --vsa-env, --vsa-level and --vsa-verifier make
a valid VSA meeting them a condition of success.

Exit codes: 0 when evaluated (and the gate, if any, is met); 1 when --min-level or --deny-gaps
is not met, a required VSA is missing or invalid, or the evidence cannot be read; 2 when the
command line is wrong; 3 when the registry cannot be reached.`,
		Example: `  # A provenance bundle from the Sigstore public-good instance
  aspm verify --bundle provenance.sigstore.json --digest sha256:2892146b…

  # Bind to the artifact file itself, require the signer, and gate CI on L3 without gaps
  aspm verify --bundle app.intoto.jsonl --artifact ./app \
    --issuer https://token.actions.githubusercontent.com \
    --identity '^https://github.com/slsa-framework/slsa-github-generator/' \
    --min-level 3 --deny-gaps subject.mismatch,signature.invalid -o json

  # Everything attached to an image, against a private Sigstore instance
  aspm verify registry.example/acme/app@sha256:… --trusted-root acme=trusted_root.json

  # Admit only what the scorer vouched for in prod at SLSA L3
  aspm verify registry.example/acme/app@sha256:… --key vsa=vsa.pub --vsa-env prod --vsa-level 3`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			image := ""
			if len(args) == 1 {
				image = args[0]
			}
			return runVerify(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), image, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.bundle, "bundle", "", "Sigstore bundle file (or JSON lines / npm attestations) to verify")
	fl.StringVar(&f.digest, "digest", "", "artifact digest ALG:HEX the evidence must be about")
	fl.StringVar(&f.artifact, "artifact", "", "artifact file the evidence must be about (its sha256 is used)")
	f.trustFlags.register(fl)
	f.vsa.register(fl)
	registerOutput(cmd, &f.output, formatText, "the evidence, level, risk and gaps")
	return cmd
}

// register adds the shared flags to fl.
func (f *trustFlags) register(fl *pflag.FlagSet) {
	fl.Var(&f.roots, "trusted-root", "Sigstore trusted_root.json, [NAME=]PATH (repeatable; default: embedded public-good)")
	fl.Var(&f.keys, "key", "PEM public key for key-signed bundles and envelopes, [NAME=]PATH (repeatable)")
	fl.Var(&f.rawPayloadKeys, "raw-payload-key", "key NAME allowed to sign a DSSE raw payload, as Cloud Build's regional keys do (repeatable)")
	fl.StringVar(&f.identity, "identity", "", "regular expression the signer's certificate identity (SAN) must match")
	fl.StringVar(&f.issuer, "issuer", "", "OIDC issuer the signer's certificate must name (with --identity)")
	fl.StringVar(&f.policies, "policies", "", "policy directory or OPA bundle (default: built-in policies)")
	fl.StringVar(&f.env, "env", "prod", "deployment environment whose requirements apply")
	fl.IntVar(&f.minLevel, "min-level", 0, "fail (exit 1) below this SLSA build level")
	fl.Var(&f.denyGaps, "deny-gaps", "fail (exit 1) when any of these gap codes is present (comma-separated)")
	fl.Var(&f.insecure, "insecure-registry", "registry host reached over plain HTTP (repeatable)")
	fl.BoolVar(&f.tuf, "tuf", false, "refresh the public-good trusted root over TUF (needs the network)")
	fl.StringVar(&f.tufURL, "tuf-url", "", "TUF repository URL for --tuf (default: Sigstore public-good)")
	fl.Var(&f.githubOrgs, "github-org", "also ask GitHub's attestations API of this org (repeatable; token from GITHUB_TOKEN)")
	fl.StringVar(&f.githubURL, "github-url", "https://api.github.com", "GitHub API endpoint (Enterprise: https://HOST/api/v3)")
}

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// check validates the shared flags.
func (f *trustFlags) check() error {
	switch {
	case (f.identity == "") != (f.issuer == ""):
		return usagef("--identity and --issuer go together (e.g. --issuer https://token.actions.githubusercontent.com --identity '^https://github.com/org/')")
	case f.minLevel < 0 || f.minLevel > 3:
		return usagef("--min-level %d: want 0 to 3", f.minLevel)
	}
	return nil
}

func (f *verifyFlags) check(image string) error {
	if err := f.trustFlags.check(); err != nil {
		return err
	}
	if err := f.vsa.check(len(f.keys)); err != nil {
		return err
	}
	switch {
	case image == "" && f.bundle == "":
		return usagef("give a bundle file (--bundle FILE) or an image by digest (REGISTRY/REPO@sha256:…)")
	case image != "" && f.bundle != "":
		return usagef("give either --bundle or IMAGE@DIGEST, not both")
	case f.digest != "" && f.artifact != "":
		return usagef("--digest and --artifact both name the artifact; give one")
	case image != "" && (f.digest != "" || f.artifact != ""):
		return usagef("IMAGE@DIGEST already names the artifact; drop --digest/--artifact")
	case f.vsa.require && image == "" && f.digest == "" && f.artifact == "":
		return usagef("checking a VSA file needs the artifact it must be about: --digest or --artifact")
	}
	if f.digest != "" {
		if _, err := evidence.ParseDigest(f.digest); err != nil {
			return usagef("--digest: %v (want e.g. sha256:<64 hex>)", err)
		}
	}
	return nil
}

// verifier builds the verifiers and options from the trust flags.
func (f *trustFlags) verifier(ctx context.Context) (*verify.Verifier, collect.EnvelopeTrust, verify.Options, error) {
	var opts verify.Options
	var roots []verify.NamedRoot
	for _, spec := range f.roots {
		name, path := verify.ParseRootSpec(spec)
		tr, err := verify.LoadTrustedRoot(path)
		if err != nil {
			return nil, collect.EnvelopeTrust{}, opts, usagef("--trusted-root: %v", err)
		}
		roots = append(roots, verify.NamedRoot{Name: name, Material: tr})
	}
	if len(roots) == 0 {
		tr, err := verify.PublicGood()
		if f.tuf {
			tr, err = verify.FetchTrustedRoot(ctx, f.tufURL, "")
		}
		if err != nil {
			return nil, collect.EnvelopeTrust{}, opts, err
		}
		roots = append(roots, verify.NamedRoot{Name: verify.PublicGoodName, Material: tr})
	}
	var keys []verify.TrustedKey
	for _, spec := range f.keys {
		name, path := verify.ParseRootSpec(spec)
		k, err := verify.LoadTrustedKey(name, path)
		if err != nil {
			return nil, collect.EnvelopeTrust{}, opts, usagef("--key: %v", err)
		}
		keys = append(keys, k)
	}
	if f.identity != "" {
		p := verify.IdentityPolicy{Issuer: f.issuer, SANRegex: f.identity}
		if err := p.Validate(); err != nil {
			return nil, collect.EnvelopeTrust{}, opts, usagef("--identity: %v", err)
		}
		opts.Identities = []verify.IdentityPolicy{p}
	}
	v, err := verify.New(roots, keys)
	return v, collect.EnvelopeTrust{Keys: keys, RawPayloadKeys: f.rawPayloadKeys, Roots: roots}, opts, err
}

// checker verifies and scores artifacts with the shared flags.
type checker struct {
	f    *trustFlags
	pol  *policy.Engine
	c    *collect.Collector
	reg  *oci.Client
	opts verify.Options
}

// newChecker builds the verifier, policy, registry client and collector the flags ask for.
func newChecker(ctx context.Context, f *trustFlags, extraInsecure ...string) (*checker, error) {
	v, env, opts, err := f.verifier(ctx)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Load(ctx, policies.FS)
	if f.policies != "" {
		pol, err = policy.LoadPath(ctx, f.policies)
	}
	if err != nil {
		return nil, usagef("--policies: %v", err)
	}
	reg, err := oci.New(oci.Config{Insecure: append(slices.Clone(f.insecure), extraInsecure...)})
	if err != nil {
		return nil, err
	}
	var copts []collect.Option
	if len(f.githubOrgs) > 0 {
		token := os.Getenv("GITHUB_TOKEN")
		if t := os.Getenv("ASPM_GITHUB_TOKEN"); t != "" {
			token = t
		}
		gh, err := github.New(github.Config{BaseURL: f.githubURL, Token: token})
		if err != nil {
			return nil, usagef("--github-url: %v", err)
		}
		copts = append(copts, collect.WithGitHub(gh, f.githubOrgs...))
	}
	return &checker{f: f, pol: pol, c: collect.New(reg, v, env, copts...), reg: reg, opts: opts}, nil
}

// image collects and scores everything attached to img; collection problems are returned
// alongside (the verdict still stands on the evidence that could be read).
func (k *checker) image(ctx context.Context, img evidence.ImageRef) (verdict.Verdict, []string, error) {
	set, err := k.c.Collect(ctx, img, k.opts)
	if err != nil {
		return verdict.Verdict{}, nil, err
	}
	v, err := k.evaluate(ctx, verdict.Artifact{Digest: img.Digest, Repository: img.Repository}, img, set.Evidence)
	return v, set.Errors, err
}

// evaluate scores evs about subject; an empty subject digest takes the first statement
// subject.
func (k *checker) evaluate(ctx context.Context, art verdict.Artifact, subject evidence.ImageRef, evs []evidence.Evidence) (verdict.Verdict, error) {
	if subject.Digest == "" {
		subject.Digest = firstSubject(evs)
	}
	d, err := k.pol.Evaluate(ctx, policy.Input{
		Artifact: subject, Environment: k.f.env, Evidence: evs,
		Deployment: evidence.Deployment{Image: subject, Environment: k.f.env, Org: "cli"},
	})
	if err != nil {
		return verdict.Verdict{}, fmt.Errorf("evaluating policy: %w", err)
	}
	return verdict.New(art, k.f.env, evs, d), nil
}

// gate applies --min-level and --deny-gaps to the verdicts.
func (f *trustFlags) gate(vs ...verdict.Verdict) error {
	g := verdict.Gate{MinLevel: f.minLevel, DenyGaps: f.denyGaps}
	var why []string
	for _, v := range vs {
		for _, w := range g.Check(v) {
			name := string(v.Artifact.Digest)
			if v.Image != "" {
				name = v.Image
			}
			if len(vs) > 1 {
				w = name + ": " + w
			}
			why = append(why, w)
		}
	}
	if len(why) > 0 {
		return errors.New("gate not met: " + strings.Join(why, "; "))
	}
	return nil
}

func runVerify(ctx context.Context, stdout, stderr io.Writer, image string, f verifyFlags) error {
	if err := f.check(image); err != nil {
		return err
	}
	k, err := newChecker(ctx, &f.trustFlags)
	if err != nil {
		return err
	}
	vv, err := vsaVerifier(&f.trustFlags)
	if err != nil {
		return err
	}
	var out verdict.Verdict
	// vsas is nil when VSAs were not looked for: no --key, or a file not about one artifact.
	var vsas []vsaReport
	if image != "" {
		img, err := evidence.ParseImageRef(image)
		if err != nil {
			return usagef("%v", err)
		}
		set, err := k.c.Collect(ctx, img, k.opts)
		if err != nil {
			return err
		}
		for _, p := range set.Errors {
			fmt.Fprintf(stderr, "aspm: warning: %s\n", p)
		}
		if vv != nil {
			if vsas, err = imageVSAs(ctx, k.reg, vv, img, f.vsa.requirement); err != nil {
				return err
			}
			markVSAs(set.Evidence, vsas)
		}
		if out, err = k.evaluate(ctx, verdict.Artifact{Digest: img.Digest, Repository: img.Repository}, img, set.Evidence); err != nil {
			return err
		}
	} else {
		data, err := os.ReadFile(f.bundle)
		if err != nil {
			return usagef("--bundle: %v", err)
		}
		var img evidence.ImageRef
		opts := k.opts
		if f.digest != "" {
			img.Digest = evidence.Digest(f.digest)
		}
		if f.artifact != "" {
			content, err := os.ReadFile(f.artifact)
			if err != nil {
				return usagef("--artifact: %v", err)
			}
			sum := sha256.Sum256(content)
			img.Digest = evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
			opts.Artifact = bytes.NewReader(content)
		} else if img.Digest != "" {
			opts.ArtifactDigest = img.Digest
		}
		evs := k.c.FromDocument(ctx, data, img, opts)
		if f.vsa.require {
			vsas = fileVSA(vv, data, img.Digest, f.vsa.requirement)
			markVSAs(evs, vsas)
		}
		art := verdict.Artifact{Digest: img.Digest}
		// Policies name the artifact by repository; for files, the file names it.
		named := f.bundle
		if f.artifact != "" {
			named = f.artifact
		}
		img.Repository = filepath.Base(named)
		if out, err = k.evaluate(ctx, art, img, evs); err != nil {
			return err
		}
	}
	// With VSAs looked for, the JSON and YAML hold them next to the verdict's fields.
	var data any = out
	if vsas != nil {
		data = withVSAs{Verdict: out, VSAs: vsas}
	}
	err = f.output.write(stdout, data, func(w io.Writer) error {
		if err := verdict.WriteText(w, out); err != nil || (len(vsas) == 0 && !f.vsa.require) {
			return err
		}
		return writeVSAText(w, vsas)
	})
	if err != nil {
		return err
	}
	return errors.Join(f.gate(out), f.vsa.gateVSA(vsas))
}

func firstSubject(evs []evidence.Evidence) evidence.Digest {
	for _, e := range evs {
		if len(e.Subjects) > 0 {
			return e.Subjects[0]
		}
	}
	return ""
}
