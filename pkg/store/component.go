package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Component is one package, library or other thing an SBOM document lists.
type Component struct {
	// SBOM is the evidence ID of the SBOM document that lists the component.
	SBOM    evidence.Digest `json:"sbom"`
	Name    string          `json:"name"`
	Version string          `json:"version,omitempty"`
	PURL    string          `json:"purl,omitempty"`
	// Type is the CycloneDX component type or the SPDX package purpose, e.g. "library".
	Type     string   `json:"type,omitempty"`
	Licenses []string `json:"licenses,omitempty"`
}

// Validate reports whether c names its document by a valid digest and has a name or a purl. The
// error wraps evidence.ErrInvalid.
func (c Component) Validate() error {
	if err := c.SBOM.Validate(); err != nil {
		return fmt.Errorf("component %q: sbom: %w", c.Name, err)
	}
	if c.Name == "" && c.PURL == "" {
		return fmt.Errorf("%w: component of document %s: a name or a purl is required", evidence.ErrInvalid, c.SBOM)
	}
	return nil
}

// componentID is what makes a component unique within its document.
type componentID struct{ name, version, purl string }

// UniqueComponents returns cs without the components that repeat an earlier one of the same
// document with the same name, version and purl, keeping the order of the first of each.
func UniqueComponents(cs []Component) []Component {
	seen := make(map[evidence.Digest]map[componentID]bool)
	out := make([]Component, 0, len(cs))
	for _, c := range cs {
		id := componentID{c.Name, c.Version, c.PURL}
		if seen[c.SBOM] == nil {
			seen[c.SBOM] = map[componentID]bool{}
		}
		if seen[c.SBOM][id] {
			continue
		}
		seen[c.SBOM][id] = true
		out = append(out, c)
	}
	return out
}

// The page sizes of component and gap listings.
const (
	// DefaultPageLimit is the page size of a ComponentQuery or GapQuery whose Limit is 0.
	DefaultPageLimit = 100
	// MaxPageLimit is the greatest Limit a ComponentQuery or GapQuery may ask for.
	MaxPageLimit = 1000
)

// ComponentQuery finds components by exact purl, or by exact name and, optionally, version,
// where they run: one hit per component (name, version and purl), artifact whose latest
// evidence set holds an SBOM document listing the component, and environment where a deployment
// of that artifact matching Org, Team and Environment (each when not empty) runs. An artifact
// whose evidence set holds several documents listing the component — the same SBOM attached two
// ways, say — has one hit per environment, naming them all.
type ComponentQuery struct {
	// PURL, when set, matches components with exactly this package URL; Name and Version must
	// then be empty.
	PURL string
	// Name, when set, matches components with exactly this name and, when Version is set, this
	// version.
	Name    string
	Version string

	Org         string
	Team        string
	Environment string
	// Limit is the page size: 0 for DefaultPageLimit, at most MaxPageLimit.
	Limit int
	// After is the opaque cursor a previous page returned; empty for the first page.
	After string
}

// Validate reports whether q asks for a purl or for a name (with or without a version) but not
// both, whether its limit is 0 to MaxPageLimit and whether its cursor is one that a component
// search returned. The error wraps evidence.ErrInvalid.
func (q ComponentQuery) Validate() error {
	switch {
	case q.PURL == "" && q.Name == "":
		return fmt.Errorf("%w: component query: want a purl or a name", evidence.ErrInvalid)
	case q.PURL != "" && (q.Name != "" || q.Version != ""):
		return fmt.Errorf("%w: component query: want a purl, or a name and version, not both", evidence.ErrInvalid)
	case q.Name == "" && q.Version != "":
		return fmt.Errorf("%w: component query: a version needs a name", evidence.ErrInvalid)
	}
	if err := checkLimit("component query", q.Limit); err != nil {
		return err
	}
	_, err := q.AfterKey()
	return err
}

// PageSize returns q.Limit, or DefaultPageLimit when it is 0.
func (q ComponentQuery) PageSize() int { return pageSize(q.Limit) }

// ComponentKey is the sort key of a component hit: the order of a component search.
type ComponentKey struct {
	Name, Version, PURL string
	Digest              evidence.Digest
	Environment         string
}

// Key returns h's sort key.
func (h ComponentHit) Key() ComponentKey {
	return ComponentKey{h.Name, h.Version, h.PURL, h.Image.Digest, h.Environment}
}

// Less reports whether k sorts before o.
func (k ComponentKey) Less(o ComponentKey) bool {
	a := []string{k.Name, k.Version, k.PURL, string(k.Digest), k.Environment}
	b := []string{o.Name, o.Version, o.PURL, string(o.Digest), o.Environment}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// Cursor returns the opaque cursor of a component search that continues after the hit with
// key k.
func (k ComponentKey) Cursor() string {
	return encodeCursor(k.Name, k.Version, k.PURL, string(k.Digest), k.Environment)
}

// AfterKey returns the key q.After continues after, the zero key when q.After is empty. The error
// wraps evidence.ErrInvalid when q.After is not a cursor that ComponentKey.Cursor made.
func (q ComponentQuery) AfterKey() (ComponentKey, error) {
	if q.After == "" {
		return ComponentKey{}, nil
	}
	p, err := decodeCursor("component query", q.After, 5)
	if err != nil {
		return ComponentKey{}, err
	}
	return ComponentKey{p[0], p[1], p[2], evidence.Digest(p[3]), p[4]}, nil
}

// ComponentHit is one place a component runs: the component, the artifact whose latest evidence
// set lists it, and the environment where a deployment of that artifact runs.
type ComponentHit struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
	// Type and Licenses are those the first document of SBOMs gives the component.
	Type     string   `json:"type,omitempty"`
	Licenses []string `json:"licenses,omitempty"`
	// SBOMs are the evidence IDs of the SBOM documents in the artifact's latest evidence set
	// that list the component, sorted; never nil.
	SBOMs []evidence.Digest `json:"sboms"`
	// Image is the artifact, in the repository the deployment below runs it from.
	Image       evidence.ImageRef `json:"image"`
	Environment string            `json:"environment"`
	// Org, Team, Cluster, Namespace and Workload are those of one running deployment of the
	// artifact in Environment that matches the query: the first by cluster, namespace,
	// workload, org and repository.
	Org       string `json:"org"`
	Team      string `json:"team,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Workload  string `json:"workload,omitempty"`
	// SLSALevel and Gaps (the distinct gap codes, sorted; never nil) are those of the
	// artifact's current score in Environment; 0 and empty when it is not scored there.
	SLSALevel evidence.Level `json:"slsa_level"`
	Gaps      []string       `json:"gaps"`
}

// checkLimit reports whether limit is 0 to MaxPageLimit.
func checkLimit(what string, limit int) error {
	if limit < 0 || limit > MaxPageLimit {
		return fmt.Errorf("%w: %s: limit %d: want 1 to %d, or 0 for %d", evidence.ErrInvalid, what, limit,
			MaxPageLimit, DefaultPageLimit)
	}
	return nil
}

func pageSize(limit int) int {
	if limit == 0 {
		return DefaultPageLimit
	}
	return limit
}

// encodeCursor returns parts as an opaque cursor: the unpadded base64url of their JSON array.
func encodeCursor(parts ...string) string {
	b, _ := json.Marshal(parts) // strings always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the n parts of cursor c. The error wraps evidence.ErrInvalid when c is not
// a cursor of n parts that encodeCursor made.
func decodeCursor(what, c string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	var parts []string
	if err == nil {
		err = json.Unmarshal(b, &parts)
	}
	if err != nil || len(parts) != n {
		return nil, fmt.Errorf("%w: %s: cursor %q: not a cursor from a previous page", evidence.ErrInvalid, what, c)
	}
	return parts, nil
}
