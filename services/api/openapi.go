package api

import (
	_ "embed"
	"io"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the API, served at GET /openapi.yaml. The tests drive
// the real handlers and validate every request and response against it.
//
//go:embed openapi.yaml
var openAPI string

// serveOpenAPI serves the OpenAPI document. It holds no data, so it needs no token.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = io.WriteString(w, openAPI)
}
