package collect

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/verify"
)

// DefaultCacheSize is how many documents' evidence NewCache keeps when given 0.
const DefaultCacheSize = 20000

// Cache keeps the evidence made from attached documents, so that collecting an artifact again
// — a rescan, a redeployment, another environment — neither downloads nor verifies nor parses
// a document already seen. An entry is keyed by everything the evidence depends on: the
// document's digest (blobs are content-addressed, and the registry client checks what it
// downloads against the digest), its media type, source and annotations (a cosign signature
// lives in them), the digests that count as the artifact, the organisation's roots and
// identity policy, and the version of the trusted material (verify.TrustVersion), so that a
// rotated root or key verifies everything again. Results that depend on a passing failure — a
// blob missing from the registry, an SBOM the document store did not take — are not kept.
// It is safe for concurrent use, and meant to be shared by the Collectors of one process.
type Cache struct {
	lru *lru.Cache[[32]byte, evidence.Evidence]
}

// NewCache returns a Cache of up to n documents (DefaultCacheSize when n is 0); nil, which
// caches nothing, when n is negative.
func NewCache(n int) *Cache {
	if n == 0 {
		n = DefaultCacheSize
	}
	if n < 0 {
		return nil
	}
	l, _ := lru.New[[32]byte, evidence.Evidence](n)
	return &Cache{lru: l}
}

// Len is how many documents' evidence the cache holds.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	return c.lru.Len()
}

// WithCache takes documents' evidence from cache and adds to it. The collector's verifier
// must have a Version method (as *verify.Verifier has); with another, nothing is cached.
func WithCache(cache *Cache) Option { return func(c *Collector) { c.cache = cache } }

// versioned is a verifier that identifies its trusted material.
type versioned interface{ Version() string }

// trustVersion is the version of everything a document's verification depends on: the
// verifier's material and the trust for raw DSSE envelopes; "" when the verifier has none.
func trustVersion(ver Verifier, env EnvelopeTrust, cached bool) string {
	if !cached {
		return ""
	}
	v, ok := ver.(versioned)
	if !ok || v.Version() == "" {
		return ""
	}
	if env.version == "" {
		env.version = env.computeVersion()
	}
	return v.Version() + "/" + env.version
}

// cacheKey is the key of the evidence of layer l of attachment a for an artifact whose own
// digests are targets, verified with opts; ok is false when it must not be cached.
func (c *Collector) cacheKey(targets about, a oci.Attachment, l oci.Layer, opts verify.Options) (key [32]byte, ok bool) {
	if c.cache == nil || c.trust == "" || opts.Artifact != nil || opts.ArtifactDigest != "" || l.Digest.Validate() != nil {
		return key, false
	}
	idents, err := json.Marshal(opts.Identities)
	if err != nil {
		return key, false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", c.trust, l.Digest, l.MediaType, a.Source, a.ArtifactType)
	for _, m := range []map[string]string{a.Annotations, l.Annotations} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(h, "%q=%q\x00", k, m[k])
		}
		h.Write([]byte{1})
	}
	for _, t := range targets {
		fmt.Fprintf(h, "%s\x00", t)
	}
	fmt.Fprintf(h, "\x01%q\x00%s", opts.Roots, idents)
	copy(key[:], h.Sum(nil))
	return key, true
}

// transient reports whether ev records a failure that may pass, which must not be cached.
func transient(ev evidence.Evidence) bool {
	return strings.HasPrefix(ev.Malformed, blobMissing) || strings.HasPrefix(ev.Malformed, sbomNotStored)
}
