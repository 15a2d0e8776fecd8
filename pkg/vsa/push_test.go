package vsa_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/oci/registrytest"
	"github.com/aspmhq/aspm/pkg/vsa"
)

// TestPushIssuedFind pushes a VSA to go-containerregistry's in-process registry (referrers
// API) and to Debian's docker-registry (no referrers API: the referrers tag schema), and reads
// it back as a verified VSA.
func TestPushIssuedFind(t *testing.T) {
	t.Run("referrers-api", func(t *testing.T) {
		srv := httptest.NewServer(oci.NewRegistryHandler())
		t.Cleanup(srv.Close)
		host := strings.TrimPrefix(srv.URL, "http://")
		c, err := oci.New(oci.Config{Insecure: []string{host}})
		if err != nil {
			t.Fatal(err)
		}
		testPush(t, c, host+"/acme/app", oci.SourceReferrers)
	})
	t.Run("referrers-tag-schema", func(t *testing.T) {
		reg := registrytest.Start(t)
		c, err := oci.New(oci.Config{Insecure: []string{reg.Host}, Keychain: reg.Keychain()})
		if err != nil {
			t.Fatal(err)
		}
		testPush(t, c, reg.Repo("acme/app"), oci.SourceReferrersTag)
	})
}

func testPush(t *testing.T, c *oci.Client, repo, wantSource string) {
	ctx := context.Background()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.PushImage(ctx, repo, "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsaKey(t)
	s := summary()
	s.Image = ref
	if issued, err := vsa.Issued(ctx, c, s); err != nil || issued {
		t.Fatalf("Issued before pushing = %v, %v", issued, err)
	}
	d, err := vsa.Push(ctx, c, s, signed(t, k, s))
	if err != nil {
		t.Fatal(err)
	}
	if issued, err := vsa.Issued(ctx, c, s); err != nil || !issued {
		t.Errorf("Issued after pushing = %v, %v", issued, err)
	}
	for name, other := range map[string]func(*vsa.Summary){
		"environment":    func(s *vsa.Summary) { s.Environment = "staging" },
		"policy version": func(s *vsa.Summary) { s.PolicyVersion = "ffffffffffff" },
		"level":          func(s *vsa.Summary) { s.Level = 2 },
	} {
		o := s
		other(&o)
		if issued, err := vsa.Issued(ctx, c, o); err != nil || issued {
			t.Errorf("Issued for another %s = %v, %v", name, issued, err)
		}
	}

	// A provenance bundle attached the same way is not taken for a VSA.
	if _, err := c.Attach(ctx, ref, vsa.BundleMediaType, vsa.BundleMediaType, []byte(`{}`),
		map[string]string{vsa.AnnotationPredicateType: "https://slsa.dev/provenance/v1"}); err != nil {
		t.Fatal(err)
	}
	found, err := vsa.Find(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 {
		t.Fatalf("found %d VSAs, want 1: %+v", len(found), found)
	}
	f := found[0]
	if f.Err != nil || f.Attachment.Digest != d || f.Attachment.Source != wantSource {
		t.Fatalf("found %+v, want %s from %s", f.Attachment, d, wantSource)
	}
	res, err := verifier(t, k).Verify(f.Bundle, ref.Digest, vsa.Requirements{Environment: "prod", MinLevel: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResourceURI != ref.String() {
		t.Errorf("resourceUri %q, want %q", res.ResourceURI, ref)
	}
	// The VSA is about this artifact only.
	other := evidence.ImageRef{Repository: ref.Repository, Digest: digestB}
	if _, err := verifier(t, k).Verify(f.Bundle, other.Digest, vsa.Requirements{}); err == nil {
		t.Error("VSA verified for another digest")
	}
}
