package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/backend"
)

// flagChoices are the values of the flags that take one of a fixed set, for shell
// completion. -o/--output registers its own (registerOutput).
var flagChoices = map[string][]string{
	"store":      {backend.SQLite, backend.ClickHouse},
	"log-level":  {"debug", "info", "warn", "error"},
	"log-format": {"text", "json"},
	"format":     report.Formats,
	"state":      {store.ExceptionStateActive, store.ExceptionStateExpired, store.ExceptionStateRevoked, "all"},
	"scope":      {string(auth.ScopeRead), string(auth.ScopeWrite), string(auth.ScopeAdmin)},
	"min-level":  {"0", "1", "2", "3"},
	"vsa-level":  {"0", "1", "2", "3"},
}

// dirFlags name directories; completion offers directories only.
var dirFlags = []string{"data-dir", "trust-dir", "token-dir", "work-dir"}

// registerCompletions walks the tree under cmd and registers the completions of the flags
// in flagChoices and dirFlags; commands that take no file arguments complete none.
func registerCompletions(cmd *cobra.Command) {
	for name, choices := range flagChoices {
		if cmd.LocalFlags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	for _, name := range dirFlags {
		if cmd.LocalFlags().Lookup(name) != nil {
			_ = cmd.MarkFlagDirname(name)
		}
	}
	if cmd.Runnable() && cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = cobra.NoFileCompletions
	}
	for _, c := range cmd.Commands() {
		registerCompletions(c)
	}
}

// storeIDs completes a command's ID argument with what list finds in the store the command's
// flags, environment and config file name. A store that cannot be opened within a couple of
// seconds completes nothing.
func storeIDs(sf *storeFlags, list func(context.Context, store.Store) ([]cobra.Completion, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if err := applySettings(cmd); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		st, err := sf.open(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer st.Close()
		ids, err := list(ctx, st)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}

// tokenIDs lists the tokens not revoked, described by name.
func tokenIDs(ctx context.Context, st store.Store) ([]cobra.Completion, error) {
	toks, err := st.Tokens(ctx)
	var ids []cobra.Completion
	for _, t := range toks {
		if t.RevokedAt == nil {
			ids = append(ids, cobra.CompletionWithDesc(t.ID, t.Name+", "+binding(t)))
		}
	}
	return ids, err
}

// exceptionIDs lists the exceptions in state (every one when state is empty), described by
// code and scope.
func exceptionIDs(state string) func(context.Context, store.Store) ([]cobra.Completion, error) {
	return func(ctx context.Context, st store.Store) ([]cobra.Completion, error) {
		exs, err := st.Exceptions(ctx, store.ExceptionQuery{})
		now := time.Now()
		var ids []cobra.Completion
		for _, e := range exs {
			if state == "" || e.State(now) == state {
				ids = append(ids, cobra.CompletionWithDesc(e.ID, e.Code+" for "+describeScope(e.Scope)+" in "+e.Org))
			}
		}
		return ids, err
	}
}
