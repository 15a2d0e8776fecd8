package verify

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
)

// PublicGoodName names the Sigstore public-good instance's root.
const PublicGoodName = "public-good"

//go:embed roots/public-good.json
var publicGoodJSON []byte

// PublicGood returns the embedded copy of the Sigstore public-good trusted root (see
// roots/README.md for its provenance); it works offline.
func PublicGood() (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(publicGoodJSON)
	if err != nil {
		return nil, fmt.Errorf("loading embedded public-good trusted root: %w", err)
	}
	return tr, nil
}

// ErrTUF is the class of errors from fetching a trusted root over TUF.
var ErrTUF = errors.New("fetching trusted root over TUF")

// FetchTrustedRoot refreshes a trusted root from a TUF repository (the public-good one at
// https://tuf-repo-cdn.sigstore.dev when repoURL is empty), caching metadata in cacheDir
// (the sigstore default when empty). It needs the network; errors wrap ErrTUF.
func FetchTrustedRoot(ctx context.Context, repoURL, cacheDir string) (*root.TrustedRoot, error) {
	opts := tuf.DefaultOptions()
	opts.Context = ctx
	if repoURL != "" {
		opts.RepositoryBaseURL = repoURL
	}
	if cacheDir != "" {
		opts.CachePath = cacheDir
	}
	tr, err := root.FetchTrustedRootWithOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrTUF, opts.RepositoryBaseURL, err)
	}
	return tr, nil
}
