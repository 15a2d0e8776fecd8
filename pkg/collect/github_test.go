package collect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/github"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// TestCollectFromGitHub merges GitHub's attestations API with the registry's evidence, and
// keeps the registry's evidence when GitHub fails.
func TestCollectFromGitHub(t *testing.T) {
	ctx := context.Background()
	const digest = "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b" // MODULE.bazel (SOURCES.md 3f)
	bundle := testcorpus.Read(t, "slsa-verifier/bcr/MODULE.bazel.intoto.jsonl")
	fail := false
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
			return
		}
		if r.URL.Path != "/orgs/aspect-build/attestations/"+digest {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"attestations":[{"bundle":%s,"repository_id":1}]}`, strings.TrimSpace(string(bundle)))
	}))
	t.Cleanup(gh.Close)
	api, err := github.New(github.Config{BaseURL: gh.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := verify.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "public-good", Material: pg}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := collect.New(client, v, collect.EnvelopeTrust{}, collect.WithGitHub(api, "aspect-build"))
	img := evidence.ImageRef{Repository: host + "/bazel/module", Digest: digest}

	set, err := c.Collect(ctx, img, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Evidence) != 1 || len(set.Errors) != 0 {
		t.Fatalf("evidence %+v, errors %v", set.Evidence, set.Errors)
	}
	e := set.Evidence[0]
	if e.Source != collect.SourceGitHub || e.Kind != evidence.KindProvenance || !e.Verification.Verified || !e.SubjectMatch {
		t.Errorf("GitHub evidence = %+v", e)
	}

	fail = true
	set, err = c.Collect(ctx, img, verify.Options{})
	if err != nil {
		t.Fatalf("GitHub failing must not fail the collection: %v", err)
	}
	if len(set.Errors) != 1 || !strings.Contains(set.Errors[0], "Bad credentials") {
		t.Errorf("errors = %v", set.Errors)
	}
}
