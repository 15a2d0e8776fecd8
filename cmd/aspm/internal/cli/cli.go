// Package cli is the aspm command line: `aspm up` runs the pipeline in one process,
// `aspm policy test` runs the Rego policy tests, `aspm version` says what this build is.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aspmhq/aspm/pkg/svcmain"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and found a failure (e.g. a policy test failed)
	ExitUsage   = 2 // the command line was wrong
)

// errUsage marks errors in how the command was called.
var errUsage = errors.New("usage")

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "aspm: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "aspm: %v\n", err)
		return ExitFailure
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "aspm",
		Short: "Software supply-chain provenance: collect, verify and score what you deploy",
		Long: `aspm collects the attestations and SBOMs attached to deployed artifacts, verifies them
with Sigstore, scores each artifact's SLSA build level and provenance gaps with Rego policies,
and serves the results as a dashboard and a REST API.

Every flag can also be set with an ASPM_* environment variable: --data-dir is ASPM_DATA_DIR.
Flags win over the environment.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	root.AddCommand(newUpCmd(), newVerifyCmd(), newScanCmd(), newPolicyCmd(), newTokenCmd(), newExceptionCmd(), newReportCmd(), newDemoCmd(), newBenchCmd(), newVersionCmd())
	return root
}

// applyEnv sets every flag not given on the command line from its ASPM_* variable.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		if v, ok := os.LookupEnv(svcmain.EnvName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%w: environment %s=%q: %w", errUsage, svcmain.EnvName(f.Name), v, serr)
			}
		}
	})
	return err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "aspm %s\n", v)
			return nil
		},
	}
}
