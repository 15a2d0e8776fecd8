package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/cmd/aspm/internal/verdict"
	"github.com/aspmhq/aspm/pkg/svcmain"
)

type scanFlags struct {
	trustFlags
	include, exclude svcmain.List
	insecureTarget   bool
}

func newScanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan REGISTRY[/REPO][:TAG]",
		Short: "Crawl a registry: find every artifact's attached evidence and score it",
		Long: `scan lists a registry's repositories (catalog API) or one repository's tags, resolves each tag
to its digest, and collects and scores everything attached to it — OCI 1.1 referrers, the
referrers tag schema, cosign's sha256-<hex>.sig/.att/.sbom tags, for image indexes and each of
their platform manifests — exactly as aspm verify does for one image.

Tags that are attachments (sha256-…) are not artifacts and are skipped. Repositories and tags
are filtered with --include/--exclude glob patterns matched against REPO and REPO:TAG.

With -o json (or yaml) it prints an array: one aspm verify -o json object per artifact, plus
"image" (REPO@DIGEST). When stderr is a terminal it shows progress there.`,
		Example: `  # Everything in a registry
  aspm scan registry.example.com -o json > coverage.json

  # One repository's release tags, against a private Sigstore instance
  aspm scan registry.example.com/acme/payments --include 'acme/payments:v*' \
    --trusted-root acme=trusted_root.json

  # A local test registry over plain HTTP
  aspm scan 127.0.0.1:5000/acme/app:latest --insecure`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f)
		},
	}
	fl := cmd.Flags()
	f.trustFlags.register(fl)
	fl.Var(&f.include, "include", "glob pattern for REPO or REPO:TAG to scan (repeatable; default: all)")
	fl.Var(&f.exclude, "exclude", "glob pattern for REPO or REPO:TAG to skip (repeatable)")
	fl.BoolVar(&f.insecureTarget, "insecure", false, "allow plain HTTP to the scanned registry (e.g. one on loopback)")
	registerOutput(cmd, &f.output, formatTable, "one line per artifact")
	return cmd
}

func runScan(ctx context.Context, stdout, stderr io.Writer, target string, f scanFlags) error {
	if err := f.trustFlags.check(); err != nil {
		return err
	}
	host, _, _ := strings.Cut(target, "/")
	if host == "" || strings.Contains(target, "@") {
		return usagef("scan takes REGISTRY[/REPO][:TAG] (for one image by digest, use aspm verify IMAGE@DIGEST)")
	}
	var extra []string
	if f.insecureTarget {
		extra = append(extra, host)
	}
	k, err := newChecker(ctx, &f.trustFlags, extra...)
	if err != nil {
		return err
	}
	progress := progressTo(stderr)
	found, problems, err := k.reg.Expand(ctx, target, f.include, f.exclude, func(done, total int) { progress("resolving tags", done, total) })
	if err != nil {
		return err
	}
	results := make([]verdict.Verdict, 0, len(found))
	for i, fd := range found {
		v, more, err := k.image(ctx, fd.Image)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", fd.Image, err))
			progress("collecting evidence", i+1, len(found))
			continue
		}
		for _, p := range more {
			problems = append(problems, fmt.Sprintf("%s: %s", fd.Image, p))
		}
		v.Image = fd.Image.String()
		results = append(results, v)
		progress("collecting evidence", i+1, len(found))
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "aspm: warning: %s\n", p)
	}
	if err := f.output.write(stdout, results, func(w io.Writer) error { return verdict.WriteTable(w, results) }); err != nil {
		return err
	}
	return f.gate(results...)
}
