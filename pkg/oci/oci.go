// Package oci reads and writes evidence attached to artifacts in OCI registries, with
// go-containerregistry: the OCI 1.1 referrers API (and its tag-schema fallback), manifests and
// blobs under read limits, and pushing images and attachments.
package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Limits.
const (
	DefaultMaxBlobSize = 32 << 20
	MaxManifestSize    = 4 << 20
)

// ErrTooLarge is returned when a manifest or blob is larger than the configured limit; the
// document is not read.
var ErrTooLarge = errors.New("document exceeds the size limit")

// Config configures registry access.
type Config struct {
	// MaxBlobSize bounds every blob read; default DefaultMaxBlobSize.
	MaxBlobSize int64
	// Timeout bounds each registry request; default 30s.
	Timeout time.Duration
	// Insecure lists registry hosts reached over plain HTTP. Others need TLS, except loopback
	// addresses, which go-containerregistry always reaches over HTTP.
	Insecure []string
	// Transport, when set, replaces the default HTTP transport.
	Transport http.RoundTripper
	// Keychain resolves credentials; default the Docker config file and credential helpers.
	Keychain authn.Keychain
	// MaxConcurrency bounds concurrent requests to one registry host; default 8.
	MaxConcurrency int
	// RateLimit bounds requests per second to one registry host; default 100, negative for none.
	RateLimit float64
	// Retries is how many times a request failing with 429, 5xx or a timeout is retried, with
	// exponential back-off from RetryDelay; default 3 and 500ms; negative for none.
	Retries    int
	RetryDelay time.Duration
	// MaxReferrerPages bounds the pages of a paginated referrers answer; default 20.
	MaxReferrerPages int
	// AllowRedirects lists the hosts (path.Match patterns) a registry may redirect requests to,
	// such as the storage or CDN host its blobs are served from; a redirect to any other host
	// is refused with ErrRedirectRefused. Nil means DefaultAllowRedirects; empty means none.
	AllowRedirects []string
}

// DefaultAllowRedirects are the blob storage and CDN hosts the big public registries redirect
// blob downloads to (GHCR, Docker Hub, Quay, Google Artifact Registry and GCR, Amazon ECR,
// Azure Container Registry). What comes back is checked against its digest like any blob.
var DefaultAllowRedirects = []string{
	"pkg-containers.githubusercontent.com",
	"production.cloudflare.docker.com",
	"cdn.quay.io", "cdn[0-9]*.quay.io",
	"storage.googleapis.com",
	"prod-*-starport-layer-bucket.s3.*.amazonaws.com",
	"*.blob.core.windows.net",
}

// Validate fills in defaults and reports whether c is usable.
func (c *Config) Validate() error {
	if c.MaxBlobSize == 0 {
		c.MaxBlobSize = DefaultMaxBlobSize
	}
	if c.AllowRedirects == nil {
		c.AllowRedirects = DefaultAllowRedirects
	}
	if c.MaxBlobSize < 0 {
		return fmt.Errorf("oci: max blob size %d: must be positive", c.MaxBlobSize)
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Transport == nil {
		c.Transport = remote.DefaultTransport
	}
	if c.Keychain == nil {
		c.Keychain = authn.DefaultKeychain
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = 8
	}
	if c.MaxConcurrency < 0 {
		return fmt.Errorf("oci: max concurrency %d: must be positive", c.MaxConcurrency)
	}
	if c.RateLimit == 0 {
		c.RateLimit = 100
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 500 * time.Millisecond
	}
	if c.MaxReferrerPages == 0 {
		c.MaxReferrerPages = 20
	}
	return nil
}

// Client talks to registries. It is safe for concurrent use.
type Client struct {
	cfg       Config
	transport http.RoundTripper
	guard     *guard
	base      []remote.Option
	// puller and pusher keep each repository's authenticated transport (and bearer token)
	// across calls, instead of pinging and authenticating again for every request. They also
	// keep a failed first contact (ping, token) for ever, so they are replaced after any
	// failed request (see reuse).
	mu     sync.Mutex
	puller *remote.Puller
	pusher *remote.Pusher
	// pullers holds, for the requests go-containerregistry has no call for (the referrers API),
	// each repository's authenticated transport by pull scope; emptied with the puller.
	pullers map[string]http.RoundTripper
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGuard(cfg)
	c := &Client{cfg: cfg, transport: g, guard: g}
	c.base = []remote.Option{
		remote.WithAuthFromKeychain(c.cfg.Keychain),
		remote.WithTransport(c.transport),
		remote.WithRetryBackoff(remote.Backoff{Duration: c.cfg.RetryDelay, Factor: 2, Jitter: 0.1, Steps: max(1, c.cfg.Retries+1)}),
	}
	var err error
	if c.puller, err = remote.NewPuller(c.base...); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	if c.pusher, err = remote.NewPusher(c.base...); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	return c, nil
}

func (c *Client) options(ctx context.Context) []remote.Option {
	puller, pusher := c.reuse()
	return append([]remote.Option{remote.WithContext(ctx), remote.Reuse(puller), remote.Reuse(pusher)}, c.base...)
}

// reuse returns the puller and pusher to reuse, fresh ones when a request failed since the last
// call: go-containerregistry remembers a repository's failed first contact (a registry
// answering 500s or not at all while it pinged) for the life of the puller, which would make
// the repository unreachable long after the registry recovered.
func (c *Client) reuse() (*remote.Puller, *remote.Pusher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.guard.failed.Swap(false) {
		clear(c.pullers)
		if p, err := remote.NewPuller(c.base...); err == nil {
			c.puller = p
		}
		if p, err := remote.NewPusher(c.base...); err == nil {
			c.pusher = p
		}
	}
	return c.puller, c.pusher
}

func (c *Client) nameOpts(repo string) []name.Option {
	host, _, _ := strings.Cut(repo, "/")
	if slices.Contains(c.cfg.Insecure, host) {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (c *Client) repository(repo string) (name.Repository, error) {
	r, err := name.NewRepository(repo, c.nameOpts(repo)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("parsing repository %q: %w", repo, err)
	}
	return r, nil
}

// Layer is one blob of an attachment.
type Layer struct {
	MediaType   string            `json:"media_type"`
	Digest      evidence.Digest   `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Where attachments are found.
const (
	// SourceReferrers is the OCI 1.1 referrers API.
	SourceReferrers = "oci-referrers"
	// SourceReferrersTag is the referrers tag schema (an index tagged sha256-<hex>), which
	// registries without the referrers API hold.
	SourceReferrersTag = "oci-referrers-tag"
	// SourceCosignTag is cosign's legacy tags sha256-<hex>.sig, .att and .sbom.
	SourceCosignTag = "cosign-tag"
)

// Attachment is a manifest that refers to an artifact: a signature, attestation or SBOM.
type Attachment struct {
	// Digest is the attachment manifest's digest.
	Digest evidence.Digest
	// Target is the manifest the attachment is attached to: the artifact, or one of its
	// platform manifests when the artifact is an index.
	Target evidence.Digest
	// Source says where it was found (SourceReferrers, SourceReferrersTag, SourceCosignTag).
	Source string
	// ArtifactType is the manifest's artifactType, or its config media type when unset; for
	// cosign tags, the tag's suffix ("sig", "att", "sbom").
	ArtifactType string
	Annotations  map[string]string
	Layers       []Layer
}

// Referrers lists the manifests whose subject is img, of artifactType when it is not empty,
// through the referrers API (following its pagination) and the referrers tag schema (which
// registries without the API hold). Each attachment's manifest is fetched, so its artifact type and layers
// are known even when the registry's index omits them.
func (c *Client) Referrers(ctx context.Context, img evidence.ImageRef, artifactType string) ([]Attachment, error) {
	repo, err := c.repository(img.Repository)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	descs, err := c.referrerDescriptors(ctx, repo, img.Digest, artifactType)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", img, err)
	}
	var out []Attachment
	for _, desc := range descs {
		if desc.Size > MaxManifestSize {
			return out, fmt.Errorf("referrer %s of %s: %d bytes: %w", desc.Digest, img, desc.Size, ErrTooLarge)
		}
		a, err := c.attachment(ctx, repo, desc.Descriptor)
		if err != nil {
			return out, err
		}
		if artifactType != "" && a.ArtifactType != artifactType {
			continue
		}
		a.Target, a.Source = img.Digest, desc.source
		out = append(out, a)
	}
	return out, nil
}

func (c *Client) attachment(ctx context.Context, repo name.Repository, desc v1.Descriptor) (Attachment, error) {
	d, err := remote.Get(repo.Digest(desc.Digest.String()), c.options(ctx)...)
	if err != nil {
		return Attachment{}, fmt.Errorf("fetching referrer manifest %s: %w", desc.Digest, err)
	}
	if len(d.Manifest) > MaxManifestSize {
		return Attachment{}, fmt.Errorf("referrer manifest %s: %w", desc.Digest, ErrTooLarge)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return Attachment{}, fmt.Errorf("parsing referrer manifest %s: %w", desc.Digest, err)
	}
	a := Attachment{
		Digest:       evidence.Digest(desc.Digest.String()),
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
	if a.ArtifactType == "" {
		a.ArtifactType = desc.ArtifactType
	}
	if a.ArtifactType == "" {
		a.ArtifactType = string(m.Config.MediaType)
	}
	for _, l := range m.Layers {
		a.Layers = append(a.Layers, Layer{MediaType: string(l.MediaType), Digest: evidence.Digest(l.Digest.String()), Size: l.Size, Annotations: l.Annotations})
	}
	return a, nil
}

// Blob reads the blob l from repo, refusing with ErrTooLarge (without reading) one larger than
// the limit, and checking the content against its digest.
func (c *Client) Blob(ctx context.Context, repo string, l Layer) ([]byte, error) {
	max := c.cfg.MaxBlobSize
	if l.Size > max {
		return nil, fmt.Errorf("blob %s: %d bytes, limit %d: %w", l.Digest, l.Size, max, ErrTooLarge)
	}
	r, err := c.repository(repo)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	layer, err := remote.Layer(r.Digest(l.Digest.String()), c.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", l.Digest, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", l.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", l.Digest, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("blob %s: more than %d bytes: %w", l.Digest, max, ErrTooLarge)
	}
	if got := evidence.Digest("sha256:" + sha256Hex(b)); l.Digest.Algorithm() == "sha256" && got != l.Digest {
		return nil, fmt.Errorf("blob %s: content has digest %s", l.Digest, got)
	}
	return b, nil
}

// pullTransport returns an authenticated transport for pulling from repo, made once per
// repository (pinging the registry and fetching a token take one or two round trips each, and
// for a registry marked insecure a failed TLS handshake first) and made again after a request
// failed (see reuse). Bearer tokens that expire are renewed by the transport on a 401.
func (c *Client) pullTransport(ctx context.Context, repo name.Repository) (http.RoundTripper, error) {
	c.reuse()
	scope := repo.Scope(transport.PullScope)
	c.mu.Lock()
	rt, ok := c.pullers[scope]
	c.mu.Unlock()
	if ok {
		return rt, nil
	}
	auth, err := c.cfg.Keychain.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials: %w", err)
	}
	rt, err = transport.NewWithContext(ctx, repo.Registry, auth, c.transport, []string{scope})
	if err != nil {
		return nil, fmt.Errorf("authenticating to %s: %w", repo.RegistryStr(), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pullers == nil {
		c.pullers = map[string]http.RoundTripper{}
	}
	if len(c.pullers) >= maxCachedTransports {
		clear(c.pullers)
	}
	c.pullers[scope] = rt
	return rt, nil
}

// maxCachedTransports bounds Client.pullers: a crawl of a registry with more repositories than
// this starts over rather than growing without end.
const maxCachedTransports = 1024
