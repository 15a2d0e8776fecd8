package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/aspmhq/aspm/cmd/aspm/internal/verdict"
	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/verify"
	"github.com/aspmhq/aspm/pkg/vsa"
)

// vsaFlags are aspm verify's flags for SLSA verification summary attestations.
type vsaFlags struct {
	require     bool
	env         string
	level       int
	verifierID  string
	requirement vsa.Requirements
}

func (f *vsaFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.require, "require-vsa", false, "fail (exit 1) unless a VSA signed by a --key verifies for the artifact")
	fl.StringVar(&f.env, "vsa-env", "", "require a VSA issued for this environment (implies --require-vsa)")
	fl.IntVar(&f.level, "vsa-level", 0, "require a VSA stating at least this SLSA build level (implies --require-vsa)")
	fl.StringVar(&f.verifierID, "vsa-verifier", "", "require a VSA from this verifier.id (implies --require-vsa)")
}

// check validates the flags; keys are the --key values.
func (f *vsaFlags) check(keys int) error {
	if f.level < 0 || f.level > 3 {
		return usagef("--vsa-level %d: want 0 to 3", f.level)
	}
	if f.env != "" || f.level > 0 || f.verifierID != "" {
		f.require = true
	}
	if f.require && keys == 0 {
		return usagef("checking VSAs needs the public key they are signed with: --key NAME=PUB.pem")
	}
	f.requirement = vsa.Requirements{VerifierID: f.verifierID, Environment: f.env, MinLevel: evidence.Level(f.level)}
	return nil
}

// vsaReport is one VSA found for the artifact and what checking it gave.
type vsaReport struct {
	Referrer evidence.Digest `json:"referrer,omitempty"`
	// Document is the bundle's digest, as the evidence list names it.
	Document evidence.Digest `json:"document,omitempty"`
	Source   string          `json:"source"`
	// Valid is true when the VSA verified and met the requirements.
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	// VSA is what the VSA states, when its signature verified.
	VSA *vsa.Result `json:"vsa,omitempty"`
}

// vsaVerifier builds the VSA verifier from the --key values; nil when there are none.
func vsaVerifier(f *trustFlags) (*vsa.Verifier, error) {
	var keys []vsa.PublicKey
	for _, spec := range f.keys {
		name, path := verify.ParseRootSpec(spec)
		k, err := verify.LoadTrustedKey(name, path)
		if err != nil {
			return nil, usagef("--key: %v", err)
		}
		keys = append(keys, vsa.PublicKey{Name: k.Name, Key: k.PublicKey})
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return vsa.NewVerifier(keys...)
}

// checkVSA verifies one VSA bundle about d; the error is Verify's.
func checkVSA(v *vsa.Verifier, data []byte, d evidence.Digest, req vsa.Requirements) (vsaReport, error) {
	var r vsaReport
	res, err := v.Verify(data, d, req)
	if res.Key != "" {
		r.VSA = &res
	}
	if err != nil {
		r.Error = err.Error()
		return r, err
	}
	r.Valid = true
	return r, nil
}

// imageVSAs finds and checks the VSAs attached to img. Referrers that turn out to hold
// another predicate are left out.
func imageVSAs(ctx context.Context, reg *oci.Client, v *vsa.Verifier, img evidence.ImageRef, req vsa.Requirements) ([]vsaReport, error) {
	found, err := vsa.Find(ctx, reg, img)
	if err != nil {
		return nil, err
	}
	out := []vsaReport{}
	for _, f := range found {
		r := vsaReport{Referrer: f.Attachment.Digest, Source: f.Attachment.Source}
		if len(f.Attachment.Layers) == 1 {
			r.Document = f.Attachment.Layers[0].Digest
		}
		if f.Err != nil {
			r.Error = f.Err.Error()
			out = append(out, r)
			continue
		}
		c, err := checkVSA(v, f.Bundle, img.Digest, req)
		if errors.Is(err, vsa.ErrNotVSA) {
			continue
		}
		c.Referrer, c.Document, c.Source = r.Referrer, r.Document, r.Source
		out = append(out, c)
	}
	return out, nil
}

// markVSAs records on the evidence the signature checks of the VSAs in rs. The collector
// holds keyed bundles to a timestamp or log entry proving when they were signed, which the
// scorer's offline VSAs lack; their signatures are checked by the VSA verifier instead.
func markVSAs(evs []evidence.Evidence, rs []vsaReport) {
	for i, e := range evs {
		if e.PredicateType != vsa.PredicateType {
			continue
		}
		for _, r := range rs {
			if r.Document == e.ID && r.VSA != nil {
				evs[i].Verification = evidence.Verification{
					Verified: true, Signer: &evidence.Signer{Type: evidence.SignatureKey, Identity: r.VSA.Key},
				}
			}
		}
	}
}

// fileVSA checks a VSA bundle file about d.
func fileVSA(v *vsa.Verifier, data []byte, d evidence.Digest, req vsa.Requirements) []vsaReport {
	r, _ := checkVSA(v, data, d, req)
	sum := sha256.Sum256(data)
	r.Source, r.Document = collect.SourceFile, evidence.Digest("sha256:"+hex.EncodeToString(sum[:]))
	return []vsaReport{r}
}

// gateVSA fails when a VSA is required and none is valid.
func (f *vsaFlags) gateVSA(rs []vsaReport) error {
	if !f.require {
		return nil
	}
	for _, r := range rs {
		if r.Valid {
			return nil
		}
	}
	if len(rs) == 0 {
		return errors.New("gate not met: no VSA is attached to the artifact")
	}
	return fmt.Errorf("gate not met: none of the %d VSAs found is valid and meets the requirements", len(rs))
}

// writeVSAText writes the VSAs for people, after the verdict.
func writeVSAText(w io.Writer, rs []vsaReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rs) == 0 {
		fmt.Fprintf(tw, "\nVSA\tnone found\n")
	}
	for i, r := range rs {
		name := string(r.Referrer)
		if name == "" {
			name = "(file)"
		}
		fmt.Fprintf(tw, "\nVSA %d\t%s (%s)\n", i+1, name, r.Source)
		status := "valid"
		switch {
		case !r.Valid && r.VSA != nil:
			status = "signature verified, but not what is required: " + r.Error
		case !r.Valid:
			status = "NOT valid: " + r.Error
		}
		fmt.Fprintf(tw, "  status\t%s\n", status)
		if r.VSA != nil {
			fmt.Fprintf(tw, "  result\t%s, %s in %s\n", r.VSA.Result, vsa.LevelName(r.VSA.Level), r.VSA.Environment)
			fmt.Fprintf(tw, "  verifier\t%s (key %s)\n", r.VSA.VerifierID, r.VSA.Key)
			if r.VSA.TimeVerified != nil {
				fmt.Fprintf(tw, "  verified at\t%s\n", r.VSA.TimeVerified.UTC().Format("2006-01-02T15:04:05Z"))
			}
			fmt.Fprintf(tw, "  policy\t%s\n", r.VSA.PolicyURI)
		}
	}
	return tw.Flush()
}

// withVSAs is the JSON output of aspm verify when VSAs were looked for: the verdict's fields
// and the VSAs.
type withVSAs struct {
	verdict.Verdict
	VSAs []vsaReport `json:"vsas"`
}
