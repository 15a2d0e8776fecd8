package evidence

import (
	"regexp"
	"strings"
)

// repoPath is the OCI distribution spec's repository name grammar.
var repoPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// ImageRef names one artifact by content: a repository ("registry/path") and a digest. Tags are
// not identities and are not accepted.
type ImageRef struct {
	// Repository is the registry host (with port, if any) and the repository path.
	Repository string `json:"repository"`
	// Digest identifies the manifest.
	Digest Digest `json:"digest"`
}

// ParseImageRef parses "REGISTRY/REPO@sha256:…". A tag before the "@" is dropped, as registries
// do. The error wraps ErrInvalid.
func ParseImageRef(s string) (ImageRef, error) {
	repo, dig, ok := strings.Cut(s, "@")
	if !ok {
		return ImageRef{}, invalidf("image %q: want REGISTRY/REPO@sha256:<hex> (a digest, not a tag)", s)
	}
	// A tag between the last path element and the digest is allowed but ignored.
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	ref := ImageRef{Repository: repo, Digest: Digest(dig)}
	if err := ref.Validate(); err != nil {
		return ImageRef{}, err
	}
	return ref, nil
}

// Validate reports whether r names a repository on a registry and has a valid digest.
func (r ImageRef) Validate() error {
	if err := r.Digest.Validate(); err != nil {
		return err
	}
	host, path, ok := strings.Cut(r.Repository, "/")
	if !ok || host == "" || path == "" {
		return invalidf("repository %q: want REGISTRY/REPO", r.Repository)
	}
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return invalidf("repository %q: the first element must be a registry host", r.Repository)
	}
	if !repoPath.MatchString(path) {
		return invalidf("repository %q: path must be lowercase letters, digits and separators (OCI repository name)", r.Repository)
	}
	return nil
}

// String returns "REPOSITORY@DIGEST".
func (r ImageRef) String() string { return r.Repository + "@" + string(r.Digest) }
