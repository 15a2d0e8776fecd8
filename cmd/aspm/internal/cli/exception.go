package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

func newExceptionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "exception",
		Aliases: []string{"exceptions"},
		Short:   "Accept risks: exceptions for gaps, with an owner, a reason, an expiry and an audit log",
		Long: `An exception accepts the gaps of one code within a scope — an artifact (--digest), image
repositories (--repository, '*' matching any run of characters), a team, an environment; at
least one — for a reason, with an owner, until an expiry (at most 366 days ahead). Accepted
gaps stay in the gap feed, marked, but do not count in coverage's with_gaps until the
exception expires or is revoked. Every change is kept in the audit log with who made it.

These commands work on the store directly, like aspm token; with a write token,
POST /v1/exceptions and its siblings do the same over the API.`,
		Example: `  aspm exception create --org acme --code sbom.missing --env dev \
    --reason "SBOMs for dev arrive with the Q3 pipeline" --owner alice@acme.example --ttl 90d
  aspm exception list --org acme
  aspm exception audit --org acme -o yaml`,
	}
	cmd.AddCommand(newExceptionCreateCmd(), newExceptionListCmd(), newExceptionShowCmd(), newExceptionRenewCmd(),
		newExceptionRevokeCmd(), newExceptionAuditCmd())
	return cmd
}

// defaultActor names the person running the CLI for the audit log: cli:user@host.
func defaultActor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host != "" {
		return "cli:" + name + "@" + host
	}
	return "cli:" + name
}

// expiryFlags are --ttl and --expires.
type expiryFlags struct{ ttl, expires string }

func (e *expiryFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.ttl, "ttl", "", "how long the exception runs: days (30d) or a duration (720h)")
	cmd.Flags().StringVar(&e.expires, "expires", "", "when the exception expires: a date (2027-03-31) or an RFC 3339 time")
}

// resolve returns the expiry the flags give, relative to now; set is false when neither is
// given.
func (e expiryFlags) resolve(now time.Time) (exp time.Time, set bool, err error) {
	switch {
	case e.ttl != "" && e.expires != "":
		return time.Time{}, false, fmt.Errorf("%w: give --ttl or --expires, not both", errUsage)
	case e.ttl != "":
		d, err := store.ParseTTL(e.ttl)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%w: --%w", errUsage, err)
		}
		exp = now.Add(d)
	case e.expires != "":
		t, err := time.Parse(time.DateOnly, e.expires)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, e.expires); err != nil {
				return time.Time{}, false, fmt.Errorf("%w: --expires %q: want a date (2027-03-31) or an RFC 3339 time", errUsage, e.expires)
			}
		}
		exp = t.UTC()
	default:
		return time.Time{}, false, nil
	}
	if err := store.CheckExpiry(exp, now); err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %w", errUsage, err)
	}
	return exp, true, nil
}

func newExceptionCreateCmd() *cobra.Command {
	var (
		org, code, reason, owner, actor string
		output                          outputFlag
		scope                           store.ExceptionScope
		digest                          string
		exp                             expiryFlags
		sf                              storeFlags
	)
	cmd := &cobra.Command{
		Use:   "create --org ORG --code CODE SCOPE --reason TEXT --owner WHO --ttl 30d",
		Short: "Accept the gaps of one code within a scope until an expiry",
		Example: `  # Dev images get SBOMs with next quarter's pipeline
  aspm exception create --org acme --code sbom.missing --env dev \
    --reason "SBOMs for dev arrive with the Q3 pipeline (PLAT-311)" --owner alice@acme.example --ttl 90d

  # One legacy artifact in prod, until a date
  aspm exception create --org acme --code provenance.missing --digest sha256:3f9a… \
    --reason "vendor image; vendor ships provenance in 4.2" --owner bob@acme.example --expires 2027-03-31

  # Every payments image, in the ClickHouse store
  aspm exception create --org acme --code builder.untrusted --repository 'registry.acme.example/payments/*' \
    --reason "self-hosted builder under review" --owner secops@acme.example --ttl 30d --store clickhouse`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" || code == "" || reason == "" || owner == "" {
				return fmt.Errorf("%w: --org, --code, --reason and --owner are required", errUsage)
			}
			scope.Digest = evidence.Digest(digest)
			now := time.Now().UTC()
			expires, ok, err := exp.resolve(now)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: an expiry is required: --ttl 30d or --expires 2027-03-31", errUsage)
			}
			c := store.ExceptionChange{At: now, Actor: actor, Action: store.ExceptionCreated, Exception: store.Exception{
				ID: store.NewExceptionID(), Org: org, Code: code, Scope: scope, Reason: strings.TrimSpace(reason),
				Owner: strings.TrimSpace(owner), ExpiresAt: expires, CreatedAt: now, CreatedBy: actor,
				UpdatedAt: now, Version: now.UnixNano(),
			}}
			if err := c.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.WriteExceptionChange(cmd.Context(), c); err != nil {
				return err
			}
			return output.write(cmd.OutOrStdout(), c.Exception, func(w io.Writer) error {
				fmt.Fprintf(w, "%s\n", c.Exception.ID)
				fmt.Fprintf(cmd.ErrOrStderr(), "Accepted %s for %s in %s until %s (owner %s).\n", code, describeScope(scope), org,
					expires.Format(time.RFC3339), owner)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "the org accepting the risk")
	f.StringVar(&code, "code", "", "the gap code accepted, e.g. sbom.missing (see docs on the gap catalogue)")
	f.StringVar(&digest, "digest", "", "scope: one artifact, by digest")
	f.StringVar(&scope.Repository, "repository", "", "scope: image repositories, '*' matching any run of characters")
	f.StringVar(&scope.Team, "team", "", "scope: one team")
	f.StringVar(&scope.Environment, "env", "", "scope: one environment")
	f.StringVar(&reason, "reason", "", "why the risk is accepted (kept with the exception and in reports)")
	f.StringVar(&owner, "owner", "", "who answers for the exception")
	f.StringVar(&actor, "actor", defaultActor(), "who makes the change, for the audit log")
	registerOutput(cmd, &output, formatText, "the id alone on stdout")
	exp.register(cmd)
	sf.register(f)
	return cmd
}

// describeScope says in words what scope takes in.
func describeScope(s store.ExceptionScope) string {
	var parts []string
	if s.Digest != "" {
		parts = append(parts, "artifact "+string(s.Digest))
	}
	if s.Repository != "" {
		parts = append(parts, "repository "+s.Repository)
	}
	if s.Team != "" {
		parts = append(parts, "team "+s.Team)
	}
	if s.Environment != "" {
		parts = append(parts, "env "+s.Environment)
	}
	return strings.Join(parts, ", ")
}

func newExceptionListCmd() *cobra.Command {
	var (
		org, state string
		output     outputFlag
		sf         storeFlags
	)
	cmd := &cobra.Command{
		Use:   "list [--org ORG] [--state active|expired|revoked|all]",
		Short: "List exceptions (active ones by default)",
		Example: `  aspm exception list --org acme
  aspm exception list --state all -o json | jq '.[] | select(.state == "expired")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch state {
			case store.ExceptionStateActive, store.ExceptionStateExpired, store.ExceptionStateRevoked, "all":
			default:
				return fmt.Errorf("%w: --state %q: want active, expired, revoked or all", errUsage, state)
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			exs, err := st.Exceptions(cmd.Context(), store.ExceptionQuery{Org: org})
			if err != nil {
				return err
			}
			type row struct {
				store.Exception
				State string `json:"state"`
			}
			now := time.Now()
			rows := []row{}
			for _, e := range exs {
				if s := e.State(now); state == "all" || s == state {
					rows = append(rows, row{e, s})
				}
			}
			return output.write(cmd.OutOrStdout(), rows, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tORG\tCODE\tSCOPE\tOWNER\tEXPIRES\tSTATE")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Org, r.Code, describeScope(r.Scope), r.Owner,
						r.ExpiresAt.Format(time.DateOnly), r.State)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only this org's exceptions")
	cmd.Flags().StringVar(&state, "state", store.ExceptionStateActive, "active, expired, revoked or all")
	registerOutput(cmd, &output, formatTable, "one line per exception")
	sf.register(cmd.Flags())
	return cmd
}

// loadException reads exception id from st.
func loadException(ctx context.Context, st store.Store, id string) (store.Exception, error) {
	exs, err := st.Exceptions(ctx, store.ExceptionQuery{ID: id})
	if err != nil {
		return store.Exception{}, err
	}
	if len(exs) != 1 {
		return store.Exception{}, fmt.Errorf("%w: no exception %q (aspm exception list --state all shows them)", errUsage, id)
	}
	return exs[0], nil
}

func newExceptionShowCmd() *cobra.Command {
	var (
		output outputFlag
		sf     storeFlags
	)
	cmd := &cobra.Command{
		Use:               "show ID",
		Short:             "Show an exception and its history",
		Example:           `  aspm exception show exc_3f9a0c1b2d4e5f60`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: storeIDs(&sf, exceptionIDs("")),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := loadException(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			history, err := st.ExceptionAudit(cmd.Context(), store.ExceptionQuery{ID: e.ID})
			if err != nil {
				return err
			}
			state := e.State(time.Now())
			data := struct {
				store.Exception
				State   string                  `json:"state"`
				History []store.ExceptionChange `json:"history"`
			}{e, state, history}
			return output.write(cmd.OutOrStdout(), data, func(out io.Writer) error {
				fmt.Fprintf(out, "%s  %s  %s\n  org %s, scope %s\n  reason: %s\n  owner: %s, expires %s\n\nHistory:\n",
					e.ID, e.Code, state, e.Org, describeScope(e.Scope), e.Reason, e.Owner, e.ExpiresAt.Format(time.RFC3339))
				return printHistory(out, history)
			})
		},
	}
	registerOutput(cmd, &output, formatText, "the exception, then its history")
	sf.register(cmd.Flags())
	return cmd
}

func printHistory(w io.Writer, history []store.ExceptionChange) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  AT\tEXCEPTION\tACTION\tBY\tEXPIRES\tCOMMENT")
	for _, c := range history {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", c.At.Format(time.RFC3339), c.Exception.ID, c.Action, c.Actor,
			c.Exception.ExpiresAt.Format(time.DateOnly), c.Comment)
	}
	return tw.Flush()
}

// changeCmd is renew or revoke: read the exception, change it, write the change.
func changeException(cmd *cobra.Command, sf storeFlags, id, actor, comment string,
	change func(e *store.Exception, now time.Time) (action string, err error),
) error {
	st, err := sf.open(cmd.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := loadException(cmd.Context(), st, id)
	if err != nil {
		return err
	}
	c := e.NextChange(actor, comment, time.Now())
	now := c.At
	action, err := change(&c.Exception, now)
	if err != nil || action == "" {
		return err
	}
	c.Action = action
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := st.WriteExceptionChange(cmd.Context(), c); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s: now %s, expires %s\n", action, e.ID, c.Exception.State(now),
		c.Exception.ExpiresAt.Format(time.RFC3339))
	return nil
}

func newExceptionRenewCmd() *cobra.Command {
	var (
		reason, owner, actor, comment string
		exp                           expiryFlags
		sf                            storeFlags
	)
	cmd := &cobra.Command{
		Use:   "renew ID [--ttl 30d | --expires DATE] [--reason TEXT] [--owner WHO]",
		Short: "Extend or amend an active exception (scope and code never change)",
		Example: `  aspm exception renew exc_3f9a0c1b2d4e5f60 --ttl 30d --comment "vendor fix slipped to 4.3"
  aspm exception renew exc_3f9a0c1b2d4e5f60 --owner carol@acme.example --comment "ownership moved"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: storeIDs(&sf, exceptionIDs(store.ExceptionStateActive)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeException(cmd, sf, args[0], actor, comment, func(e *store.Exception, now time.Time) (string, error) {
				if st := e.State(now); st != store.ExceptionStateActive {
					return "", fmt.Errorf("%w: %s is %s: create a new exception", errUsage, e.ID, st)
				}
				expires, set, err := exp.resolve(now)
				if err != nil {
					return "", err
				}
				before := *e
				if set {
					e.ExpiresAt = expires
				}
				if reason != "" {
					e.Reason = strings.TrimSpace(reason)
				}
				if owner != "" {
					e.Owner = strings.TrimSpace(owner)
				}
				if e.Reason == before.Reason && e.Owner == before.Owner && e.ExpiresAt.Equal(before.ExpiresAt) {
					return "", fmt.Errorf("%w: nothing to change: give --ttl, --expires, --reason or --owner", errUsage)
				}
				return store.ExceptionUpdated, nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "", "a new reason")
	f.StringVar(&owner, "owner", "", "a new owner")
	f.StringVar(&comment, "comment", "", "why, for the audit log")
	f.StringVar(&actor, "actor", defaultActor(), "who makes the change, for the audit log")
	exp.register(cmd)
	sf.register(f)
	return cmd
}

func newExceptionRevokeCmd() *cobra.Command {
	var (
		actor, comment string
		sf             storeFlags
	)
	cmd := &cobra.Command{
		Use:               "revoke ID --comment TEXT",
		Short:             "End an exception now: its gaps count against coverage again",
		Example:           `  aspm exception revoke exc_3f9a0c1b2d4e5f60 --comment "provenance generated since v2.3.0"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: storeIDs(&sf, exceptionIDs(store.ExceptionStateActive)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeException(cmd, sf, args[0], actor, comment, func(e *store.Exception, now time.Time) (string, error) {
				if e.RevokedAt != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s was already revoked at %s\n", e.ID, e.RevokedAt.Format(time.RFC3339))
					return "", nil
				}
				e.RevokedAt = &now
				return store.ExceptionRevoked, nil
			})
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the audit log")
	cmd.Flags().StringVar(&actor, "actor", defaultActor(), "who makes the change, for the audit log")
	sf.register(cmd.Flags())
	return cmd
}

func newExceptionAuditCmd() *cobra.Command {
	var (
		org    string
		output outputFlag
		sf     storeFlags
	)
	cmd := &cobra.Command{
		Use:     "audit [--org ORG]",
		Short:   "Print the audit log of every exception, oldest first",
		Example: `  aspm exception audit --org acme -o json > exceptions-audit.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			history, err := st.ExceptionAudit(cmd.Context(), store.ExceptionQuery{Org: org})
			if err != nil {
				return err
			}
			if history == nil {
				history = []store.ExceptionChange{}
			}
			return output.write(cmd.OutOrStdout(), history, func(w io.Writer) error { return printHistory(w, history) })
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only this org's exceptions")
	registerOutput(cmd, &output, formatTable, "one line per change")
	sf.register(cmd.Flags())
	return cmd
}
