package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/cmd/aspm/internal/simulate"
	"github.com/aspmhq/aspm/pkg/policy"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with the Rego scoring policies",
		Example: `  aspm policy test policies/
  aspm policy simulate --policies /tmp/candidate --env prod`,
	}
	var verbose bool
	test := &cobra.Command{
		Use:   "test DIR",
		Short: "Run the policy unit tests (*_test.rego) in DIR with OPA's test runner",
		Long: `test runs every test rule in DIR's *_test.rego files against DIR's policies and data, the
way 'opa test' does, with no OPA binary needed. It exits 1 when a test fails or errors.`,
		Example: `  aspm policy test policies/
  aspm policy test -v ./my-policies`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
				return fmt.Errorf("%w: %s is not a directory", errUsage, args[0])
			}
			sum, err := policy.RunTests(cmd.Context(), os.DirFS(args[0]), cmd.OutOrStdout(), verbose)
			if err != nil {
				return err
			}
			if sum.Failed > 0 || sum.Errored > 0 {
				return fmt.Errorf("policy tests: %d passed, %d failed, %d errored", sum.Passed, sum.Failed, sum.Errored)
			}
			return nil
		},
	}
	test.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every test, not only failures")
	cmd.AddCommand(test, newSimulateCmd())
	return cmd
}

func newSimulateCmd() *cobra.Command {
	var (
		policyPath, env string
		output          outputFlag
		sf              storeFlags
	)
	cmd := &cobra.Command{
		Use:   "simulate --policies DIR",
		Short: "Re-score the stored evidence with a candidate policy and show what would change",
		Long: `simulate re-scores the stored evidence of every running artifact with a candidate policy
(a directory or OPA bundle), writes nothing, and prints per environment how many artifacts
would gain or lose each level and each gap, and which artifacts change — the blast radius of a
policy change before you roll it out.

It reads the store aspm up writes (SQLite in --data-dir, or ClickHouse with --store clickhouse).`,
		Example: `  # What if prod only required L2?
  cp -r policies /tmp/candidate && $EDITOR /tmp/candidate/data/environments.json
  aspm policy simulate --policies /tmp/candidate --env prod

  # Against the production store, as JSON
  aspm policy simulate --policies ./policies --store clickhouse --clickhouse-addr ch:9000 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if policyPath == "" {
				return fmt.Errorf("%w: --policies DIR is required: the candidate policy to simulate", errUsage)
			}
			pol, err := policy.LoadPath(ctx, policyPath)
			if err != nil {
				return fmt.Errorf("%w: --policies: %w", errUsage, err)
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			src := countingSource{Source: st, stage: "re-scoring artifacts", out: cmd.ErrOrStderr()}
			res, err := simulate.Run(ctx, src, pol, env)
			if err != nil {
				return err
			}
			return output.write(cmd.OutOrStdout(), res, func(w io.Writer) error { return simulate.WriteText(w, res) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyPath, "policies", "", "candidate policy directory or OPA bundle (.tar.gz)")
	f.StringVar(&env, "env", "", "only this environment (default: all)")
	registerOutput(cmd, &output, formatText, "per environment, levels and gaps now and with the candidate")
	sf.register(f)
	return cmd
}
