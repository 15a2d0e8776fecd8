package policy

import (
	"errors"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// excluded are the builtins policies may not call: network access, the OPA runtime, and the
// sources of nondeterminism (clock, randomness), so that a decision depends only on its input
// and data.
var excluded = []string{"http.send", "opa.runtime", "time.now_ns", "rand.intn", "uuid.rfc4122"}

// capabilities returns this OPA version's capabilities without the excluded builtins and
// net.*, and with no network hosts allowed (for remote schema references).
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool {
		return strings.HasPrefix(b.Name, "net.") || slices.Contains(excluded, b.Name)
	})
	caps.AllowNet = []string{}
	return caps
}

// explainExcluded adds to each "undefined function" error about an excluded builtin why it
// is undefined.
func explainExcluded(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return err
	}
	for _, e := range errs {
		name, ok := strings.CutPrefix(e.Message, "undefined function ")
		if ok && (strings.HasPrefix(name, "net.") || slices.Contains(excluded, name)) {
			e.Message += " (excluded: policies may not use the network, the OPA runtime, the clock or randomness)"
		}
	}
	return err
}
