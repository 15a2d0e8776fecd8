package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/pkg/policy"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with the Rego scoring policies",
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
	cmd.AddCommand(test)
	return cmd
}
