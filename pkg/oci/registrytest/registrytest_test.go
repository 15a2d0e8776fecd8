package registrytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/oci/registrytest"
)

// anonymous resolves every registry to no credentials.
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

func client(t *testing.T, r *registrytest.Registry, kc authn.Keychain) *oci.Client {
	t.Helper()
	c, err := oci.New(oci.Config{Keychain: kc, Insecure: []string{r.Host}, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pushRandom(t *testing.T, c *oci.Client, repo string) (evidence.ImageRef, error) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return c.PushImage(t.Context(), repo, "v1", img)
}

// remoteOptions reach r with its credentials, for reading back with go-containerregistry.
func remoteOptions(ctx context.Context, r *registrytest.Registry) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(r.Keychain())}
}

func TestPushWithCredentials(t *testing.T) {
	r := registrytest.Start(t)
	ref, err := pushRandom(t, client(t, r, r.Keychain()), r.Repo("acme/app"))
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(r.Repo("acme/app:v1"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(tag, remoteOptions(t.Context(), r)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := evidence.Digest(desc.Digest.String()); got != ref.Digest {
		t.Errorf("tag v1 names %s, pushed %s", got, ref.Digest)
	}
}

func TestPushWithoutCredentials(t *testing.T) {
	r := registrytest.Start(t)
	wrong := registrytest.Registry{Host: r.Host, Username: r.Username, Password: "not-" + r.Password}
	for _, tc := range []struct {
		name string
		kc   authn.Keychain
	}{
		{"anonymous", anonymous{}},
		{"wrong password", wrong.Keychain()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pushRandom(t, client(t, r, tc.kc), r.Repo("acme/app"))
			var terr *transport.Error
			if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
				t.Fatalf("push = %v, want a 401 transport error", err)
			}
		})
	}
}

// TestReferrersTagSchema records how distribution 2.8 treats OCI 1.1 artifacts: it has no
// referrers API (GET /v2/<name>/referrers/<digest> is 404), yet it accepts and serves back
// unchanged a manifest with subject and artifactType; go-containerregistry then maintains
// the referrers tag schema's index (tag sha256-<hex>) itself, and remote.Referrers and
// oci.Client.Referrers read it.
func TestReferrersTagSchema(t *testing.T) {
	ctx := t.Context()
	r := registrytest.Start(t)
	c := client(t, r, r.Keychain())
	img, err := pushRandom(t, c, r.Repo("acme/app"))
	if err != nil {
		t.Fatal(err)
	}

	// No referrers API.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/acme/app/referrers/"+string(img.Digest), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.Username, r.Password)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET referrers answered %d, want 404", resp.StatusCode)
	}

	// An OCI 1.1 artifact with a subject is accepted.
	const artifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	artifact, err := c.Attach(ctx, img, artifactType, artifactType, []byte(`{"mediaType":"`+artifactType+`"}`), map[string]string{"k": "v"})
	if err != nil {
		t.Fatalf("Attach on distribution 2.8: %v", err)
	}
	repo, err := name.NewRepository(r.Repo("acme/app"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Get(repo.Digest(string(artifact)), remoteOptions(ctx, r)...)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(got.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != artifactType || m.Subject == nil || m.Subject.Digest.String() != string(img.Digest) {
		t.Errorf("stored manifest lost its subject or artifactType: %s", got.Manifest)
	}
	if got.Digest.String() != string(artifact) {
		t.Errorf("stored manifest has digest %s, pushed %s", got.Digest, artifact)
	}

	// The referrers tag schema's index lists it.
	tag := repo.Tag(fallbackTag(img.Digest))
	idxDesc, err := remote.Get(tag, remoteOptions(ctx, r)...)
	if err != nil {
		t.Fatalf("referrers tag %s: %v", tag, err)
	}
	if idxDesc.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("referrers tag holds a %s", idxDesc.MediaType)
	}
	idx, err := remote.Referrers(repo.Digest(string(img.Digest)), remoteOptions(ctx, r)...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != string(artifact) || im.Manifests[0].ArtifactType != artifactType {
		t.Errorf("remote.Referrers = %+v, want the artifact %s", im.Manifests, artifact)
	}

	atts, err := c.Referrers(ctx, img, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 || atts[0].Digest != artifact || atts[0].Source != oci.SourceReferrersTag || atts[0].ArtifactType != artifactType {
		t.Errorf("oci.Client.Referrers = %+v, want the artifact from the referrers tag", atts)
	}
	data, err := c.Blob(ctx, img.Repository, atts[0].Layers[0])
	if err != nil || len(data) == 0 {
		t.Errorf("artifact layer: %q, %v", data, err)
	}
}

func TestLogTail(t *testing.T) {
	r := registrytest.Start(t)
	if _, err := pushRandom(t, client(t, r, anonymous{}), r.Repo("acme/app")); err == nil {
		t.Fatal("anonymous push succeeded")
	}
	// The access log records the refused request.
	if tail := r.LogTail(20); !strings.Contains(tail, `/v2/acme/app/manifests/v1 HTTP/1.1" 401`) {
		t.Errorf("log tail does not show the refused request:\n%s", tail)
	}
}

func TestMissingBinarySkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	var sub *testing.T
	t.Run("missing", func(t *testing.T) {
		sub = t
		registrytest.Start(t, registrytest.WithBinary(filepath.Join(t.TempDir(), "docker-registry")))
		t.Error("Start returned without a binary")
	})
	if !sub.Skipped() {
		t.Error("Start with a missing binary did not skip")
	}
}

func fallbackTag(d evidence.Digest) string {
	return d.Algorithm() + "-" + d.Hex()
}
