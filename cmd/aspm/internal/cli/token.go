package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/pkg/auth"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke API tokens",
		Example: `  aspm token create --name pay-dashboard --org acme --team payments
  aspm token list
  aspm token revoke tok_3f9a0c1b2d4e`,
		Long: `Every API request except /healthz, /readyz and /metrics needs a bearer token. A token
carries scopes (read, write, admin: each includes the ones before it) and is bound to one org
("*" for every org, an operator) and, optionally, to teams and environments within it.

The secret is printed once; the store keeps only its SHA-256. These commands work on the store
directly, for bootstrapping and operators; with an admin token, POST /v1/tokens does the same
over the API.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var (
		name, org     string
		output        outputFlag
		scopes, teams []string
		envs          []string
		ttl           time.Duration
		sf            storeFlags
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --org ORG [--scope read]",
		Short: "Make a token and print its secret (once)",
		Example: `  # A read-only token for the payments team's dashboards
  aspm token create --name pay-dashboard --org acme --team payments

  # A CD system pushing deployments to prod, expiring in 90 days, for scripts
  TOKEN=$(aspm token create --name deployer --org acme --scope write --env prod --ttl 2160h -o json | jq -r .token)

  # An operator's admin token for every org, in the ClickHouse store
  aspm token create --name ops --org '*' --scope admin --store clickhouse --clickhouse-addr ch:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || org == "" {
				return fmt.Errorf("%w: --name and --org are required (--org '*' binds the token to every org)", errUsage)
			}
			var sc []auth.Scope
			for _, s := range scopes {
				p, err := auth.ParseScope(s)
				if err != nil {
					return fmt.Errorf("%w: --scope: %w", errUsage, err)
				}
				sc = append(sc, p)
			}
			if ttl < 0 {
				return fmt.Errorf("%w: --ttl must be positive", errUsage)
			}
			secret, tok, err := auth.New(name, sc, org, teams, envs, ttl, time.Now())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.PutToken(cmd.Context(), tok); err != nil {
				return fmt.Errorf("storing the token: %w", err)
			}
			data := struct {
				Token  string     `json:"token"`
				Record auth.Token `json:"record"`
			}{secret, tok}
			return output.write(cmd.OutOrStdout(), data, func(out io.Writer) error {
				fmt.Fprintf(out, "%s\n", secret)
				fmt.Fprintf(cmd.ErrOrStderr(), "Made token %s (%s): scopes %s, %s. The secret above is shown once; store it now.\n",
					tok.ID, tok.Name, joinScopes(tok.Scopes), binding(tok))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "what the token is for, shown in listings and logs")
	f.StringVar(&org, "org", "", `org the token is bound to; "*" for every org`)
	f.StringSliceVar(&scopes, "scope", []string{"read"}, "scopes: read, write (push deployments, rescan), admin (tokens)")
	f.StringSliceVar(&teams, "team", nil, "only these teams within the org (repeat or comma-separate)")
	f.StringSliceVar(&envs, "env", nil, "only these environments (repeat or comma-separate)")
	f.DurationVar(&ttl, "ttl", 0, "expire after this long, e.g. 720h (default: never)")
	registerOutput(cmd, &output, formatText, "the secret alone on stdout")
	sf.register(f)
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var (
		output outputFlag
		sf     storeFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Example: `  aspm token list
  aspm token list --store clickhouse --clickhouse-addr ch:9000 -o yaml

  # Tokens that expire within a week
  aspm token list -o json | jq '.[] | select(.expires_at != null) | {id, name, expires_at}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			toks, err := st.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if toks == nil {
				toks = []auth.Token{}
			}
			return output.write(cmd.OutOrStdout(), toks, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tBINDING\tCREATED\tSTATUS")
				now := time.Now()
				for _, t := range toks {
					status := "active"
					if err := t.Usable(now); err != nil {
						status = map[bool]string{true: "revoked", false: "expired"}[t.RevokedAt != nil]
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, joinScopes(t.Scopes), binding(t),
						t.CreatedAt.Format(time.DateOnly), status)
				}
				return tw.Flush()
			})
		},
	}
	registerOutput(cmd, &output, formatTable, "one line per token")
	sf.register(cmd.Flags())
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:               "revoke ID",
		Short:             "Revoke a token: requests with it get 401 from now on",
		Example:           `  aspm token revoke tok_3f9a0c1b2d4e`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: storeIDs(&sf, tokenIDs),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			toks, err := st.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			for _, t := range toks {
				if t.ID != args[0] {
					continue
				}
				if t.RevokedAt != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s was already revoked at %s\n", t.ID, t.RevokedAt.Format(time.RFC3339))
					return nil
				}
				now := time.Now().UTC().Truncate(time.Second)
				t.RevokedAt = &now
				if err := st.PutToken(cmd.Context(), t); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s)\n", t.ID, t.Name)
				return nil
			}
			return fmt.Errorf("%w: no token %q (aspm token list shows them)", errUsage, args[0])
		},
	}
	sf.register(cmd.Flags())
	return cmd
}

func joinScopes(sc []auth.Scope) string {
	s := make([]string, len(sc))
	for i, v := range sc {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

// binding describes what a token may see.
func binding(t auth.Token) string {
	b := "org " + t.Org
	if t.Org == "*" {
		b = "every org"
	}
	if len(t.Teams) > 0 {
		b += ", teams " + strings.Join(t.Teams, ",")
	}
	if len(t.Environments) > 0 {
		b += ", envs " + strings.Join(t.Environments, ",")
	}
	return b
}
