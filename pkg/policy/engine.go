// Package policy scores artifacts with the Rego policies in policies/: it loads the modules and
// their data once, compiles them with restricted capabilities (no network, no clock, no
// randomness) and evaluates data.aspm.decision for each artifact with a deadline. It also runs
// the policies' Rego unit tests, as `aspm policy test` does.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Query is the rule every policy set must define: the decision for input.
const Query = "data.aspm.decision"

// CheckQuery is the optional rule that validates the policy data: a set of problem
// descriptions, which must be empty for Load to succeed.
const CheckQuery = "data.aspm.config.errors"

// DefaultTimeout bounds one Evaluate call unless WithTimeout says otherwise.
const DefaultTimeout = 2 * time.Second

// noMetrics spares each evaluation the metrics OPA would otherwise allocate and time.
var noMetrics = metrics.NoOp()

// ErrInvalidDecision is the class of errors Evaluate returns when the policy's result is
// undefined or does not have the decision's shape; check with errors.Is.
var ErrInvalidDecision = errors.New("invalid policy decision")

// ErrInvalidData is the class of errors Load returns when the policies' own data check
// (CheckQuery) reports problems; check with errors.Is.
var ErrInvalidData = errors.New("invalid policy data")

// Input is what the policies decide on; it is the JSON document bound to input.
type Input struct {
	Artifact    evidence.ImageRef   `json:"artifact"`
	Environment string              `json:"environment"`
	Deployment  evidence.Deployment `json:"deployment"`
	Evidence    []evidence.Evidence `json:"evidence"`
}

// Decision is the policies' verdict on one artifact in one environment.
type Decision struct {
	Level              evidence.Level `json:"level"`
	VerifiedProvenance bool           `json:"verified_provenance"`
	// Gaps are sorted by code, then message.
	Gaps []evidence.Gap `json:"gaps"`
	// Risk is 0 (none) to 100.
	Risk int `json:"risk"`
	// Explanation lists, in order, the steps that decided the level.
	Explanation []string `json:"explanation"`
}

// Option configures an Engine.
type Option func(*options)

type options struct {
	timeout   time.Duration
	cacheSize int
}

// WithTimeout bounds each Evaluate call to d (DefaultTimeout otherwise); Load fails when d is
// not positive.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Engine evaluates one compiled policy set. It is safe for concurrent use.
type Engine struct {
	query   rego.PreparedEvalQuery
	timeout time.Duration
	version string
	cache   *decisionCache
}

// Load reads every *.rego file of fsys except *_test.rego, and every data/*.json file, walking
// subdirectories but skipping testdata and hidden directories; each data file holds a JSON
// object merged at the root of data (so policies/data/x.json starts with {"aspm": …}). It
// parses the modules as Rego v1 and compiles them once, with capabilities that exclude
// http.send, net.*, opa.runtime and the nondeterministic builtins.
//
// Errors: a file that cannot be read, parsed or merged yields a *FileError naming it; a
// policy that does not compile (a syntax or type error, or a call to an excluded builtin)
// yields an error listing each problem with its file and line; so does a policy set without
// a rule for data.aspm.decision. When the policies define CheckQuery and it lists problems
// with the data, the error wraps ErrInvalidData and lists them.
func Load(ctx context.Context, fsys fs.FS, opts ...Option) (*Engine, error) {
	src, err := readSources(fsys, false)
	if err != nil {
		return nil, err
	}
	return newEngine(ctx, src, opts)
}

// LoadDir is Load on the directory dir; see Load for the error contract.
func LoadDir(ctx context.Context, dir string, opts ...Option) (*Engine, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("loading policies: %w", err)
	}
	return Load(ctx, os.DirFS(dir), opts...)
}

// LoadPath loads a policy directory (as LoadDir) or an OPA bundle, a .tar.gz or .tgz file
// (as written by `opa build`). Bundle data comes from its data.json files at their directory
// paths, as OPA loads it; its *_test.rego modules are not loaded. Bundle signatures are not
// verified. Errors: as Load, and an error when path is neither a directory nor a bundle.
func LoadPath(ctx context.Context, path string, opts ...Option) (*Engine, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loading policies: %w", err)
	}
	if info.IsDir() {
		return LoadDir(ctx, path, opts...)
	}
	if !strings.HasSuffix(path, ".tar.gz") && !strings.HasSuffix(path, ".tgz") {
		return nil, fmt.Errorf("loading policies from %s: want a directory or an OPA bundle (.tar.gz)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading policies: %w", err)
	}
	defer f.Close()
	src, err := readBundle(f)
	if err != nil {
		return nil, fmt.Errorf("loading bundle %s: %w", path, err)
	}
	return newEngine(ctx, src, opts)
}

// readBundle reads an OPA bundle tarball with OPA's bundle reader.
func readBundle(r io.Reader) (sources, error) {
	b, err := bundle.NewCustomReader(bundle.NewTarballLoaderWithBaseURL(r, "")).
		WithRegoVersion(ast.RegoV1).
		WithCapabilities(capabilities()).
		WithSkipBundleVerification(true).
		Read()
	if err != nil {
		return sources{}, err
	}
	src := sources{data: b.Data}
	if src.data == nil {
		src.data = map[string]any{}
	}
	for _, m := range b.Modules {
		if isTest(m.Path) {
			continue
		}
		f := file{path: strings.TrimPrefix(m.Path, "/"), content: m.Raw}
		src.modules = append(src.modules, f)
		src.hashed = append(src.hashed, f)
	}
	data, err := canonicalJSON(src.data)
	if err != nil {
		return sources{}, fmt.Errorf("encoding bundle data: %w", err)
	}
	src.hashed = append(src.hashed, file{path: "data.json", content: data})
	return src, nil
}

func newEngine(ctx context.Context, src sources, opts []Option) (*Engine, error) {
	o := options{timeout: DefaultTimeout, cacheSize: DefaultDecisionCache}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("loading policies: timeout %s: want a positive duration", o.timeout)
	}
	if len(src.modules) == 0 {
		return nil, errors.New("loading policies: no .rego files found")
	}
	caps := capabilities()
	modules, err := parseModules(src.modules, caps)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithCapabilities(caps).WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("compiling policies: %w", explainExcluded(compiler.Errors))
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(Query))) == 0 {
		return nil, fmt.Errorf("loading policies: no rule defines %s (package aspm, rule decision)", Query)
	}
	// The store keeps the data as AST values: read as they are on every evaluation, rather
	// than converted from Go values each time (the trusted builders and the gap catalogue are
	// read for every decision).
	store := inmem.NewFromObjectWithOpts(src.data, inmem.OptReturnASTValuesOnRead(true))
	newQuery := func(query string) *rego.Rego {
		return rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.Capabilities(caps),
			rego.StrictBuiltinErrors(true),
			rego.SetRegoVersion(ast.RegoV1),
		)
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(CheckQuery))) > 0 {
		if err := checkData(ctx, newQuery(CheckQuery)); err != nil {
			return nil, err
		}
	}
	query, err := newQuery(Query).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing %s: %w", Query, err)
	}
	return &Engine{query: query, timeout: o.timeout, version: version(src.hashed), cache: newDecisionCache(o.cacheSize)}, nil
}

// checkData evaluates the policies' data check once and fails with its problems.
func checkData(ctx context.Context, r *rego.Rego) error {
	rs, err := r.Eval(ctx)
	if err != nil {
		return fmt.Errorf("evaluating %s: %w", CheckQuery, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil
	}
	problems, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return fmt.Errorf("%w: %s must be a set of strings, not %T", ErrInvalidData, CheckQuery, rs[0].Expressions[0].Value)
	}
	if len(problems) == 0 {
		return nil
	}
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = fmt.Sprint(p)
	}
	slices.Sort(lines)
	return fmt.Errorf("%w: %d problem(s):\n\t%s", ErrInvalidData, len(lines), strings.Join(lines, "\n\t"))
}

// Version identifies the loaded policy set: the first 12 hex digits of a SHA-256 over the
// sorted names and contents of the files loaded (for a bundle, its modules and its data).
func (e *Engine) Version() string { return e.version }

// Evaluate decides on in with the compiled policies, within the engine's timeout (or ctx's
// deadline, if sooner). Errors: evaluation failures (including builtin errors, which are
// strict) are returned wrapped, with ctx's error joined when the deadline passed or ctx was
// cancelled; a result that is undefined or not shaped like a Decision wraps
// ErrInvalidDecision. Evaluate never returns a zero Decision with a nil error.
func (e *Engine) Evaluate(ctx context.Context, in Input) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if in.Evidence == nil {
		in.Evidence = []evidence.Evidence{}
	}
	var key [32]byte
	cacheable := false
	if e.cache != nil {
		key, cacheable = inputKey(in)
	}
	if cacheable {
		if d, ok := e.cache.get(key); ok {
			return d, nil
		}
	}
	d, err := e.evaluate(ctx, in)
	if err == nil && cacheable {
		e.cache.put(key, d)
	}
	return d, err
}

// evaluate runs the prepared query on in.
func (e *Engine) evaluate(ctx context.Context, in Input) (Decision, error) {
	value, err := toValue(in)
	if err != nil {
		return Decision{}, fmt.Errorf("encoding policy input: %w", err)
	}
	// Cancel the evaluation when ctx ends, without the goroutine per call OPA starts otherwise.
	stop := topdown.NewCancel()
	defer context.AfterFunc(ctx, stop.Cancel)()
	cache := getVirtualCache()
	defer putVirtualCache(cache)
	rs, err := e.query.Eval(ctx,
		rego.EvalVirtualCache(cache),
		rego.EvalParsedInput(value),
		rego.EvalExternalCancel(stop),
		rego.EvalGenerateJSON(rawResult),
		rego.EvalMetrics(noMetrics),
	)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Decision{}, fmt.Errorf("evaluating %s: %w: %w", Query, ctxErr, err)
		}
		return Decision{}, fmt.Errorf("evaluating %s: %w", Query, err)
	}
	return decode(rs)
}
