package policy

import (
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
