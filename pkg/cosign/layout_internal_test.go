package cosign

import (
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// specLayer is a layer known only by its descriptor: the attestation in the example manifest
// of cosign's specs/ATTESTATION_SPEC.md.
type specLayer struct{}

var specDigest = v1.Hash{Algorithm: "sha256", Hex: "ed3ad03d3b87843b5419d7dce9d50a3e0f45554b2ba93bf378611cae6b450cff"}

func (specLayer) Digest() (v1.Hash, error)             { return specDigest, nil }
func (specLayer) DiffID() (v1.Hash, error)             { return specDigest, nil }
func (specLayer) Size() (int64, error)                 { return 246, nil }
func (specLayer) MediaType() (types.MediaType, error)  { return DSSEMediaType, nil }
func (specLayer) Compressed() (io.ReadCloser, error)   { panic("not read") }
func (specLayer) Uncompressed() (io.ReadCloser, error) { panic("not read") }

// TestConfigMatchesCosignSpec checks the image Push starts from against a manifest cosign
// wrote: the example in specs/ATTESTATION_SPEC.md (and SBOM_SPEC.md) has one layer of digest
// sha256:ed3ad03d… and a config of 233 bytes with digest sha256:83bd5fb5…, which is exactly
// the config go-containerregistry's mutate.Append derives from emptyImage for that layer.
func TestConfigMatchesCosignSpec(t *testing.T) {
	img, err := mutate.Append(emptyImage(), mutate.Addendum{Layer: specLayer{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	const want = "sha256:83bd5fb5b39f65f28e50a86d48fa79c07880befc292d92eebdc18531054b070c"
	if m.Config.Digest.String() != want || m.Config.Size != 233 || m.Config.MediaType != ConfigMediaType {
		t.Errorf("config %s %s of %d bytes, want %s %s of 233 bytes", m.Config.MediaType, m.Config.Digest, m.Config.Size, ConfigMediaType, want)
	}
	if m.MediaType != ManifestMediaType || len(m.Layers) != 1 || m.Layers[0].Digest != specDigest || m.Layers[0].Size != 246 {
		t.Errorf("manifest %+v", m)
	}
}
