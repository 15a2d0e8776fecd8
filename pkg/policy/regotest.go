package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// ErrTestsFailed is returned by RunTests when a Rego test failed or errored.
var ErrTestsFailed = errors.New("policy tests failed")

// ErrNoTests is returned by RunTests when the policies hold no test rules.
var ErrNoTests = errors.New("no policy tests found")

// TestSummary counts the outcomes of a RunTests run.
type TestSummary struct {
	Passed  int
	Failed  int
	Errored int
	Skipped int
}

// RunTests runs every test rule (test_*) of the *.rego and *_test.rego files of fsys against
// the data/*.json files, loaded as Load loads them and compiled with the same restricted
// capabilities, and reports to w the way `opa test` does: failures (and, when verbose, every
// test) by file and line, then a PASS/FAIL summary. Results are reported in file and line
// order.
//
// Errors: files that cannot be loaded or compiled as for Load; ErrNoTests when there is no
// test rule; ErrTestsFailed (wrapped, with the counts) when any test failed or errored; in
// every case the summary counts what ran.
func RunTests(ctx context.Context, fsys fs.FS, w io.Writer, verbose bool) (TestSummary, error) {
	src, err := readSources(fsys, true)
	if err != nil {
		return TestSummary{}, err
	}
	caps := capabilities()
	modules, err := parseModules(src.modules, caps)
	if err != nil {
		return TestSummary{}, err
	}
	store := inmem.NewFromObject(src.data)
	// The runner compiles the modules itself, adding its test stages to the compiler.
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().
			WithCapabilities(caps).
			WithDefaultRegoVersion(ast.RegoV1).
			WithEnablePrintStatements(true)).
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		EnableTracing(true)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return TestSummary{}, fmt.Errorf("running policy tests: %w", err)
	}
	defer store.Abort(ctx, txn)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return TestSummary{}, fmt.Errorf("compiling policy tests: %w", explainExcluded(err))
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		return cmp.Or(
			cmp.Compare(location(a).File, location(b).File),
			cmp.Compare(location(a).Row, location(b).Row),
			cmp.Compare(a.Package+"."+a.Name, b.Package+"."+b.Name),
		)
	})
	var sum TestSummary
	for _, r := range results {
		switch {
		case r.Skip:
			sum.Skipped++
		case r.Error != nil:
			sum.Errored++
		case r.Fail:
			sum.Failed++
		default:
			sum.Passed++
		}
	}
	sorted := make(chan *tester.Result, len(results))
	for _, r := range results {
		sorted <- r
	}
	close(sorted)
	reporter := tester.PrettyReporter{Output: w, Verbose: verbose, FailureLine: true, LocalVars: true}
	if err := reporter.Report(sorted); err != nil {
		return sum, fmt.Errorf("reporting policy tests: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("running policy tests: %w", err)
	}
	if len(results) == 0 {
		return sum, ErrNoTests
	}
	if sum.Failed > 0 || sum.Errored > 0 {
		return sum, fmt.Errorf("%w: %d failed, %d errored, %d passed", ErrTestsFailed, sum.Failed, sum.Errored, sum.Passed)
	}
	return sum, nil
}

func location(r *tester.Result) ast.Location {
	if r.Location == nil {
		return ast.Location{}
	}
	return *r.Location
}
