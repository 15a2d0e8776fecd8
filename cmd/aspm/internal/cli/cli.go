// Package cli is the aspm command line: `aspm up` runs the pipeline in one process,
// `aspm verify` and `aspm scan` check evidence, `aspm policy test` runs the Rego policy
// tests, `aspm version` says what this build is. Settings come from flags, ASPM_*
// variables and a YAML config file (config.go); data is printed as a table, JSON or YAML
// (output.go).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, documented in aspm --help.
const (
	ExitOK          = 0
	ExitFailure     = 1 // the command ran and found a failure (a gate not met, a policy test failed) or broke
	ExitUsage       = 2 // the command line, the environment or the config file was wrong
	ExitUnavailable = 3 // a service the command needs (ClickHouse, a registry, NATS) could not be reached
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
	if err != nil {
		fmt.Fprintf(stderr, "aspm: %v\n", err)
	}
	return exitCode(err)
}

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) int {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		return ExitUsage
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial":
		return ExitUnavailable
	default:
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

Settings: every flag can be given on the command line, as an ASPM_* environment variable
(--data-dir is ASPM_DATA_DIR) or in the config file, and the first of these that sets it
wins: flag, then environment, then config file, then the flag's default.

Config file: --config FILE (or $ASPM_CONFIG; --config '' reads none), by default
$XDG_CONFIG_HOME/aspm/config.yaml (~/.config/aspm/config.yaml) when it exists. It is YAML,
keyed by flag name without the dashes. A key at the top level sets that flag for every
command that has it; a mapping under a command's name (nested for subcommands) sets it for
that command only, and wins over the top level. A list sets a repeatable flag. A key that is
no flag of any command, or a section that is no command, is an error (exit 2):

  store: clickhouse            # every command with --store
  clickhouse-addr: [ch-1:9000, ch-2:9000]
  data-dir: /var/lib/aspm
  token:
    create:
      org: acme                # aspm token create only
      scope: [read, write]
  verify:
    trusted-root: [acme=/etc/aspm/trusted_root.json]

Output: commands that print data take -o table (or text: for people, the default), json or
yaml; YAML has the same fields as JSON. aspm report takes its formats with --format (-o).
Progress is drawn on stderr only when stderr is a terminal, never into pipes or files.

Shell completion: aspm completion bash|zsh|fish|powershell prints the script; see
aspm completion bash --help.

Exit codes:
  0  success
  1  the command ran and found a failure — a --min-level/--deny-gaps/VSA gate not met, a
     policy test failed — or could not finish
  2  usage: an unknown command or flag, a bad flag value, a bad ASPM_* variable or config key
  3  a service the command needs (ClickHouse, a registry, NATS) could not be reached`,
		Example: `  # Everything embedded, with demo data, then the dashboard on http://127.0.0.1:8080
  aspm up --demo

  # Gate a CI job on verified SLSA L3 provenance
  aspm verify --bundle app.intoto.jsonl --artifact ./app --min-level 3

  # Use ClickHouse for every store command, from the environment
  export ASPM_STORE=clickhouse ASPM_CLICKHOUSE_ADDR=ch:9000
  aspm token list -o yaml

  # Bash completion for this shell
  source <(aspm completion bash)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch cmd.Name() {
			case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
				// Help and the shell's completion work with a broken config file too.
				return applyEnv(cmd.Flags())
			}
			return applySettings(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	root.PersistentFlags().String(configFlag, "", "config file (default $XDG_CONFIG_HOME/aspm/config.yaml when it exists; '' for none)")
	_ = root.MarkPersistentFlagFilename(configFlag, "yaml", "yml")
	root.AddCommand(newUpCmd(), newVerifyCmd(), newScanCmd(), newPolicyCmd(), newTokenCmd(), newExceptionCmd(), newReportCmd(), newDemoCmd(), newBenchCmd(), newVersionCmd())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	argsAreUsage(root)
	registerCompletions(root)
	return root
}

// argsAreUsage makes wrong arguments usage errors (exit 2) throughout the tree under cmd: an
// unknown subcommand of a command that has subcommands — which prints its help when given
// none — and arguments a command's Args rejects.
func argsAreUsage(cmd *cobra.Command) {
	switch {
	case cmd.HasSubCommands():
		cmd.SuggestionsMinimumDistance = 2
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			return fmt.Errorf("%w: %s; see %s --help", errUsage, msg, cmd.CommandPath())
		}
		if !cmd.Runnable() {
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	case cmd.Args != nil:
		check := cmd.Args
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		argsAreUsage(c)
	}
}

// buildInfo is what aspm version prints.
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the build had uncommitted changes.
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// readBuildInfo describes this binary from the build information Go embeds.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func newVersionCmd() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build: version, commit, Go version and platform",
		Example: `  aspm version
  aspm version -o json | jq -r .commit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			return output.write(cmd.OutOrStdout(), b, func(w io.Writer) error {
				line := "aspm " + b.Version
				if b.Commit != "" {
					line += " (commit " + b.Commit
					if b.Modified {
						line += ", modified"
					}
					line += ")"
				}
				_, err := fmt.Fprintf(w, "%s %s %s/%s\n", line, b.GoVersion, b.OS, b.Arch)
				return err
			})
		},
	}
	registerOutput(cmd, &output, formatText, "one line")
	return cmd
}
