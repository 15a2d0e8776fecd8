// Package policies embeds the default Rego policies, their data and their tests, so that the
// binaries have sane defaults; users replace them with a directory or an OPA bundle.
package policies

import "embed"

// FS holds every *.rego file (policies and their _test.rego tests) and data/*.json.
//
//go:embed *.rego data/*.json
var FS embed.FS
