package cli

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/policies"
)

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Compliance reports: NIST SSDF (SP 800-218) and FedRAMP (SP 800-53 Rev. 5) from the evidence",
		Long: `A report assesses the deployed artifacts of one org against a framework's requirements:
each SSDF task or SP 800-53 control with its status (satisfied when every deployed artifact
meets it, partially when some do, not satisfied when none do or nothing is deployed), its
evidence counts, the failing artifacts and the exceptions that accept its gaps; the FedRAMP
report gives each control's FedRAMP Rev. 5 baselines, and both list the accepted weaknesses.

What evidences a requirement is the absence of the gap codes that the policy's gap catalogue
(data/gap_catalogue.json) maps to it, plus evidence rules for tasks it does not name: an SBOM
inventory, verified provenance, policy evaluation in every environment.

The report is of the store's current state, as of the end of the window (--to): exceptions
are those active then, and every time in the output comes from the window, so the same data
and window give byte-identical output. The window defaults to the 30 days ending at the start
of the current UTC day; give --to explicitly to count exceptions created since.

Formats, chosen with --format or its short form -o: json, csv, html (a printable page),
oscal-ar (OSCAL 1.1.2 assessment-results, which imports the plan as assessment-plan.json),
oscal-ap (that assessment-plan) and oscal-poam (a plan of action and milestones of the open
and accepted weaknesses). Unlike other commands' -o, there is no yaml or table: --out names
the file to write.`,
		Example: `  aspm report ssdf --org acme -o html --out ssdf.html
  aspm report fedramp --org acme --format oscal-poam --out poam.json`,
	}
	cmd.AddCommand(newReportFrameworkCmd(report.SSDF, "the NIST SSDF (SP 800-218 v1.1) tasks"),
		newReportFrameworkCmd(report.FedRAMP, "the SP 800-53 Rev. 5 supply-chain controls with their FedRAMP baselines"))
	return cmd
}

// parseWhen reads a report time: a date (2026-11-01, its midnight UTC) or an RFC 3339 time.
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s %q: want a date (2026-11-01) or an RFC 3339 time", errUsage, flag, s)
	}
	return t.UTC(), nil
}

func newReportFrameworkCmd(framework, what string) *cobra.Command {
	var (
		org, team, env, format, out, fromS, toS, policyDir string
		sf                                                 storeFlags
	)
	cmd := &cobra.Command{
		Use:   framework + " --org ORG [--format json] [--from DATE --to DATE] [--out FILE]",
		Short: "Report on " + what,
		Example: fmt.Sprintf(`  # A printable page for acme, as of the start of today (UTC)
  aspm report %[1]s --org acme --format html --out %[1]s.html

  # OSCAL assessment results for October, with the plan they import next to them
  aspm report %[1]s --org acme --from 2026-10-01 --to 2026-11-01 --format oscal-ar --out assessment-results.json
  aspm report %[1]s --org acme --from 2026-10-01 --to 2026-11-01 --format oscal-ap --out assessment-plan.json

  # A POA&M of the payments team's prod weaknesses, from ClickHouse
  aspm report %[1]s --org acme --team payments --env prod --format oscal-poam --store clickhouse --clickhouse-addr ch:9000`, framework),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return fmt.Errorf("%w: --org is required", errUsage)
			}
			if !slices.Contains(report.Formats, format) {
				return fmt.Errorf("%w: --format %q: want one of %s", errUsage, format, strings.Join(report.Formats, ", "))
			}
			from, err := parseWhen("from", fromS)
			if err != nil {
				return err
			}
			to, err := parseWhen("to", toS)
			if err != nil {
				return err
			}
			q := report.Query{Framework: framework, Org: org, Team: team, Environment: env, From: from, To: to}.WithDefaults(time.Now())
			if err := q.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			var pfs fs.FS = policies.FS
			if policyDir != "" {
				pfs = os.DirFS(policyDir)
			}
			m, err := report.LoadMapping(pfs)
			if err != nil {
				return err
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := report.Build(cmd.Context(), m, st, st, q)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			var f *os.File
			if out != "" && out != "-" {
				if f, err = os.Create(out); err != nil {
					return fmt.Errorf("writing the report: %w", err)
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			if err := report.Render(bw, r, format); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
			if f != nil {
				if err := f.Close(); err != nil {
					return fmt.Errorf("writing the report: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %d requirements, %d satisfied, %d partially, %d not satisfied, %d artifacts\n",
					out, r.Summary.Requirements, r.Summary.Satisfied, r.Summary.PartiallySatisfied, r.Summary.NotSatisfied, r.Summary.Artifacts)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "the org to report on (required)")
	f.StringVar(&team, "team", "", "only this team's deployments")
	f.StringVar(&env, "env", "", "only this environment's deployments")
	f.StringVarP(&format, "format", "o", report.FormatJSON, "report format: json, csv, html, oscal-ar, oscal-ap or oscal-poam")
	f.StringVar(&fromS, "from", "", "the window's start: a date or RFC 3339 time (default: 30 days before --to)")
	f.StringVar(&toS, "to", "", "the window's end, as of which exceptions count (default: the start of today, UTC)")
	f.StringVar(&out, "out", "", "write the report to this file (default: standard output)")
	f.StringVar(&policyDir, "policies", "", "a policy directory whose data/gap_catalogue.json to use (default: the built-in policies)")
	sf.register(f)
	return cmd
}
