package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// severities are the gap severities a decision may use.
var severities = map[string]bool{"critical": true, "high": true, "medium": true, "low": true}

// decisionFields are the fields a decision must have, in the order errors list them.
var decisionFields = []string{"explanation", "gaps", "level", "risk", "verified_provenance"}

// gapFields are the fields a gap must have, in the order errors name a missing one.
var gapFields = []string{"code", "severity", "message", "rule"}

// decode checks that rs holds exactly one decision of the right shape and returns it; the
// error wraps ErrInvalidDecision. Evaluate has the result's values left as ast.Values (see
// rawResult); any other value is first converted to one.
func decode(rs rego.ResultSet) (Decision, error) {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{}, fmt.Errorf("%w: %s is undefined for this input (is a rule it depends on undefined?)", ErrInvalidDecision, Query)
	}
	if len(rs) > 1 || len(rs[0].Expressions) > 1 {
		return Decision{}, fmt.Errorf("%w: %s has %d results, want one", ErrInvalidDecision, Query, len(rs))
	}
	value, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		v, err := ast.InterfaceToValue(rs[0].Expressions[0].Value)
		if err != nil {
			return Decision{}, fmt.Errorf("%w: encoding the result: %w", ErrInvalidDecision, err)
		}
		value = v
	}
	d, err := decodeDecision(value)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrInvalidDecision, err)
	}
	return d, nil
}

// rawResult is the rego.EvalGenerateJSON hook that leaves result values as they are, for
// decode to read without a conversion to Go maps and back through JSON.
func rawResult(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

// decodeDecision reads a decision from v, which must be an object with exactly the fields of
// a Decision (a null field counts as missing).
func decodeDecision(v ast.Value) (Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("%s must be an object with level, verified_provenance, gaps, risk and explanation, not %s", Query, ast.ValueName(v))
	}
	if err := onlyFields(obj, decisionFields); err != nil {
		return Decision{}, fmt.Errorf("%s must be an object with level, verified_provenance, gaps, risk and explanation: %w", Query, err)
	}
	var missing []string
	for _, name := range decisionFields {
		if isAbsent(obj.Get(ast.InternedTerm(name))) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return Decision{}, fmt.Errorf("%s lacks %s", Query, strings.Join(missing, ", "))
	}
	var d Decision
	level, err := integer(obj.Get(ast.InternedTerm("level")).Value, "level")
	if err != nil {
		return Decision{}, err
	}
	d.Level = evidence.Level(level)
	if err := d.Level.Validate(); err != nil {
		return Decision{}, err
	}
	verified, ok := obj.Get(ast.InternedTerm("verified_provenance")).Value.(ast.Boolean)
	if !ok {
		return Decision{}, fmt.Errorf("verified_provenance must be a boolean")
	}
	d.VerifiedProvenance = bool(verified)
	risk, err := integer(obj.Get(ast.InternedTerm("risk")).Value, "risk")
	if err != nil {
		return Decision{}, err
	}
	if risk < 0 || risk > 100 {
		return Decision{}, fmt.Errorf("risk %d: want 0 to 100", risk)
	}
	d.Risk = int(risk)
	if d.Explanation, err = stringList(obj.Get(ast.InternedTerm("explanation")).Value, "explanation"); err != nil {
		return Decision{}, err
	}
	gaps, ok := obj.Get(ast.InternedTerm("gaps")).Value.(*ast.Array)
	if !ok {
		return Decision{}, fmt.Errorf("gaps must be an array")
	}
	d.Gaps = make([]evidence.Gap, 0, gaps.Len())
	for i := range gaps.Len() {
		g, err := decodeGap(gaps.Elem(i).Value)
		if err != nil {
			return Decision{}, fmt.Errorf("gaps[%d]: %w", i, err)
		}
		d.Gaps = append(d.Gaps, g)
	}
	return d, nil
}

// decodeGap reads one gap, which must have a non-empty code, severity, message and rule, and
// a severity that is one of severities.
func decodeGap(v ast.Value) (evidence.Gap, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		if _, null := v.(ast.Null); !null {
			return evidence.Gap{}, fmt.Errorf("must be an object with code, severity, message and rule, not %s", ast.ValueName(v))
		}
		obj = ast.NewObject()
	}
	if err := onlyFields(obj, gapFields); err != nil {
		return evidence.Gap{}, err
	}
	var values [4]string
	for i, name := range gapFields {
		t := obj.Get(ast.InternedTerm(name))
		if !isAbsent(t) {
			s, ok := t.Value.(ast.String)
			if !ok {
				return evidence.Gap{}, fmt.Errorf("%s must be a string, not %s", name, ast.ValueName(t.Value))
			}
			values[i] = string(s)
		}
		if values[i] == "" {
			return evidence.Gap{}, fmt.Errorf("%s is required", name)
		}
	}
	g := evidence.Gap{Code: values[0], Severity: values[1], Message: values[2], Rule: values[3]}
	if !severities[g.Severity] {
		return evidence.Gap{}, fmt.Errorf("%s: severity %q: want critical, high, medium or low (is the code in data.aspm.gap_catalogue?)", g.Code, g.Severity)
	}
	return g, nil
}

// onlyFields fails on the first key of obj, in sorted order, that is not one of names.
func onlyFields(obj ast.Object, names []string) error {
	var unknown error
	obj.Until(func(k, _ *ast.Term) bool {
		s, ok := k.Value.(ast.String)
		if !ok || !slices.Contains(names, string(s)) {
			unknown = fmt.Errorf("unknown field %s", k)
			return true
		}
		return false
	})
	return unknown
}

// isAbsent reports whether a field is missing or null.
func isAbsent(t *ast.Term) bool {
	if t == nil {
		return true
	}
	_, null := t.Value.(ast.Null)
	return null
}

// integer reads a whole number that fits an int64, as encoding/json reads one into an int.
func integer(v ast.Value, name string) (int64, error) {
	n, ok := v.(ast.Number)
	if !ok {
		return 0, fmt.Errorf("%s must be a whole number, not %s", name, ast.ValueName(v))
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s: want a whole number", name, n)
	}
	return i, nil
}

// stringList reads an array of strings; a null element reads as "".
func stringList(v ast.Value, name string) ([]string, error) {
	arr, ok := v.(*ast.Array)
	if !ok {
		return nil, fmt.Errorf("%s must be an array of strings, not %s", name, ast.ValueName(v))
	}
	out := make([]string, arr.Len())
	for i := range out {
		switch s := arr.Elem(i).Value.(type) {
		case ast.String:
			out[i] = string(s)
		case ast.Null:
		default:
			return nil, fmt.Errorf("%s[%d] must be a string, not %s", name, i, ast.ValueName(s))
		}
	}
	return out, nil
}
