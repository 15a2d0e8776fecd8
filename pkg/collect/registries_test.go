package collect_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/cosign"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/oci/registrytest"
	"github.com/aspmhq/aspm/pkg/verify"
)

// front is a reverse proxy in front of a real registry that can fail requests (a registry
// answering 500s for a while) and records the paths asked for.
type front struct {
	proxy    *httputil.ReverseProxy
	failNext atomic.Int32
	mu       sync.Mutex
	paths    []string
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if f.failNext.Load() > 0 {
		f.failNext.Add(-1)
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"temporarily unavailable"}]}`, http.StatusInternalServerError)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

func (f *front) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = nil
}

func (f *front) asked(prefix string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.paths, func(p string) bool { return strings.HasPrefix(p, prefix) })
}

type basic struct {
	host string
	cfg  authn.AuthConfig
}

func (b basic) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == b.host {
		return authn.FromConfig(b.cfg), nil
	}
	return authn.Anonymous, nil
}

// target is a registry under test, reached through its front.
type target struct {
	name   string
	host   string
	front  *front
	client *oci.Client
	kc     authn.Keychain
}

func targets(t *testing.T) []target {
	t.Helper()
	mk := func(name string, backend *url.URL, kc authn.Keychain) target {
		f := &front{proxy: httputil.NewSingleHostReverseProxy(backend)}
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		host := strings.TrimPrefix(srv.URL, "http://")
		if kc == nil {
			kc = authn.NewMultiKeychain()
		}
		c, err := oci.New(oci.Config{Insecure: []string{host}, Keychain: kc, RetryDelay: 5e6, RateLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		return target{name: name, host: host, front: f, client: c, kc: kc}
	}
	inproc := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(inproc.Close)
	u, _ := url.Parse(inproc.URL)
	out := []target{mk("go-containerregistry", u, nil)}

	reg := registrytest.Start(t)
	u, _ = url.Parse("http://" + reg.Host)
	dist := mk("docker-registry", u, nil)
	// The distribution server asks for basic auth; the client answers through the front.
	kc := basic{host: dist.host, cfg: authn.AuthConfig{Username: reg.Username, Password: reg.Password}}
	c, err := oci.New(oci.Config{Insecure: []string{dist.host}, Keychain: kc, RetryDelay: 5e6, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	dist.client, dist.kc = c, kc
	return append(out, dist)
}

func provenance(t *testing.T, subject evidence.Digest, builder string) []byte {
	t.Helper()
	st, err := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
		"subject":   []any{map[string]any{"name": "app", "digest": map[string]string{"sha256": subject.Hex()}}},
		"predicate": map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": builder}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const cdx = `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"x","version":"1"}]}`

// TestCollectOnRealRegistries attaches evidence every way tools do — to go-containerregistry's
// in-process registry (which has the referrers API) and to Debian's docker-registry (which has
// not, so referrers live in the tag schema), with basic auth — and collects it back.
func TestCollectOnRealRegistries(t *testing.T) {
	ctx := context.Background()
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "demo", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := demo.Identity{SAN: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", Issuer: demo.Issuer}
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			c := tg.client
			repo := tg.host + "/acme/app"
			// An image index of two platforms.
			var children []evidence.ImageRef
			var adds []mutate.IndexAddendum
			for _, arch := range []string{"amd64", "arm64"} {
				img, err := random.Image(256, 1)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := c.PushImage(ctx, repo, arch, img)
				if err != nil {
					t.Fatal(err)
				}
				children = append(children, ref)
				adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
			}
			idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
			tag, err := name.NewTag(repo+":v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.WriteIndex(tag, idx, remote.WithAuthFromKeychain(tg.kc)); err != nil {
				t.Fatal(err)
			}
			h, _ := idx.Digest()
			ref := evidence.ImageRef{Repository: repo, Digest: evidence.Digest(h.String())}

			sign := func(subject evidence.Digest, builder string) []byte {
				b, err := ss.SignKeyless(ctx, provenance(t, subject, builder), id)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			ann := map[string]string{"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"}
			// 1. The attestation as an OCI 1.1 referrer.
			if _, err := c.Attach(ctx, ref, demo.BundleMediaType, demo.BundleMediaType, sign(ref.Digest, "https://builder.example/referrer"), ann); err != nil {
				t.Fatal(err)
			}
			// 2. As a referrer listed in the referrers tag schema index.
			d, err := c.Attach(ctx, ref, demo.BundleMediaType, demo.BundleMediaType, sign(ref.Digest, "https://builder.example/tag-schema"), ann)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.TagReferrer(ctx, ref, d); err != nil {
				t.Fatal(err)
			}
			// 3. As a cosign .att tag.
			b, err := demo.ParseBundle(sign(ref.Digest, "https://builder.example/cosign"))
			if err != nil {
				t.Fatal(err)
			}
			att, err := cosign.AttestationLayer(b, ss.Chain())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cosign.Push(ctx, c, ref, cosign.KindAttestation, []cosign.Layer{att}); err != nil {
				t.Fatal(err)
			}
			// The SBOM three ways, one of them on a platform manifest of the index.
			if _, err := c.Attach(ctx, ref, "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", []byte(cdx), nil); err != nil {
				t.Fatal(err)
			}
			d, err = c.Attach(ctx, children[1], "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", []byte(strings.Replace(cdx, `"1"`, `"2"`, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.TagReferrer(ctx, children[1], d); err != nil {
				t.Fatal(err)
			}
			if _, err := cosign.Push(ctx, c, children[0], cosign.KindSBOM, []cosign.Layer{cosign.SBOMLayer(cosign.CycloneDXJSONMediaType, []byte(strings.Replace(cdx, `"1"`, `"3"`, 1)))}); err != nil {
				t.Fatal(err)
			}
			// A 40 MiB blob, over the 32 MiB default limit: refused without being read.
			big := bytes.Repeat([]byte(" "), 40<<20)
			bigDigest, err := c.Attach(ctx, ref, "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", big, nil)
			if err != nil {
				t.Fatal(err)
			}

			// A registry answering 500s for a while: collection retries, then succeeds.
			tg.front.reset()
			tg.front.failNext.Store(3)
			set, err := collect.New(c, v, collect.EnvelopeTrust{}).Collect(ctx, ref, verify.Options{})
			if err != nil {
				t.Fatalf("collect: %v", err)
			}
			if n := tg.front.failNext.Load(); n != 0 {
				t.Fatalf("%d of the 500s were never served: the retry path was not exercised", n)
			}
			var got []string
			for _, e := range set.Evidence {
				switch {
				case e.Kind == evidence.KindProvenance:
					if !e.Verification.Verified || !e.SubjectMatch || e.Provenance == nil {
						t.Errorf("provenance from %s not verified: %+v", e.Source, e)
						continue
					}
					got = append(got, "provenance "+e.Provenance.BuilderID)
				case e.Kind == evidence.KindSBOM && e.Malformed != "":
					if !strings.Contains(e.Malformed, "size limit") {
						t.Errorf("big SBOM: %q", e.Malformed)
					}
					got = append(got, "sbom refused")
				case e.Kind == evidence.KindSBOM:
					got = append(got, "sbom "+e.Source)
				default:
					t.Errorf("unexpected evidence %+v", e)
				}
			}
			slices.Sort(got)
			want := []string{
				"provenance https://builder.example/cosign",
				"provenance https://builder.example/referrer",
				"provenance https://builder.example/tag-schema",
				"sbom cosign-tag",
				"sbom oci-referrers",
				"sbom oci-referrers",
				"sbom refused",
			}
			if tg.name == "docker-registry" {
				// No referrers API: every referrer is found through the tag schema.
				want = []string{
					"provenance https://builder.example/cosign",
					"provenance https://builder.example/referrer",
					"provenance https://builder.example/tag-schema",
					"sbom cosign-tag",
					"sbom oci-referrers-tag",
					"sbom oci-referrers-tag",
					"sbom refused",
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("evidence = %q\nwant %q", got, want)
			}
			if len(set.Errors) != 0 {
				t.Errorf("errors: %v", set.Errors)
			}
			if tg.front.asked("GET /v2/acme/app/blobs/" + string(bigDigestBlob(t, c, ref, bigDigest))) {
				t.Error("the 40 MiB blob was fetched")
			}
			if !tg.front.asked("GET /v2/acme/app/manifests/" + string(bigDigest)) {
				t.Error("the test did not reach the big attachment's manifest, so it proves nothing")
			}
		})
	}
}

// bigDigestBlob returns the layer digest of the attachment manifest d.
func bigDigestBlob(t *testing.T, c *oci.Client, ref evidence.ImageRef, d evidence.Digest) evidence.Digest {
	t.Helper()
	raw, err := c.Manifest(context.Background(), ref.Repository, string(d))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return evidence.Digest(m.Layers[0].Digest.String())
}

// TestDockerConfigCredentials reads credentials the way docker login leaves them: the default
// keychain finds them in $DOCKER_CONFIG/config.json.
func TestDockerConfigCredentials(t *testing.T) {
	reg := registrytest.Start(t)
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	c, err := oci.New(oci.Config{Insecure: []string{reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushImage(context.Background(), reg.Host+"/acme/app", "v1", img); err != nil {
		t.Fatalf("push with docker config credentials: %v", err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	c, err = oci.New(oci.Config{Insecure: []string{reg.Host}, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushImage(context.Background(), reg.Host+"/acme/app", "v2", img); err == nil {
		t.Error("push without credentials succeeded")
	}
}
