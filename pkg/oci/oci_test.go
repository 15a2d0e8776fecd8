package oci_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestAttachAndReferrers(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	c, err := oci.New(oci.Config{MaxBlobSize: 1024, Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.PushImage(ctx, host+"/acme/app", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	small := []byte(`{"bomFormat":"CycloneDX"}`)
	big := bytes.Repeat([]byte("x"), 2048)
	for _, a := range []struct {
		artifactType string
		data         []byte
	}{
		{"application/vnd.cyclonedx+json", small},
		{"application/vnd.dev.sigstore.bundle.v0.3+json", big},
	} {
		if _, err := c.Attach(ctx, ref, a.artifactType, a.artifactType, a.data, map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	atts, err := c.Referrers(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 {
		t.Fatalf("%d referrers, want 2", len(atts))
	}
	for _, a := range atts {
		if len(a.Layers) != 1 || a.Annotations["k"] != "v" {
			t.Errorf("attachment %+v", a)
			continue
		}
		data, err := c.Blob(ctx, ref.Repository, a.Layers[0])
		switch a.ArtifactType {
		case "application/vnd.cyclonedx+json":
			if err != nil || !bytes.Equal(data, small) {
				t.Errorf("SBOM blob = %q, %v", data, err)
			}
		case "application/vnd.dev.sigstore.bundle.v0.3+json":
			if !errors.Is(err, oci.ErrTooLarge) {
				t.Errorf("2 KiB blob over a 1 KiB limit: err = %v, want ErrTooLarge", err)
			}
		default:
			t.Errorf("unexpected artifact type %q", a.ArtifactType)
		}
	}

	// A blob whose descriptor understates its size is still cut off at the limit.
	l := atts[0].Layers[0]
	if atts[0].ArtifactType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		l = atts[1].Layers[0]
	}
	l.Size = 10
	if _, err := c.Blob(ctx, ref.Repository, l); !errors.Is(err, oci.ErrTooLarge) {
		t.Errorf("lying descriptor: err = %v, want ErrTooLarge", err)
	}

	// An artifact with nothing attached has no referrers, and that is not an error.
	other, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref2, err := c.PushImage(ctx, host+"/acme/other", "v1", other)
	if err != nil {
		t.Fatal(err)
	}
	if atts, err := c.Referrers(ctx, ref2, ""); err != nil || len(atts) != 0 {
		t.Errorf("referrers of a bare image = %v, %v", atts, err)
	}
}

func TestReferrersOfUnreachableRegistry(t *testing.T) {
	c, err := oci.New(oci.Config{Timeout: 2e9, Retries: -1, Insecure: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := evidence.ImageRef{Repository: "127.0.0.1:1/acme/app", Digest: "sha256:ab00000000000000000000000000000000000000000000000000000000000000"}
	if _, err := c.Referrers(context.Background(), ref, ""); err == nil {
		t.Error("no error from a registry that does not answer")
	}
}

func TestConfigValidate(t *testing.T) {
	c := oci.Config{}
	if err := c.Validate(); err != nil || c.MaxBlobSize != oci.DefaultMaxBlobSize || c.Timeout == 0 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if err := (&oci.Config{MaxBlobSize: -1}).Validate(); err == nil {
		t.Error("negative limit accepted")
	}
}
