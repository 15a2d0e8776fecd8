package cosign

import (
	"encoding/json"
	"fmt"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// SignedImageDigest returns the image digest a cosign simple-signing payload
// (critical.image.docker-manifest-digest) says it signs. Errors wrap ErrMalformed.
func SignedImageDigest(payload []byte) (evidence.Digest, error) {
	var p struct {
		Critical struct {
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", fmt.Errorf("%w: simple-signing payload: %w", ErrMalformed, err)
	}
	d, err := evidence.ParseDigest(p.Critical.Image.Digest)
	if err != nil {
		return "", fmt.Errorf("%w: simple-signing payload: critical.image.docker-manifest-digest: %w", ErrMalformed, err)
	}
	return d, nil
}
