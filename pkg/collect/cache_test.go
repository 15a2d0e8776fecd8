package collect_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/verify"
)

// countingVerifier counts verifications; it keeps the wrapped verifier's Version.
type countingVerifier struct {
	*verify.Verifier
	n atomic.Int32
}

func (v *countingVerifier) Verify(b *bundle.Bundle, opts verify.Options) (verify.Result, error) {
	v.n.Add(1)
	return v.Verifier.Verify(b, opts)
}

// flakyDocuments refuses documents while down is set, and counts those it takes.
type flakyDocuments struct {
	down   atomic.Bool
	stored atomic.Int32
}

func (d *flakyDocuments) PutDocument(context.Context, evidence.Digest, []byte) error {
	if d.down.Load() {
		return errors.New("object store unavailable")
	}
	d.stored.Add(1)
	return nil
}

// documents returns the set's evidence, ordered by id (referrers come in no particular order)
// and without the collection time, for comparing sets.
func documents(t *testing.T, set evidence.ArtifactEvidence) string {
	t.Helper()
	evs := slices.Clone(set.Evidence)
	slices.SortFunc(evs, func(a, b evidence.Evidence) int { return strings.Compare(string(a.ID), string(b.ID)) })
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCollectCache checks that a second collection of the same documents neither downloads
// nor verifies them and yields the same evidence; that another identity policy or other
// trusted material verifies them again (with another outcome); and that a failure that may
// pass is not remembered.
func TestCollectCache(t *testing.T) {
	ctx := context.Background()
	var blobGets atomic.Int32
	h := oci.NewRegistryHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := client.PushImage(ctx, host+"/acme/app", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ss.SignKeyless(ctx, statement(t, ref.Digest, "https://slsa.dev/provenance/v1", slsaPredicate), identity)
	if err != nil {
		t.Fatal(err)
	}
	bom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"x","version":"1"}]}`)
	for _, a := range []struct {
		mediaType string
		data      []byte
		ann       map[string]string
	}{
		{bundleType, signed, map[string]string{"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"}},
		{"application/vnd.cyclonedx+json", bom, nil},
	} {
		if _, err := client.Attach(ctx, ref, a.mediaType, a.mediaType, a.data, a.ann); err != nil {
			t.Fatal(err)
		}
	}
	base, err := verify.New([]verify.NamedRoot{{Name: "test", Material: ss.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ver := &countingVerifier{Verifier: base}
	docs := &flakyDocuments{}
	docs.down.Store(true)
	cache := collect.NewCache(100)
	collector := func(v collect.Verifier) *collect.Collector {
		return collect.New(client, v, collect.EnvelopeTrust{}, collect.WithCache(cache), collect.WithDocuments(docs))
	}

	// First collection, with the document store down: the SBOM is recorded as not stored.
	first, err := collector(ver).Collect(ctx, ref, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ver.n.Load() != 1 || blobGets.Load() != 2 || !first.HasVerifiedProvenance() {
		t.Fatalf("first collection: %d verifications, %d blob downloads, verified provenance %v; want 1, 2, true",
			ver.n.Load(), blobGets.Load(), first.HasVerifiedProvenance())
	}
	if cache.Len() != 1 {
		t.Errorf("cache holds %d documents after the first collection, want 1 (the SBOM that was not stored is not kept)", cache.Len())
	}

	// Second collection with the store back: the provenance comes from the cache, the SBOM
	// is read and stored this time.
	docs.down.Store(false)
	second, err := collector(ver).Collect(ctx, ref, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ver.n.Load() != 1 || blobGets.Load() != 3 || docs.stored.Load() != 1 {
		t.Errorf("second collection: %d verifications, %d blob downloads, %d documents stored; want 1, 3, 1",
			ver.n.Load(), blobGets.Load(), docs.stored.Load())
	}
	for _, e := range second.Evidence {
		if e.Kind == evidence.KindSBOM && (e.Malformed != "" || e.SBOM == nil || e.SBOM.Ref == "") {
			t.Errorf("SBOM after the store came back: %+v", e)
		}
	}

	// Third: everything from the cache, the same evidence as the second.
	third, err := collector(ver).Collect(ctx, ref, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ver.n.Load() != 1 || blobGets.Load() != 3 {
		t.Errorf("third collection: %d verifications, %d blob downloads; want still 1 and 3", ver.n.Load(), blobGets.Load())
	}
	if documents(t, third) != documents(t, second) {
		t.Errorf("cached evidence differs:\n%s\n%s", documents(t, third), documents(t, second))
	}

	// An organisation expecting another signer: verified again, and rejected.
	elsewhere := verify.IdentityPolicy{Issuer: demo.Issuer, SANRegex: `^https://github\.com/someone-else/`}
	if err := elsewhere.Validate(); err != nil {
		t.Fatal(err)
	}
	other, err := collector(ver).Collect(ctx, ref, verify.Options{Identities: []verify.IdentityPolicy{elsewhere}})
	if err != nil {
		t.Fatal(err)
	}
	if ver.n.Load() != 2 || other.HasVerifiedProvenance() {
		t.Errorf("another identity policy: %d verifications, verified provenance %v; want 2, false", ver.n.Load(), other.HasVerifiedProvenance())
	}

	// Another trusted root (a rotation to material that did not sign this bundle): verified
	// again, and not verified.
	ss2, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := verify.New([]verify.NamedRoot{{Name: "test", Material: ss2.TrustedRoot()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Version() == base.Version() {
		t.Fatal("two different trusted roots have the same version")
	}
	ver2 := &countingVerifier{Verifier: rotated}
	after, err := collector(ver2).Collect(ctx, ref, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ver2.n.Load() != 1 || after.HasVerifiedProvenance() {
		t.Errorf("rotated root: %d verifications, verified provenance %v; want 1, false", ver2.n.Load(), after.HasVerifiedProvenance())
	}
}
