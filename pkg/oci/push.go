package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Media types of OCI 1.1 artifacts.
const (
	MediaTypeEmpty    = "application/vnd.oci.empty.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
)

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// PushImage writes img to repo under tag and returns its reference by digest.
func (c *Client) PushImage(ctx context.Context, repo, tag string, img v1.Image) (evidence.ImageRef, error) {
	r, err := c.repository(repo)
	if err != nil {
		return evidence.ImageRef{}, err
	}
	if err := remote.Write(r.Tag(tag), img, c.options(ctx)...); err != nil {
		return evidence.ImageRef{}, fmt.Errorf("pushing %s:%s: %w", repo, tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return evidence.ImageRef{}, fmt.Errorf("computing digest: %w", err)
	}
	return evidence.ImageRef{Repository: repo, Digest: evidence.Digest(d.String())}, nil
}

type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// Attach pushes data as a one-layer OCI 1.1 artifact whose subject is img, the way cosign v3,
// oras and GitHub attach Sigstore bundles and SBOMs, and returns the artifact manifest's digest.
func (c *Client) Attach(ctx context.Context, img evidence.ImageRef, artifactType, layerMediaType string, data []byte, annotations map[string]string) (evidence.Digest, error) {
	r, err := c.repository(img.Repository)
	if err != nil {
		return "", err
	}
	subject, err := remote.Head(r.Digest(img.Digest.String()), c.options(ctx)...)
	if err != nil {
		return "", fmt.Errorf("reading subject %s: %w", img, err)
	}
	layer := static.NewLayer(data, types.MediaType(layerMediaType))
	empty := static.NewLayer([]byte("{}"), MediaTypeEmpty)
	for _, l := range []v1.Layer{layer, empty} {
		if err := remote.WriteLayer(r, l, c.options(ctx)...); err != nil {
			return "", fmt.Errorf("pushing blob: %w", err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: MediaTypeEmpty, Digest: mustDigest(empty), Size: 2, Data: []byte("{}")},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(layerMediaType), Digest: mustDigest(layer), Size: int64(len(data))}},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:   annotations,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encoding manifest: %w", err)
	}
	d := evidence.Digest("sha256:" + sha256Hex(raw))
	if err := remote.Put(r.Digest(d.String()), rawManifest{b: raw, mt: MediaTypeManifest}, c.options(ctx)...); err != nil {
		return "", fmt.Errorf("pushing artifact manifest for %s: %w", img, err)
	}
	return d, nil
}

func mustDigest(l v1.Layer) v1.Hash {
	h, err := l.Digest()
	if err != nil {
		// static layers hash bytes in memory and cannot fail.
		panic(err)
	}
	return h
}

// PushManifest writes the blobs (layers and config) and then the manifest m to repo, tagged
// with tag when tag is not empty, and returns the manifest's digest. It is how attachments in
// layouts other than OCI 1.1 referrers (cosign's sha256-<hex>.sig/.att/.sbom tags, the
// referrers tag schema) are written.
func (c *Client) PushManifest(ctx context.Context, repo, tag string, m v1.Manifest, blobs map[evidence.Digest]Blob) (evidence.Digest, error) {
	r, err := c.repository(repo)
	if err != nil {
		return "", err
	}
	for d, b := range blobs {
		l := static.NewLayer(b.Data, types.MediaType(b.MediaType))
		if got := mustDigest(l); got.String() != string(d) {
			return "", fmt.Errorf("pushing blob %s: content has digest %s", d, got)
		}
		if err := remote.WriteLayer(r, l, c.options(ctx)...); err != nil {
			return "", fmt.Errorf("pushing blob %s: %w", d, err)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encoding manifest: %w", err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	d := evidence.Digest("sha256:" + sha256Hex(raw))
	var ref = r.Digest(d.String()).String()
	if tag != "" {
		ref = r.Tag(tag).String()
	}
	nref, err := name.ParseReference(ref, c.nameOpts(repo)...)
	if err != nil {
		return "", fmt.Errorf("parsing reference %s: %w", ref, err)
	}
	if err := remote.Put(nref, rawManifest{b: raw, mt: mt}, c.options(ctx)...); err != nil {
		return "", fmt.Errorf("pushing manifest %s: %w", ref, err)
	}
	return d, nil
}

// Blob is content to push with its media type.
type Blob struct {
	MediaType string
	Data      []byte
}

// TagReferrer lists the attachment manifest att, whose subject is img, in img's referrers tag
// schema index (the sha256-<hex> tag), as clients do for registries without the referrers
// API. The index is created when missing; an attachment already listed is not listed twice.
func (c *Client) TagReferrer(ctx context.Context, img evidence.ImageRef, att evidence.Digest) error {
	r, err := c.repository(img.Repository)
	if err != nil {
		return err
	}
	desc, err := remote.Get(r.Digest(string(att)), c.options(ctx)...)
	if err != nil {
		return fmt.Errorf("reading attachment %s: %w", att, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return fmt.Errorf("parsing attachment %s: %w", att, err)
	}
	tag := strings.Replace(string(img.Digest), ":", "-", 1)
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	raw, err := c.Manifest(ctx, img.Repository, tag)
	if err != nil {
		return err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fmt.Errorf("parsing referrers tag %s: %w", tag, err)
		}
	}
	for _, d := range idx.Manifests {
		if d.Digest == desc.Digest {
			return nil
		}
	}
	artifactType := m.ArtifactType
	if artifactType == "" {
		artifactType = string(m.Config.MediaType)
	}
	idx.Manifests = append(idx.Manifests, v1.Descriptor{
		MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: artifactType, Annotations: m.Annotations,
	})
	out, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encoding referrers index: %w", err)
	}
	if err := remote.Put(r.Tag(tag), rawManifest{b: out, mt: types.OCIImageIndex}, c.options(ctx)...); err != nil {
		return fmt.Errorf("writing referrers tag %s: %w", tag, err)
	}
	return nil
}
