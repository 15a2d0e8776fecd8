package cosign_test

import (
	"errors"
	"fmt"

	"github.com/aspmhq/aspm/pkg/cosign"
)

func ExampleBundleFromAttachment() {
	// A collector hands every layer of a `.sig` or `.att` image over, and reports what it
	// cannot read rather than dropping it.
	for _, mt := range []string{
		"application/vnd.dev.cosign.artifact.sbom.v1+json",
		"application/vnd.dev.sigstore.bundle.v0.3+json",
	} {
		_, err := cosign.BundleFromAttachment(mt, []byte("{}"), nil)
		switch {
		case errors.Is(err, cosign.ErrSigstoreBundle):
			fmt.Println("a bundle: read it with verify.ParseBundles")
		case errors.Is(err, cosign.ErrUnsupported):
			fmt.Println("reported:", err)
		}
	}
	// Output:
	// reported: unsupported cosign attachment: layer media type "application/vnd.dev.cosign.artifact.sbom.v1+json"
	// a bundle: read it with verify.ParseBundles
}
