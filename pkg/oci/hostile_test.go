package oci_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// hostileRegistry is a real registry (go-containerregistry's) behind a front that answers the
// requests override takes (returning true) the way a hostile registry would.
func hostileRegistry(t *testing.T, override func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	reg := oci.NewRegistryHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if override != nil && override(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// gzipBomb writes n zero bytes gzip-compressed with Content-Encoding: gzip (about n/1000 bytes
// on the wire at most); Go's transport decodes it transparently.
func gzipBomb(w http.ResponseWriter, contentType string, prefix []byte, n int) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(prefix)
	zeros := make([]byte, 1<<20)
	for written := 0; written < n; written += len(zeros) {
		zw.Write(zeros)
	}
	zw.Close()
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	w.Write(buf.Bytes())
}

func hostileClient(t *testing.T, cfg oci.Config) *oci.Client {
	t.Helper()
	cfg.Retries = -1
	c, err := oci.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBlobDecompressionBombRefused(t *testing.T) {
	var served atomic.Bool
	host := hostileRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			served.Store(true)
			gzipBomb(w, "application/octet-stream", nil, 64<<20)
			return true
		}
		return false
	})
	c := hostileClient(t, oci.Config{MaxBlobSize: 1 << 20, Insecure: []string{host}})
	// The descriptor claims 100 bytes; the body expands to 64 MiB.
	l := oci.Layer{Digest: evidence.Digest("sha256:" + strings.Repeat("ab", 32)), Size: 100}
	_, err := c.Blob(context.Background(), host+"/acme/app", l)
	if !served.Load() {
		t.Fatal("the bomb was never asked for")
	}
	if !errors.Is(err, oci.ErrTooLarge) || !strings.Contains(err.Error(), "more than 1048576 bytes") {
		t.Fatalf("gzip bomb blob: err = %v, want ErrTooLarge after 1 MiB", err)
	}
}

func TestManifestBombsRefused(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter){
		// A manifest that gzip-expands to 64 MiB (go-containerregistry alone reads up to 100 MiB
		// before this package could check the size).
		"gzip": func(w http.ResponseWriter) {
			gzipBomb(w, "application/vnd.oci.image.manifest.v1+json", []byte(`{"schemaVersion":2,"x":"`), 64<<20)
		},
		// A plain manifest larger than MaxManifestSize, announced by its Content-Length.
		"oversized": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(bytes.Repeat([]byte(" "), oci.MaxManifestSize+10))
		},
		// The same without a Content-Length (chunked): cut off while reading.
		"chunked": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			chunk := bytes.Repeat([]byte(" "), 64<<10)
			for range (oci.MaxManifestSize / len(chunk)) + 2 {
				w.Write(chunk)
				w.(http.Flusher).Flush()
			}
		},
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			host := hostileRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/manifests/") {
					serve(w)
					return true
				}
				return false
			})
			c := hostileClient(t, oci.Config{Insecure: []string{host}})
			m, err := c.Manifest(context.Background(), host+"/acme/app", "v1")
			// Refused by the transport while reading ("response from …"), not after.
			if !errors.Is(err, oci.ErrTooLarge) || !strings.Contains(err.Error(), "response from") || m != nil {
				t.Fatalf("%s manifest: %d bytes, err = %v, want ErrTooLarge", name, len(m), err)
			}
		})
	}
}

func TestCrossHostRedirectRefused(t *testing.T) {
	ctx := context.Background()
	// The other host serves the blob's real content: only the redirect is hostile.
	content := []byte(`{"bomFormat":"CycloneDX"}`)
	sum := sha256.Sum256(content)
	l := oci.Layer{Digest: evidence.Digest("sha256:" + hex.EncodeToString(sum[:])), Size: int64(len(content))}
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write(content)
	}))
	t.Cleanup(other.Close)
	otherHost := strings.TrimPrefix(other.URL, "http://")
	host := hostileRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, other.URL+"/storage/blob", http.StatusTemporaryRedirect)
			return true
		}
		return false
	})

	c := hostileClient(t, oci.Config{Insecure: []string{host, otherHost}})
	_, err := c.Blob(ctx, host+"/acme/app", l)
	if !errors.Is(err, oci.ErrRedirectRefused) || !strings.Contains(err.Error(), otherHost) {
		t.Fatalf("redirect to %s: err = %v, want ErrRedirectRefused naming the host", otherHost, err)
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("the other host was asked %d times", n)
	}

	// Allowed explicitly, the same redirect is followed and the content checked.
	c = hostileClient(t, oci.Config{Insecure: []string{host, otherHost}, AllowRedirects: []string{"127.0.0.1:*"}})
	got, err := c.Blob(ctx, host+"/acme/app", l)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("allowed redirect: %q, %v", got, err)
	}
	if n := otherHits.Load(); n != 1 {
		t.Fatalf("the allowed host was asked %d times, want 1", n)
	}
}

// putIndex stores raw as a manifest of repo in the registry at host and returns its digest.
func putIndex(t *testing.T, host, repo string, raw []byte) evidence.Digest {
	t.Helper()
	sum := sha256.Sum256(raw)
	d := "sha256:" + hex.EncodeToString(sum[:])
	req, err := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+d, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT index: %s", resp.Status)
	}
	return evidence.Digest(d)
}

type desc struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int    `json:"size"`
}

func index(t *testing.T, manifests ...desc) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIndexLimits(t *testing.T) {
	ctx := context.Background()
	// The registry refuses to store an index whose manifests it lacks; a hostile one serves it.
	var served sync.Map
	host := hostileRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
		_, d, _ := strings.Cut(r.URL.Path, "/manifests/")
		raw, ok := served.Load(d)
		if ok {
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			w.Write(raw.([]byte))
		}
		return ok
	})
	c := hostileClient(t, oci.Config{Insecure: []string{host}})
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.PushImage(ctx, host+"/acme/app", "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	child := desc{"application/vnd.oci.image.manifest.v1+json", string(ref.Digest), 100}

	t.Run("too many manifests", func(t *testing.T) {
		var many []desc
		for i := range oci.MaxIndexManifests + 1 {
			sum := sha256.Sum256(fmt.Appendf(nil, "%d", i))
			many = append(many, desc{"application/vnd.oci.image.manifest.v1+json", "sha256:" + hex.EncodeToString(sum[:]), 100})
		}
		raw := index(t, many...)
		sum := sha256.Sum256(raw)
		d := evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
		served.Store(string(d), raw)
		disc, err := c.Discover(ctx, evidence.ImageRef{Repository: host + "/acme/app", Digest: d})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("lists %d manifests, limit %d", oci.MaxIndexManifests+1, oci.MaxIndexManifests)
		if len(disc.Children) != 0 || len(disc.Problems) != 1 || !strings.Contains(disc.Problems[0], want) {
			t.Fatalf("children %v, problems %q; want none and one problem %q", disc.Children, disc.Problems, want)
		}
	})

	t.Run("nested indexes are not followed", func(t *testing.T) {
		// inner lists the image; outer lists inner and the image. A registry cannot serve a true
		// cycle (a digest covers the content), but nesting is never walked, so none is.
		inner := index(t, child)
		innerDigest := putIndex(t, host, "acme/app", inner)
		outer := putIndex(t, host, "acme/app", index(t, desc{"application/vnd.oci.image.index.v1+json", string(innerDigest), len(inner)}, child))
		for _, d := range []evidence.Digest{outer, innerDigest} {
			disc, err := c.Discover(ctx, evidence.ImageRef{Repository: host + "/acme/app", Digest: d})
			if err != nil {
				t.Fatal(err)
			}
			if len(disc.Children) != 1 || disc.Children[0] != ref.Digest || len(disc.Problems) != 0 {
				t.Fatalf("index %s: children %v, problems %q; want only %s", d, disc.Children, disc.Problems, ref.Digest)
			}
		}
	})
}

func TestLyingIndexRefused(t *testing.T) {
	// A registry that answers for digest D with an index listing D itself (a cycle only a lie
	// can make): the content does not match D, and the answer is refused.
	ctx := context.Background()
	self := "sha256:" + strings.Repeat("cd", 32)
	host := hostileRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/manifests/"+self) {
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			w.Header().Set("Docker-Content-Digest", self)
			w.Write(index(t, desc{"application/vnd.oci.image.index.v1+json", self, 200}, desc{"application/vnd.oci.image.manifest.v1+json", self, 200}))
			return true
		}
		return false
	})
	c := hostileClient(t, oci.Config{Insecure: []string{host}})
	disc, err := c.Discover(ctx, evidence.ImageRef{Repository: host + "/acme/app", Digest: evidence.Digest(self)})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("lying index: children %v, err = %v; want a digest mismatch", disc.Children, err)
	}
}
