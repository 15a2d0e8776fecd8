package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// What the seeded artifacts look like.
const (
	generatorWorkflow = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"
	generatorType     = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
	mediaTypeCDX      = "application/vnd.cyclonedx+json"
	predicateSLSA1    = "https://slsa.dev/provenance/v1"
)

var (
	environments = []string{"prod", "staging", "dev"}
	teams        = []string{"payments", "storefront", "platform", "data", "identity"}
)

// seeded is one artifact in the registry; its bundle is kept in a file, not in memory.
type seeded struct {
	deployment evidence.Deployment
	bundlePath string
}

// seed pushes cfg.Artifacts images to the registry at host, each with a freshly signed
// keyless SLSA v1 provenance bundle and, when cfg.SBOMComponents > 0, a CycloneDX SBOM, and
// returns their deployments. run makes this run's digests differ from earlier runs'.
func seed(ctx context.Context, cfg Config, client *oci.Client, ss *demo.Sigstore, host, run, dir string, progress func(int)) ([]seeded, error) {
	out := make([]seeded, cfg.Artifacts)
	now := time.Now().UTC().Truncate(time.Second)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.SeedWorkers)
	var (
		mu   sync.Mutex
		done int
	)
	for i := range cfg.Artifacts {
		g.Go(func() error {
			s, err := seedOne(ctx, cfg, client, ss, host, run, dir, i, now)
			if err != nil {
				return fmt.Errorf("seeding artifact %d: %w", i, err)
			}
			out[i] = s
			mu.Lock()
			done++
			progress(done)
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

func seedOne(ctx context.Context, cfg Config, client *oci.Client, ss *demo.Sigstore, host, run, dir string, i int, now time.Time) (seeded, error) {
	// One repository per artifact: the in-process registry (go-containerregistry's) answers
	// the referrers API by parsing every manifest of the repository, which would make fetching
	// cost grow with the number of artifacts; registries in production index referrers.
	name := fmt.Sprintf("app-%d", i)
	repo := host + "/bench/" + name
	img, err := image(run, i)
	if err != nil {
		return seeded{}, err
	}
	ref, err := client.PushImage(ctx, repo, "v"+strconv.Itoa(i), img)
	if err != nil {
		return seeded{}, err
	}
	source := "https://github.com/bench/" + name
	commit := fmt.Sprintf("%040x", i+1)
	st, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": "ghcr.io/bench/" + name, "digest": map[string]string{"sha256": ref.Digest.Hex()}}},
		"predicateType": predicateSLSA1,
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType": generatorType,
				"externalParameters": map[string]any{
					"workflow": map[string]any{"ref": "refs/heads/main", "repository": source, "path": ".github/workflows/release.yml"},
				},
				"resolvedDependencies": []any{map[string]any{"uri": "git+" + source + "@refs/heads/main", "digest": map[string]string{"gitCommit": commit}}},
			},
			"runDetails": map[string]any{
				"builder":  map[string]any{"id": generatorWorkflow},
				"metadata": map[string]any{"invocationId": source + "/actions/runs/" + strconv.Itoa(i)},
			},
		},
	})
	if err != nil {
		return seeded{}, fmt.Errorf("encoding provenance: %w", err)
	}
	own := source + "/.github/workflows/release.yml@refs/heads/main"
	bundle, err := ss.SignKeyless(ctx, st, demo.Identity{
		SAN: generatorWorkflow, Issuer: demo.Issuer, SourceRepository: source, SourceRef: "refs/heads/main",
		SourceDigest: commit, BuildSignerURI: generatorWorkflow, BuildConfigURI: own, RunnerEnvironment: "github-hosted",
	})
	if err != nil {
		return seeded{}, err
	}
	if _, err := client.Attach(ctx, ref, demo.BundleMediaType, demo.BundleMediaType, bundle, map[string]string{
		"dev.sigstore.bundle.predicateType": predicateSLSA1, "dev.sigstore.bundle.content": "dsse-envelope",
	}); err != nil {
		return seeded{}, err
	}
	path := filepath.Join(dir, strconv.Itoa(i)+".json")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		return seeded{}, fmt.Errorf("keeping bundle: %w", err)
	}
	if cfg.SBOMComponents > 0 {
		bom, err := sbom(name, run, i, cfg.SBOMComponents)
		if err != nil {
			return seeded{}, err
		}
		if _, err := client.Attach(ctx, ref, mediaTypeCDX, mediaTypeCDX, bom, nil); err != nil {
			return seeded{}, err
		}
	}
	team := teams[i%len(teams)]
	env := environments[i%len(environments)]
	return seeded{
		deployment: evidence.Deployment{
			Image: ref, Environment: env, Cluster: env + "-1", Namespace: team, Workload: name,
			Org: cfg.Org, Team: team, ObservedAt: now,
		},
		bundlePath: path,
	}, nil
}

// image builds a small image unique to run and i.
func image(run string, i int) (v1.Image, error) {
	layer := static.NewLayer([]byte("aspm bench "+run+" artifact "+strconv.Itoa(i)+"\n"), types.OCILayer)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("building image: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// sbom is a CycloneDX document of n components, different for every artifact (so that no
// document is shared and its extraction reused) and drawn from a pool of 5,000 libraries.
func sbom(name, run string, i, n int) ([]byte, error) {
	comps := make([]map[string]any, n)
	for j := range n {
		lib := fmt.Sprintf("github.com/bench/lib%04d", (i*7+j)%5000)
		ver := fmt.Sprintf("v1.%d.%d", j%20, (i+j)%50)
		comps[j] = map[string]any{
			"type": "library", "bom-ref": fmt.Sprintf("c%d", j), "name": lib, "version": ver,
			"purl": "pkg:golang/" + lib + "@" + ver, "licenses": []any{map[string]any{"license": map[string]any{"id": "Apache-2.0"}}},
		}
	}
	b, err := json.Marshal(map[string]any{
		"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
		"serialNumber": fmt.Sprintf("urn:uuid:%08x-0000-4000-8000-%012d", i, len(run)),
		"metadata":     map[string]any{"component": map[string]any{"type": "container", "name": name + "-" + run + "-" + strconv.Itoa(i)}},
		"components":   comps,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding SBOM: %w", err)
	}
	return b, nil
}
