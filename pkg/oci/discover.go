package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// CosignSuffixes are cosign's legacy attachment tag suffixes: signatures, attestations, SBOMs.
var CosignSuffixes = []string{"sig", "att", "sbom"}

// CosignTag returns the tag cosign uses for attachments of kind suffix to digest d:
// "sha256-<hex>.<suffix>".
func CosignTag(d evidence.Digest, suffix string) string {
	return strings.Replace(string(d), ":", "-", 1) + "." + suffix
}

// Discovery is everything found attached to an artifact.
type Discovery struct {
	Attachments []Attachment
	// Children are the platform manifests of an image index (empty for a single image).
	Children []evidence.Digest
	// Problems are failures that did not stop discovery: a malformed attachment manifest, a
	// cosign tag that could not be read. The rest still counts.
	Problems []string
}

// Discover finds every attachment of img: OCI 1.1 referrers (or the referrers tag schema)
// and cosign's sha256-<hex>.sig/.att/.sbom tags, for img and, when img is an image index, for
// each of its platform manifests. It fails only when the registry cannot be asked at all (retry
// later); problems with single attachments are listed in Discovery.Problems.
func (c *Client) Discover(ctx context.Context, img evidence.ImageRef) (Discovery, error) {
	var out Discovery
	repo, err := c.repository(img.Repository)
	if err != nil {
		return out, err
	}
	children, err := c.children(ctx, repo, img.Digest)
	if err != nil && !refused(err) {
		return out, err
	}
	if err != nil {
		// A hostile index (too large, too many manifests, redirected elsewhere) is a problem
		// of this artifact: its own attachments are still searched.
		out.Problems = append(out.Problems, err.Error())
	}
	out.Children = children
	for _, target := range append([]evidence.Digest{img.Digest}, children...) {
		ref := evidence.ImageRef{Repository: img.Repository, Digest: target}
		atts, err := c.Referrers(ctx, ref, "")
		if err != nil {
			if ctx.Err() != nil || isUnreachable(err) {
				return out, err
			}
			out.Problems = append(out.Problems, err.Error())
		}
		out.Attachments = append(out.Attachments, atts...)
		for _, suffix := range CosignSuffixes {
			a, found, err := c.cosignAttachment(ctx, repo, target, suffix)
			if err != nil {
				if ctx.Err() != nil || isUnreachable(err) {
					return out, err
				}
				out.Problems = append(out.Problems, err.Error())
				continue
			}
			if found {
				out.Attachments = append(out.Attachments, a)
			}
		}
	}
	return out, nil
}

// children returns the platform manifests of d when d is an image index. An artifact whose
// manifest is not in the registry has none (its attachments may still be).
func (c *Client) children(ctx context.Context, repo name.Repository, d evidence.Digest) ([]evidence.Digest, error) {
	desc, err := remote.Get(repo.Digest(string(d)), c.options(ctx)...)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", d, err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	if len(desc.Manifest) > MaxManifestSize {
		return nil, fmt.Errorf("index %s: %w", d, ErrTooLarge)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(desc.Manifest, &idx); err != nil {
		return nil, fmt.Errorf("parsing index %s: %w", d, err)
	}
	if len(idx.Manifests) > MaxIndexManifests {
		return nil, fmt.Errorf("index %s lists %d manifests, limit %d: %w", d, len(idx.Manifests), MaxIndexManifests, ErrTooLarge)
	}
	// Only the index's own platform manifests are searched: a nested index is not followed,
	// so no chain or cycle of indexes (index → index → the same index) is walked.
	var out []evidence.Digest
	for _, m := range idx.Manifests {
		// BuildKit stores its attestation manifests in the index; they are not platforms.
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" || !m.MediaType.IsImage() {
			continue
		}
		cd := evidence.Digest(m.Digest.String())
		if cd.Validate() == nil && cd != d {
			out = append(out, cd)
		}
	}
	return out, nil
}

// cosignAttachment reads the cosign tag of kind suffix for target; found is false when the
// tag does not exist.
func (c *Client) cosignAttachment(ctx context.Context, repo name.Repository, target evidence.Digest, suffix string) (Attachment, bool, error) {
	tag := repo.Tag(CosignTag(target, suffix))
	desc, err := remote.Get(tag, c.options(ctx)...)
	if IsNotFound(err) {
		return Attachment{}, false, nil
	}
	if err != nil {
		return Attachment{}, false, fmt.Errorf("reading cosign tag %s: %w", tag.TagStr(), err)
	}
	if len(desc.Manifest) > MaxManifestSize {
		return Attachment{}, false, fmt.Errorf("cosign tag %s: %w", tag.TagStr(), ErrTooLarge)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return Attachment{}, false, fmt.Errorf("parsing cosign tag %s: %w", tag.TagStr(), err)
	}
	a := Attachment{
		Digest: evidence.Digest(desc.Digest.String()), Target: target, Source: SourceCosignTag,
		ArtifactType: suffix, Annotations: m.Annotations,
	}
	for _, l := range m.Layers {
		a.Layers = append(a.Layers, Layer{MediaType: string(l.MediaType), Digest: evidence.Digest(l.Digest.String()), Size: l.Size, Annotations: l.Annotations})
	}
	return a, true, nil
}

// Manifest returns the raw manifest reference (a tag, or a digest "sha256:…") names in repo,
// or nil and no error when the registry has none; one larger than MaxManifestSize is refused.
func (c *Client) Manifest(ctx context.Context, repo, reference string) ([]byte, error) {
	r, err := c.repository(repo)
	if err != nil {
		return nil, err
	}
	var ref name.Reference = r.Tag(reference)
	if d := evidence.Digest(reference); d.Validate() == nil {
		ref = r.Digest(reference)
	}
	desc, err := remote.Get(ref, c.options(ctx)...)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", ref, err)
	}
	if len(desc.Manifest) > MaxManifestSize {
		return nil, fmt.Errorf("manifest %s: %w", ref, ErrTooLarge)
	}
	return desc.Manifest, nil
}
