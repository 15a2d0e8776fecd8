package oci

import (
	"io"
	"log"
	"net/http"

	"github.com/google/go-containerregistry/pkg/registry"
)

// NewRegistryHandler returns an in-memory OCI registry (go-containerregistry's pkg/registry)
// with the referrers API enabled, for demos and tests. It logs nothing.
func NewRegistryHandler() http.Handler {
	return registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
}
