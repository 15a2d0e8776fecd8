package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// sourced is a referrer descriptor and where it was listed.
type sourced struct {
	v1.Descriptor
	source string
}

// referrerDescriptors lists the referrers of d in repo: from the referrers API, following
// Link pagination, and from the index tagged with the referrers tag schema — which registries
// without the API hold, and registries that gained it may still hold from older clients —
// without repeating a manifest. It filters by artifactType itself when the registry did not.
func (c *Client) referrerDescriptors(ctx context.Context, repo name.Repository, d evidence.Digest, artifactType string) ([]sourced, error) {
	api, err := c.referrersAPI(ctx, repo, d, artifactType)
	if err != nil {
		return nil, err
	}
	tagged, err := c.referrersTag(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	seen := map[v1.Hash]bool{}
	var out []sourced
	for _, desc := range api {
		seen[desc.Digest] = true
		out = append(out, sourced{desc, SourceReferrers})
	}
	for _, desc := range filter(tagged, artifactType) {
		if !seen[desc.Digest] {
			seen[desc.Digest] = true
			out = append(out, sourced{desc, SourceReferrersTag})
		}
	}
	return out, nil
}

// referrersAPI lists referrers through the referrers API; none when the registry lacks it.
func (c *Client) referrersAPI(ctx context.Context, repo name.Repository, d evidence.Digest, artifactType string) ([]v1.Descriptor, error) {
	rt, err := c.pullTransport(ctx, repo)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: rt}
	u := &url.URL{
		Scheme: repo.Registry.Scheme(),
		Host:   repo.RegistryStr(),
		Path:   fmt.Sprintf("/v2/%s/referrers/%s", repo.RepositoryStr(), d),
	}
	if artifactType != "" {
		u.RawQuery = url.Values{"artifactType": {artifactType}}.Encode()
	}
	var all []v1.Descriptor
	for page := 0; u != nil; page++ {
		if page == c.cfg.MaxReferrerPages {
			return nil, fmt.Errorf("more than %d pages of referrers", c.cfg.MaxReferrerPages)
		}
		descs, next, filtered, status, err := c.referrersPage(ctx, client, u)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			if page > 0 {
				return nil, fmt.Errorf("referrers page %d: status %d", page+1, status)
			}
			return nil, nil
		}
		if !filtered {
			descs = filter(descs, artifactType)
		}
		all = append(all, descs...)
		u = next
	}
	return all, nil
}

// linkNext matches the next-page target of an RFC 8288 Link header.
var linkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// referrersPage fetches one page; a status other than 200 is returned for the caller to
// decide on (404, 400, 405 and 406 mean the registry has no referrers API).
func (c *Client) referrersPage(ctx context.Context, client *http.Client, u *url.URL) (descs []v1.Descriptor, next *url.URL, filtered bool, status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, false, 0, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, false, 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusNotAcceptable:
		return nil, nil, false, resp.StatusCode, nil
	default:
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			return nil, nil, false, 0, err
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, nil, false, 0, fmt.Errorf("reading referrers: %w", err)
	}
	if len(body) > MaxManifestSize {
		return nil, nil, false, 0, fmt.Errorf("referrers index: %w", ErrTooLarge)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, nil, false, 0, fmt.Errorf("parsing referrers index: %w", err)
	}
	if m := linkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
		ref, err := url.Parse(m[1])
		if err != nil {
			return nil, nil, false, 0, fmt.Errorf("parsing referrers Link header: %w", err)
		}
		next = u.ResolveReference(ref)
		if next.Host != u.Host {
			return nil, nil, false, 0, fmt.Errorf("referrers Link header points to another host (%s)", next.Host)
		}
	}
	filtered = strings.Contains(resp.Header.Get("OCI-Filters-Applied"), "artifactType")
	return idx.Manifests, next, filtered, http.StatusOK, nil
}

// referrersTag reads the referrers tag schema's index for d; none is not an error.
func (c *Client) referrersTag(ctx context.Context, repo name.Repository, d evidence.Digest) ([]v1.Descriptor, error) {
	tag := repo.Tag(strings.Replace(string(d), ":", "-", 1))
	desc, err := remote.Get(tag, c.options(ctx)...)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading referrers tag %s: %w", tag.TagStr(), err)
	}
	if len(desc.Manifest) > MaxManifestSize {
		return nil, fmt.Errorf("referrers tag %s: %w", tag.TagStr(), ErrTooLarge)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(desc.Manifest, &idx); err != nil {
		return nil, fmt.Errorf("parsing referrers tag %s: %w", tag.TagStr(), err)
	}
	return idx.Manifests, nil
}

func filter(descs []v1.Descriptor, artifactType string) []v1.Descriptor {
	if artifactType == "" {
		return descs
	}
	var out []v1.Descriptor
	for _, d := range descs {
		// The index's artifactType may be missing (some registries); keep those for the
		// caller to check against the manifest itself.
		if d.ArtifactType == artifactType || d.ArtifactType == "" || d.ArtifactType == MediaTypeEmpty {
			out = append(out, d)
		}
	}
	return out
}

// IsNotFound reports whether err is a registry's 404 (or MANIFEST_UNKNOWN / NAME_UNKNOWN).
func IsNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, e := range terr.Errors {
		if e.Code == transport.ManifestUnknownErrorCode || e.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// isUnreachable reports whether err means the registry could not be asked at all (network
// errors, 5xx after retries, 429): the whole collection should be retried later.
func isUnreachable(err error) bool {
	if refused(err) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode >= 500 || terr.StatusCode == http.StatusTooManyRequests
	}
	var uerr *url.Error
	return errors.As(err, &uerr)
}
