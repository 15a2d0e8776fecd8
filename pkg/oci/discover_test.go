package oci_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// registry is go-containerregistry's in-process registry behind a switchable front: it can
// hide the referrers API (as registries without it answer 404), paginate referrers answers
// one manifest per page with Link headers (as the distribution spec allows), or fail.
type registry struct {
	inner          http.Handler
	noReferrersAPI atomic.Bool
	paginate       atomic.Bool
	failNext       atomic.Int32 // answer this many requests with 500 first
	requests       atomic.Int32
}

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	if r.failNext.Load() > 0 {
		r.failNext.Add(-1)
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"overloaded"}]}`, http.StatusInternalServerError)
		return
	}
	if strings.Contains(req.URL.Path, "/referrers/") {
		if r.noReferrersAPI.Load() {
			http.NotFound(w, req)
			return
		}
		if r.paginate.Load() {
			r.page(w, req)
			return
		}
	}
	r.inner.ServeHTTP(w, req)
}

// page serves the referrers index one manifest per page; like many registries it ignores the
// artifactType filter, which the client must then apply itself.
func (r *registry) page(w http.ResponseWriter, req *http.Request) {
	rec := httptest.NewRecorder()
	inner := req.Clone(req.Context())
	inner.URL.RawQuery = ""
	r.inner.ServeHTTP(rec, inner)
	var idx v1.IndexManifest
	if err := json.Unmarshal(rec.Body.Bytes(), &idx); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	slices.SortFunc(idx.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	n := 0
	fmt.Sscan(req.URL.Query().Get("page"), &n)
	if n < len(idx.Manifests) {
		if n+1 < len(idx.Manifests) {
			q := req.URL.Query()
			q.Set("page", fmt.Sprint(n+1))
			w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, req.URL.Path, q.Encode()))
		}
		idx.Manifests = idx.Manifests[n : n+1]
	}
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	_ = json.NewEncoder(w).Encode(idx)
}

func start(t *testing.T) (*registry, string, *oci.Client) {
	t.Helper()
	reg := &registry{inner: oci.NewRegistryHandler()}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := oci.New(oci.Config{Insecure: []string{host}, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return reg, host, c
}

func pushImage(t *testing.T, c *oci.Client, repo string) evidence.ImageRef {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.PushImage(context.Background(), repo, "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

const (
	bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cdxType    = "application/vnd.cyclonedx+json"
)

func attach(t *testing.T, c *oci.Client, ref evidence.ImageRef, artifactType, data string) evidence.Digest {
	t.Helper()
	d, err := c.Attach(context.Background(), ref, artifactType, artifactType, []byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func digests(atts []oci.Attachment) []string {
	var out []string
	for _, a := range atts {
		out = append(out, a.Source+" "+a.ArtifactType)
	}
	slices.Sort(out)
	return out
}

func TestReferrersPaginationAndFilter(t *testing.T) {
	ctx := context.Background()
	reg, host, c := start(t)
	ref := pushImage(t, c, host+"/acme/app")
	attach(t, c, ref, bundleType, "bundle-1")
	attach(t, c, ref, bundleType, "bundle-2")
	attach(t, c, ref, cdxType, "{}")
	reg.paginate.Store(true)
	atts, err := c.Referrers(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"oci-referrers " + cdxType, "oci-referrers " + bundleType, "oci-referrers " + bundleType}
	if got := digests(atts); !slices.Equal(got, want) {
		t.Errorf("paginated referrers = %v, want %v", got, want)
	}
	atts, err = c.Referrers(ctx, ref, cdxType)
	if err != nil {
		t.Fatal(err)
	}
	if got := digests(atts); !slices.Equal(got, []string{"oci-referrers " + cdxType}) {
		t.Errorf("filtered referrers = %v", got)
	}
}

func TestReferrersTagSchemaFallback(t *testing.T) {
	ctx := context.Background()
	reg, host, c := start(t)
	ref := pushImage(t, c, host+"/acme/app")
	attDigest := attach(t, c, ref, bundleType, "bundle")
	reg.noReferrersAPI.Store(true)

	// Without the API and without the tag, there are no referrers: not an error.
	atts, err := c.Referrers(ctx, ref, "")
	if err != nil || len(atts) != 0 {
		t.Fatalf("no tag: %v, %v", atts, err)
	}
	// Clients that push to such registries maintain the sha256-<hex> index tag.
	desc, err := remote.Head(parseRef(t, ref.Repository+"@"+string(attDigest), name.Insecure))
	if err != nil {
		t.Fatal(err)
	}
	desc.ArtifactType = bundleType
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: static(t, c, ref, attDigest), Descriptor: *desc}), types.OCIImageIndex)
	tag := parseRef(t, ref.Repository+":"+strings.Replace(string(ref.Digest), ":", "-", 1), name.Insecure)
	if err := remote.WriteIndex(tag.(name.Tag), idx); err != nil {
		t.Fatal(err)
	}
	atts, err = c.Referrers(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 || atts[0].Source != oci.SourceReferrersTag || atts[0].Digest != attDigest || atts[0].ArtifactType != bundleType {
		t.Errorf("tag-schema referrers = %+v", atts)
	}
	// With the API back, the same manifest listed both ways is reported once.
	reg.noReferrersAPI.Store(false)
	atts, err = c.Referrers(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 || atts[0].Source != oci.SourceReferrers {
		t.Errorf("API and tag listing the same manifest: %+v", atts)
	}
}

// static fetches the attachment manifest as an image, for building an index by hand.
func static(t *testing.T, _ *oci.Client, ref evidence.ImageRef, d evidence.Digest) v1.Image {
	t.Helper()
	img, err := remote.Image(parseRef(t, ref.Repository+"@"+string(d), name.Insecure))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestDiscoverIndexAndCosignTags(t *testing.T) {
	ctx := context.Background()
	_, host, c := start(t)
	repo := host + "/acme/multi"
	amd, arm := pushImage(t, c, repo), pushImage(t, c, repo)
	index := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: static(t, c, amd, amd.Digest), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: static(t, c, arm, arm.Digest), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	index = mutate.IndexMediaType(index, types.OCIImageIndex)
	if err := remote.WriteIndex(parseRef(t, repo+":v1", name.Insecure).(name.Tag), index); err != nil {
		t.Fatal(err)
	}
	h, _ := index.Digest()
	ref := evidence.ImageRef{Repository: repo, Digest: evidence.Digest(h.String())}

	attach(t, c, ref, bundleType, "on-the-index")
	attach(t, c, arm, cdxType, "{}")
	// A cosign .att tag on the amd64 manifest, laid out as cosign writes it.
	layer := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`)
	ld := evidence.Digest(fmt.Sprintf("sha256:%x", sha(layer)))
	cfg := []byte(`{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["` + string(ld) + `"]},"config":{}}`)
	cd := evidence.Digest(fmt.Sprintf("sha256:%x", sha(cfg)))
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: mustHash(t, cd)},
		Layers: []v1.Descriptor{{MediaType: "application/vnd.dsse.envelope.v1+json", Size: int64(len(layer)), Digest: mustHash(t, ld),
			Annotations: map[string]string{"predicateType": "https://slsa.dev/provenance/v1"}}},
	}
	if _, err := c.PushManifest(ctx, repo, oci.CosignTag(amd.Digest, "att"), m, map[evidence.Digest]oci.Blob{
		ld: {MediaType: "application/vnd.dsse.envelope.v1+json", Data: layer}, cd: {MediaType: string(types.OCIConfigJSON), Data: cfg},
	}); err != nil {
		t.Fatal(err)
	}

	d, err := c.Discover(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Children, amd.Digest) || !slices.Contains(d.Children, arm.Digest) || len(d.Children) != 2 {
		t.Errorf("children = %v", d.Children)
	}
	got := map[evidence.Digest][]string{}
	for _, a := range d.Attachments {
		got[a.Target] = append(got[a.Target], a.Source+" "+a.ArtifactType)
		if a.Source == oci.SourceCosignTag && (len(a.Layers) != 1 || a.Layers[0].Annotations["predicateType"] == "") {
			t.Errorf("cosign layer annotations lost: %+v", a)
		}
	}
	want := map[evidence.Digest][]string{
		ref.Digest: {"oci-referrers " + bundleType},
		arm.Digest: {"oci-referrers " + cdxType},
		amd.Digest: {"cosign-tag att"},
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("attachments of %s = %v, want %v", k, got[k], v)
		}
	}
	if len(d.Problems) != 0 {
		t.Errorf("problems: %v", d.Problems)
	}
}

func TestDiscoverRetriesServerErrors(t *testing.T) {
	ctx := context.Background()
	reg, host, c := start(t)
	ref := pushImage(t, c, host+"/acme/app")
	attach(t, c, ref, bundleType, "bundle")
	reg.failNext.Store(2)
	d, err := c.Discover(ctx, ref)
	if err != nil {
		t.Fatalf("a registry that answers 500 twice and then recovers: %v", err)
	}
	if len(d.Attachments) != 1 {
		t.Errorf("attachments = %+v", d.Attachments)
	}
	// A registry that keeps failing is an error, to retry the whole collection later.
	reg.failNext.Store(1000)
	if _, err := c.Discover(ctx, ref); err == nil {
		t.Error("a failing registry gave no error")
	}
}

func TestPlainHTTPNeedsInsecure(t *testing.T) {
	srv := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(srv.Close)
	c, err := oci.New(oci.Config{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ref := evidence.ImageRef{Repository: strings.TrimPrefix(srv.URL, "http://") + "/acme/app", Digest: "sha256:ab00000000000000000000000000000000000000000000000000000000000000"}
	_, err = c.Discover(context.Background(), ref)
	if !errors.Is(err, oci.ErrInsecureRefused) {
		t.Errorf("plain HTTP to a registry not marked insecure: err = %v, want ErrInsecureRefused", err)
	}
}

func TestPerRegistryLimits(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := oci.New(oci.Config{Insecure: []string{host}, MaxConcurrency: 2, RateLimit: 50, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ref := evidence.ImageRef{Repository: host + "/acme/app", Digest: "sha256:ab00000000000000000000000000000000000000000000000000000000000000"}
	start := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Discover(context.Background(), ref)
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrent requests %d, limit 2", p)
	}
	// 20 requests at 50/s with a burst of 50 must take at least their share of 20ms slots at
	// concurrency 2.
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("20 requests at concurrency 2 x 20ms finished in %v", el)
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func mustHash(t *testing.T, d evidence.Digest) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(string(d))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func parseRef(t *testing.T, s string, opts ...name.Option) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
