package evidence_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// validDeployment returns a deployment with every field set and valid.
func validDeployment() evidence.Deployment {
	return evidence.Deployment{
		Image:       evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: evidence.Digest("sha256:" + hexOf(64))},
		Environment: "prod",
		Cluster:     "eu-west-1.k8s",
		Namespace:   "shop",
		Workload:    "deployment/api",
		Org:         "acme",
		Team:        "shop_team-2",
		ObservedAt:  time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestDeploymentValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*evidence.Deployment)
		ok     bool
	}{
		{name: "all fields", modify: func(*evidence.Deployment) {}, ok: true},
		{name: "only the required fields", modify: func(d *evidence.Deployment) {
			*d = evidence.Deployment{Image: d.Image, Environment: "prod", Org: "acme"}
		}, ok: true},
		{name: "label of 128 characters", modify: func(d *evidence.Deployment) { d.Workload = strings.Repeat("w", 128) }, ok: true},
		{name: "label of one character", modify: func(d *evidence.Deployment) { d.Namespace = "n" }, ok: true},
		{name: "label starting with a digit", modify: func(d *evidence.Deployment) { d.Cluster = "1cluster" }, ok: true},

		{name: "no environment", modify: func(d *evidence.Deployment) { d.Environment = "" }},
		{name: "no org", modify: func(d *evidence.Deployment) { d.Org = "" }},
		{name: "zero image", modify: func(d *evidence.Deployment) { d.Image = evidence.ImageRef{} }},
		{name: "image without digest", modify: func(d *evidence.Deployment) { d.Image.Digest = "" }},
		{name: "image without registry host", modify: func(d *evidence.Deployment) { d.Image.Repository = "acme/api" }},
		{name: "label of 129 characters", modify: func(d *evidence.Deployment) { d.Workload = strings.Repeat("w", 129) }},
		{name: "environment of 129 characters", modify: func(d *evidence.Deployment) { d.Environment = strings.Repeat("e", 129) }},
		{name: "space in environment", modify: func(d *evidence.Deployment) { d.Environment = "prod eu" }},
		{name: "colon in org", modify: func(d *evidence.Deployment) { d.Org = "acme:corp" }},
		{name: "team starting with '-'", modify: func(d *evidence.Deployment) { d.Team = "-shop" }},
		{name: "cluster starting with '.'", modify: func(d *evidence.Deployment) { d.Cluster = ".hidden" }},
		{name: "namespace starting with '/'", modify: func(d *evidence.Deployment) { d.Namespace = "/shop" }},
		{name: "non-ASCII letter in workload", modify: func(d *evidence.Deployment) { d.Workload = "café" }},
		{name: "newline in team", modify: func(d *evidence.Deployment) { d.Team = "shop\n" }},
		{name: "quote in org", modify: func(d *evidence.Deployment) { d.Org = `acme"` }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.modify(&d)
			err := d.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(): %v", err)
			}
			if !tt.ok && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestDeploymentKey(t *testing.T) {
	base := validDeployment()
	key := base.Key()
	if len(key) != 32 || strings.Trim(key, "0123456789abcdef") != "" {
		t.Fatalf("Key() = %q, want 32 lowercase hex characters", key)
	}
	if again := validDeployment().Key(); again != key {
		t.Errorf("Key() of an equal deployment = %q, want %q", again, key)
	}

	same := []struct {
		name   string
		modify func(*evidence.Deployment)
	}{
		{"another observation time", func(d *evidence.Deployment) { d.ObservedAt = d.ObservedAt.Add(time.Hour) }},
		{"zero observation time", func(d *evidence.Deployment) { d.ObservedAt = time.Time{} }},
		{"another team", func(d *evidence.Deployment) { d.Team = "platform" }},
	}
	for _, tt := range same {
		t.Run("same with "+tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.modify(&d)
			if got := d.Key(); got != key {
				t.Errorf("Key() = %q, want %q as for the unchanged deployment", got, key)
			}
		})
	}

	differs := []struct {
		name   string
		modify func(*evidence.Deployment)
	}{
		{"org", func(d *evidence.Deployment) { d.Org = "other" }},
		{"environment", func(d *evidence.Deployment) { d.Environment = "staging" }},
		{"cluster", func(d *evidence.Deployment) { d.Cluster = "us-east-1.k8s" }},
		{"no cluster", func(d *evidence.Deployment) { d.Cluster = "" }},
		{"namespace", func(d *evidence.Deployment) { d.Namespace = "shop2" }},
		{"workload", func(d *evidence.Deployment) { d.Workload = "deployment/web" }},
		{"repository", func(d *evidence.Deployment) { d.Image.Repository = "ghcr.io/acme/api-mirror" }},
		{"digest", func(d *evidence.Deployment) { d.Image.Digest = evidence.Digest("sha256:" + strings.Repeat("0", 64)) }},
		// Moving text from one field to the next must not collide.
		{"a boundary shifted between cluster and namespace", func(d *evidence.Deployment) {
			d.Cluster, d.Namespace = d.Cluster+d.Namespace[:1], d.Namespace[1:]
		}},
		{"org and environment swapped", func(d *evidence.Deployment) { d.Org, d.Environment = d.Environment, d.Org }},
	}
	seen := map[string]string{key: "base"}
	for _, tt := range differs {
		t.Run("differs by "+tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.modify(&d)
			got := d.Key()
			if prev, dup := seen[got]; dup {
				t.Errorf("Key() = %q, the same as for %s", got, prev)
			}
			seen[got] = tt.name
		})
	}
}

func ExampleDeployment_Key() {
	d := evidence.Deployment{
		Image:       evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		Environment: "prod",
		Namespace:   "shop",
		Workload:    "deployment/api",
		Org:         "acme",
		ObservedAt:  time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	later := d
	later.ObservedAt = d.ObservedAt.Add(24 * time.Hour)
	elsewhere := d
	elsewhere.Environment = "staging"

	fmt.Println(d.Validate())
	fmt.Println(d.Key() == later.Key())
	fmt.Println(d.Key() == elsewhere.Key())
	// Output:
	// <nil>
	// true
	// false
}
