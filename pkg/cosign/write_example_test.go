package cosign_test

import (
	"fmt"

	"github.com/aspmhq/aspm/pkg/cosign"
	"github.com/aspmhq/aspm/pkg/evidence"
)

func ExampleSimpleSigningPayload() {
	payload, err := cosign.SimpleSigningPayload(evidence.ImageRef{
		Repository: "registry.example/acme/app",
		Digest:     "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(payload))
	// Output:
	// {"critical":{"identity":{"docker-reference":"registry.example/acme/app"},"image":{"docker-manifest-digest":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"},"type":"cosign container image signature"},"optional":null}
}
