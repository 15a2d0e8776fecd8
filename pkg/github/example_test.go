package github_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/github"
	"github.com/aspmhq/aspm/pkg/verify"
)

// The client lists what GitHub stores for a digest; the bundles still have to be verified.
func ExampleClient_OrgAttestations() {
	const d evidence.Digest = "sha256:1636f443b01c9ee310ee5834956d0dce374c3d3bf8d4cebc9f6b86f8304b4982" // rules_lint-v1.3.1.tar.gz

	// A stand-in for api.github.com, answering with a recorded response.
	recorded, err := os.ReadFile("testdata/orgs-aspect-build-attestations-rules_lint.json")
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/orgs/aspect-build/attestations/"+string(d) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(recorded)
	}))
	defer srv.Close()

	// In production: github.Config{Token: os.Getenv("GITHUB_TOKEN")}, BaseURL left empty.
	c, err := github.New(github.Config{BaseURL: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	atts, err := c.OrgAttestations(context.Background(), "aspect-build", d, "https://slsa.dev/provenance/v1")
	if err != nil {
		log.Fatal(err)
	}

	tr, err := verify.PublicGood()
	if err != nil {
		log.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: verify.PublicGoodName, Material: tr}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range atts {
		if a.Err != nil {
			fmt.Println("unreadable:", a.Err)
			continue
		}
		entries, err := verify.ParseBundles(a.Bundle)
		if err != nil || entries[0].Err != nil {
			fmt.Println("not a bundle:", err, entries)
			continue
		}
		res, err := v.VerifyBundle(entries[0].Bundle)
		if err != nil || !res.Verified {
			fmt.Println("not verified:", err, res.Error)
			continue
		}
		fmt.Println(a.RepositoryID, res.Signer.SourceRepository, res.Signer.Identity)
	}
	// Output:
	// 1001 https://github.com/aspect-build/rules_lint https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml@refs/tags/v7.1.0
}
