// Package inventory reads a deployment inventory file — environments, their workloads and the
// images each runs — and turns it into deployment observations. A Watcher reloads the file when
// it changes, resolves tags to digests, and reports deployments that appeared (observed) and
// disappeared (ended) since the previous load.
//
// The file is YAML:
//
//	org: acme                 # default org for every workload
//	cluster: prod-eu-1        # optional default cluster
//	environments:
//	  prod:
//	    workloads:
//	      - name: payments-api
//	        namespace: payments
//	        team: payments
//	        org: acme          # optional override
//	        cluster: prod-eu-1 # optional override
//	        images:
//	          - registry.example/acme/payments-api@sha256:…
//	          - registry.example/acme/sidecar:1.4   # a tag, resolved to a digest
//
// Replace the file atomically (write a temporary file, then rename it, as Kubernetes does for
// a mounted ConfigMap): a poll that reads a half-written file that happens to parse would end
// the workloads missing from it until the next poll.
package inventory

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// MaxFileSize bounds how much of an inventory file is read; a larger file is rejected.
const MaxFileSize = 16 << 20

// File is a parsed inventory file.
type File struct {
	// Org is the default org of every workload.
	Org string `json:"org,omitempty"`
	// Cluster is the default cluster of every workload.
	Cluster string `json:"cluster,omitempty"`
	// Environments maps an environment name to what runs there.
	Environments map[string]Environment `json:"environments,omitempty"`
}

// Environment lists the workloads of one environment.
type Environment struct {
	Workloads []Workload `json:"workloads,omitempty"`
}

// Workload is one workload and the images it runs.
type Workload struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Team      string `json:"team,omitempty"`
	// Org and Cluster override the file's defaults.
	Org     string `json:"org,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	// Images are references by digest ("REGISTRY/REPO@sha256:…") or by tag
	// ("REGISTRY/REPO:TAG"); tags are resolved to digests when the file is loaded.
	Images []string `json:"images"`
}

// Load reads, parses and validates the inventory file at path. The error wraps the fs error
// (e.g. fs.ErrNotExist) when the file cannot be read, and evidence.ErrInvalid when it is too
// large, does not parse, or does not validate.
func Load(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// readFile reads at most MaxFileSize bytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading inventory %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("reading inventory %s: %w: larger than %d bytes", path, evidence.ErrInvalid, MaxFileSize)
	}
	return data, nil
}

// Parse parses and validates an inventory document. Unknown and duplicate fields are errors.
// An empty document is a valid inventory with no workloads. The error wraps
// evidence.ErrInvalid.
func Parse(data []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parsing inventory: %w: %w", evidence.ErrInvalid, err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate reports every problem in f, each naming its environment, workload and image: a
// workload without a name, an org (its own or the file's) or images; an image that is neither a
// digest nor a tag reference, or listed twice; a workload listed twice in one place; or a name
// that is not a valid deployment label. The error wraps evidence.ErrInvalid.
func (f *File) Validate() error {
	var errs []error
	seen := map[string]bool{} // the places of the workloads so far, by Deployment.Key
	for _, env := range f.environmentNames() {
		for i, w := range f.Environments[env].Workloads {
			where := fmt.Sprintf("environment %q: workload %q", env, w.Name)
			if w.Name == "" {
				where = fmt.Sprintf("environment %q: workload #%d", env, i+1)
			}
			fail := func(format string, args ...any) {
				errs = append(errs, fmt.Errorf("inventory: %s: %w: %s", where, evidence.ErrInvalid, fmt.Sprintf(format, args...)))
			}
			tmpl := f.template(env, w)
			if w.Name == "" {
				fail("name is required")
			}
			if tmpl.Org == "" {
				fail("org is required (set it on the workload or at the top of the file)")
			}
			probe := tmpl
			probe.Image = placeholder
			if w.Name != "" && tmpl.Org != "" {
				if err := probe.Validate(); err != nil {
					errs = append(errs, fmt.Errorf("inventory: %s: %w", where, err))
				}
			}
			if w.Name != "" {
				if seen[probe.Key()] {
					fail("listed twice for the same org, cluster and namespace")
				}
				seen[probe.Key()] = true
			}
			if len(w.Images) == 0 {
				fail("at least one image is required")
			}
			images := map[string]bool{}
			for _, ref := range w.Images {
				if _, _, err := parseReference(ref); err != nil {
					errs = append(errs, fmt.Errorf("inventory: %s: %w", where, err))
					continue
				}
				if images[ref] {
					fail("image %q listed twice", ref)
				}
				images[ref] = true
			}
		}
	}
	return errors.Join(errs...)
}

// placeholder is a valid image used to validate a deployment's other fields.
var placeholder = evidence.ImageRef{Repository: "registry.invalid/placeholder", Digest: evidence.Digest("sha256:" + strings.Repeat("0", 64))}

// environmentNames returns the environment names in sorted order, so that validation errors
// and emitted batches are deterministic.
func (f *File) environmentNames() []string {
	names := make([]string, 0, len(f.Environments))
	for name := range f.Environments {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// template returns the deployment of workload w in environment env, without its image or
// times.
func (f *File) template(env string, w Workload) evidence.Deployment {
	d := evidence.Deployment{
		Environment: env,
		Cluster:     f.Cluster,
		Namespace:   w.Namespace,
		Workload:    w.Name,
		Org:         f.Org,
		Team:        w.Team,
	}
	if w.Org != "" {
		d.Org = w.Org
	}
	if w.Cluster != "" {
		d.Cluster = w.Cluster
	}
	return d
}

// entry is one image of one workload: the deployment without its image, the reference as
// written, and the image when the reference is already a digest.
type entry struct {
	tmpl   evidence.Deployment
	ref    string
	pinned evidence.ImageRef
	isTag  bool
}

// entries lists every image of every workload of a valid file, environments in name order and
// workloads and images in file order.
func (f *File) entries() []entry {
	var out []entry
	for _, env := range f.environmentNames() {
		for _, w := range f.Environments[env].Workloads {
			tmpl := f.template(env, w)
			for _, ref := range w.Images {
				img, isTag, err := parseReference(ref)
				if err != nil {
					continue // Validate reported it
				}
				out = append(out, entry{tmpl: tmpl, ref: ref, pinned: img, isTag: isTag})
			}
		}
	}
	return out
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// parseReference classifies ref: a digest reference returns its image and isTag false; a tag
// reference ("REGISTRY/REPO:TAG") returns isTag true and must be resolved. The error wraps
// evidence.ErrInvalid and names ref.
func parseReference(ref string) (img evidence.ImageRef, isTag bool, err error) {
	if strings.Contains(ref, "@") {
		img, err := evidence.ParseImageRef(ref)
		if err != nil {
			return evidence.ImageRef{}, false, fmt.Errorf("image %q: %w", ref, err)
		}
		return img, false, nil
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || i < strings.LastIndex(ref, "/") {
		return evidence.ImageRef{}, false, fmt.Errorf("image %q: %w: want REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:<hex> (an explicit tag or digest)", ref, evidence.ErrInvalid)
	}
	repo, tag := ref[:i], ref[i+1:]
	if !tagRE.MatchString(tag) {
		return evidence.ImageRef{}, false, fmt.Errorf("image %q: %w: tag %q: want letters, digits, '_', '.', '-' (at most 128)", ref, evidence.ErrInvalid, tag)
	}
	// The repository grammar is ImageRef's; check it with a placeholder digest.
	if err := (evidence.ImageRef{Repository: repo, Digest: placeholder.Digest}).Validate(); err != nil {
		return evidence.ImageRef{}, false, fmt.Errorf("image %q: %w", ref, err)
	}
	return evidence.ImageRef{}, true, nil
}
