package oci

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Catalog lists the repositories of the registry at host (the catalog API, all pages).
func (c *Client) Catalog(ctx context.Context, host string) ([]string, error) {
	reg, err := name.NewRegistry(host, c.nameOpts(host+"/x")...)
	if err != nil {
		return nil, fmt.Errorf("parsing registry %q: %w", host, err)
	}
	repos, err := remote.Catalog(ctx, reg, c.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing repositories of %s: %w", host, err)
	}
	slices.Sort(repos)
	return repos, nil
}

// Tags lists the tags of repo, leaving out the tags attachments live under (cosign's
// sha256-<hex>.sig/.att/.sbom and the referrers tag schema's sha256-<hex>): they are
// evidence, not artifacts.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.repository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, c.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	out := tags[:0]
	for _, t := range tags {
		if !IsAttachmentTag(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// IsAttachmentTag reports whether tag names attachments rather than an artifact.
func IsAttachmentTag(tag string) bool {
	for _, alg := range []string{"sha256-", "sha384-", "sha512-"} {
		if strings.HasPrefix(tag, alg) {
			return true
		}
	}
	return false
}

// Resolve turns "REGISTRY/REPO:TAG" or "REGISTRY/REPO@DIGEST" into a reference by digest; a
// reference that already has a digest is returned without asking the registry.
func (c *Client) Resolve(ctx context.Context, ref string) (evidence.ImageRef, error) {
	if strings.Contains(ref, "@") {
		return evidence.ParseImageRef(ref)
	}
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	nref, err := name.ParseReference(ref, c.nameOpts(repo)...)
	if err != nil {
		return evidence.ImageRef{}, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	desc, err := remote.Head(nref, c.options(ctx)...)
	if err != nil {
		return evidence.ImageRef{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	out := evidence.ImageRef{Repository: nref.Context().Name(), Digest: evidence.Digest(desc.Digest.String())}
	if err := out.Validate(); err != nil {
		return evidence.ImageRef{}, fmt.Errorf("resolving %s: %w", ref, err)
	}
	return out, nil
}

// Match reports whether s matches any of the glob patterns (path.Match syntax); an empty
// list matches everything.
func Match(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// Found is one artifact a crawl found: where, under which tag, and its digest.
type Found struct {
	Image evidence.ImageRef
	Tag   string
}

// Expand lists the artifacts target names: "REGISTRY" (every repository, by the catalog API),
// "REGISTRY/REPO" (every tag) or "REGISTRY/REPO:TAG", keeping repositories and tags that match
// include (glob patterns; none means all) and none of exclude, and resolves each tag to its
// digest. Tags that point at the same digest are reported once, under the first tag.
// progress, when not nil, is called after each tag is resolved. A tag that cannot be
// resolved is reported in problems; the crawl goes on.
func (c *Client) Expand(ctx context.Context, target string, include, exclude []string, progress func(done, total int)) (found []Found, problems []string, err error) {
	host, rest, _ := strings.Cut(target, "/")
	var repos []string
	var fixedTag string
	switch {
	case rest == "":
		names, err := c.Catalog(ctx, host)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			repos = append(repos, host+"/"+n)
		}
	default:
		repo := target
		if i := strings.LastIndex(target, ":"); i > strings.LastIndex(target, "/") {
			repo, fixedTag = target[:i], target[i+1:]
		}
		repos = []string{repo}
	}
	type job struct{ repo, tag string }
	var jobs []job
	for _, repo := range repos {
		path := strings.TrimPrefix(repo, host+"/")
		if !Match(include, path) || (len(exclude) > 0 && Match(exclude, path)) {
			continue
		}
		if fixedTag != "" {
			jobs = append(jobs, job{repo, fixedTag})
			continue
		}
		tags, err := c.Tags(ctx, repo)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, t := range tags {
			if !Match(include, path+":"+t) && !Match(include, path) {
				continue
			}
			if len(exclude) > 0 && Match(exclude, path+":"+t) {
				continue
			}
			jobs = append(jobs, job{repo, t})
		}
	}
	seen := map[evidence.ImageRef]bool{}
	for i, j := range jobs {
		ref, err := c.Resolve(ctx, j.repo+":"+j.tag)
		if progress != nil {
			progress(i+1, len(jobs))
		}
		if err != nil {
			if ctx.Err() != nil {
				return found, problems, ctx.Err()
			}
			problems = append(problems, err.Error())
			continue
		}
		if !seen[ref] {
			seen[ref] = true
			found = append(found, Found{Image: ref, Tag: j.tag})
		}
	}
	return found, problems, nil
}
