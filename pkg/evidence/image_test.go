package evidence_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
)

func TestParseImageRef(t *testing.T) {
	dig := "sha256:" + hexOf(64)
	tests := []struct {
		name string
		in   string
		want evidence.ImageRef
		ok   bool
	}{
		{
			name: "digest only",
			in:   "ghcr.io/acme/api@" + dig,
			want: evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: evidence.Digest(dig)},
			ok:   true,
		},
		{
			name: "tag and digest: the tag is dropped",
			in:   "ghcr.io/acme/api:v1.2.3@" + dig,
			want: evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: evidence.Digest(dig)},
			ok:   true,
		},
		{
			name: "port in host",
			in:   "registry.example.com:5000/team/svc@" + dig,
			want: evidence.ImageRef{Repository: "registry.example.com:5000/team/svc", Digest: evidence.Digest(dig)},
			ok:   true,
		},
		{
			name: "port in host and tag",
			in:   "registry.example.com:5000/team/svc:latest@" + dig,
			want: evidence.ImageRef{Repository: "registry.example.com:5000/team/svc", Digest: evidence.Digest(dig)},
			ok:   true,
		},
		{
			name: "localhost",
			in:   "localhost/app@" + dig,
			want: evidence.ImageRef{Repository: "localhost/app", Digest: evidence.Digest(dig)},
			ok:   true,
		},
		{
			name: "localhost with port",
			in:   "localhost:5000/app@" + dig,
			want: evidence.ImageRef{Repository: "localhost:5000/app", Digest: evidence.Digest(dig)},
			ok:   true,
		},
		{
			name: "sha512 digest",
			in:   "docker.io/library/nginx@sha512:" + hexOf(128),
			want: evidence.ImageRef{Repository: "docker.io/library/nginx", Digest: evidence.Digest("sha512:" + hexOf(128))},
			ok:   true,
		},
		{name: "tag only", in: "ghcr.io/acme/api:v1"},
		{name: "missing digest after @", in: "ghcr.io/acme/api@"},
		{name: "tag and empty digest", in: "ghcr.io/acme/api:v1@"},
		{name: "invalid digest", in: "ghcr.io/acme/api@sha256:" + hexOf(10)},
		{name: "uppercase digest", in: "ghcr.io/acme/api@sha256:ABCDEF" + hexOf(58)},
		{name: "uppercase path", in: "ghcr.io/Acme/API@" + dig},
		{name: "space in path", in: "ghcr.io/acme/my api@" + dig},
		{name: "no registry host", in: "library/nginx@" + dig},
		{name: "no registry host and no path", in: "nginx@" + dig},
		{name: "no registry host with tag", in: "nginx:1.25@" + dig},
		{name: "host without path", in: "ghcr.io@" + dig},
		{name: "host without path, with port", in: "localhost:5000@" + dig},
		{name: "empty repository", in: "@" + dig},
		{name: "two tags", in: "ghcr.io/org/app:v1:v2@" + dig},
		{name: "leading separator", in: "ghcr.io/-acme/app@" + dig},
		{name: "empty path element", in: "ghcr.io/acme//app@" + dig},
		{name: "leading slash", in: "/acme/api@" + dig},
		{name: "two digests", in: "ghcr.io/acme/api@" + dig + "@" + dig},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evidence.ParseImageRef(tt.in)
			if !tt.ok {
				if !errors.Is(err, evidence.ErrInvalid) {
					t.Fatalf("ParseImageRef(%q) = %+v, %v; want an error wrapping ErrInvalid", tt.in, got, err)
				}
				if diff := cmp.Diff(evidence.ImageRef{}, got); diff != "" {
					t.Errorf("ParseImageRef(%q) returned a value with its error (-want +got):\n%s", tt.in, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseImageRef(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseImageRef(%q) (-want +got):\n%s", tt.in, diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate() of a parsed reference: %v", err)
			}
			// String gives back a reference that parses to the same value.
			again, err := evidence.ParseImageRef(got.String())
			if err != nil {
				t.Fatalf("ParseImageRef(%q): %v", got.String(), err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("round trip through String (-first +second):\n%s", diff)
			}
		})
	}
}

func TestImageRefValidate(t *testing.T) {
	dig := evidence.Digest("sha256:" + hexOf(64))
	tests := []struct {
		name string
		ref  evidence.ImageRef
		ok   bool
	}{
		{name: "valid", ref: evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: dig}, ok: true},
		{name: "uppercase host is a host", ref: evidence.ImageRef{Repository: "GHCR.IO/acme/api", Digest: dig}, ok: true},
		{name: "zero", ref: evidence.ImageRef{}},
		{name: "no digest", ref: evidence.ImageRef{Repository: "ghcr.io/acme/api"}},
		{name: "no repository", ref: evidence.ImageRef{Digest: dig}},
		{name: "tab in path", ref: evidence.ImageRef{Repository: "ghcr.io/acme/a\tb", Digest: dig}},
		{name: "@ in path", ref: evidence.ImageRef{Repository: "ghcr.io/acme/a@b", Digest: dig}},
		{name: "empty path", ref: evidence.ImageRef{Repository: "ghcr.io/", Digest: dig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ref.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(%+v): %v", tt.ref, err)
			}
			if !tt.ok && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate(%+v) = %v, want an error wrapping ErrInvalid", tt.ref, err)
			}
		})
	}
}

func ExampleParseImageRef() {
	ref, err := evidence.ParseImageRef("ghcr.io/acme/api:v1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ref.Repository)
	fmt.Println(ref.Digest.Algorithm())

	// A tag alone does not identify an artifact.
	_, err = evidence.ParseImageRef("ghcr.io/acme/api:v1")
	fmt.Println(errors.Is(err, evidence.ErrInvalid))
	// Output:
	// ghcr.io/acme/api
	// sha256
	// true
}
