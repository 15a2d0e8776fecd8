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

// NewDiskRegistryHandler is NewRegistryHandler keeping blobs in files under dir instead of in
// memory (manifests stay in memory), for seeding many artifacts, as aspm bench does.
func NewDiskRegistryHandler(dir string) http.Handler {
	return registry.New(registry.WithReferrersSupport(true), registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)),
		registry.Logger(log.New(io.Discard, "", 0)))
}
