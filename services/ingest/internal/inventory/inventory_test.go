package inventory_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/services/ingest/internal/inventory"
)

func TestLoad(t *testing.T) {
	got, err := inventory.Load(filepath.Join("testdata", "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &inventory.File{
		Org:     "acme",
		Cluster: "prod-eu-1",
		Environments: map[string]inventory.Environment{
			"prod": {Workloads: []inventory.Workload{
				{Name: "payments-api", Namespace: "payments", Team: "payments", Images: []string{
					"registry.example/acme/payments-api@sha256:" + strings.Repeat("1", 64),
					"registry.example/acme/sidecar:1.4",
				}},
				{Name: "ledger", Namespace: "payments", Team: "ledger", Org: "acme-finance", Cluster: "prod-us-1", Images: []string{
					"registry.example:5000/finance/ledger:v2.0.1",
				}},
			}},
			"staging": {Workloads: []inventory.Workload{
				{Name: "payments-api", Namespace: "payments", Images: []string{
					"registry.example/acme/payments-api@sha256:" + strings.Repeat("2", 64),
				}},
			}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := inventory.Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: got %v, want fs.ErrNotExist", err)
	}
}

func TestParse(t *testing.T) {
	digestRef := "registry.example/acme/api@sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		name string
		doc  string
		// want lists substrings of the error; none means the document is valid.
		want []string
	}{
		{name: "empty document", doc: ""},
		{name: "comments only", doc: "# nothing runs\n"},
		{name: "no environments", doc: "org: acme\nenvironments: {}\n"},
		{name: "unknown field", doc: "org: acme\nenvironment: {}\n", want: []string{`"environment"`}},
		{name: "not YAML", doc: "org: [acme\n", want: []string{"parsing inventory"}},
		{
			name: "workload without a name",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - images: [" + digestRef + "]\n",
			want: []string{`environment "prod": workload #1: invalid: name is required`},
		},
		{
			name: "no org",
			doc:  "environments:\n  prod:\n    workloads:\n      - name: api\n        images: [" + digestRef + "]\n",
			want: []string{`environment "prod": workload "api": invalid: org is required`},
		},
		{
			name: "no images",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: api\n",
			want: []string{`environment "prod": workload "api": invalid: at least one image is required`},
		},
		{
			name: "neither tag nor digest",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: api\n        images: [registry.example/acme/api]\n",
			want: []string{`workload "api": image "registry.example/acme/api": invalid: want REGISTRY/REPO:TAG`},
		},
		{
			name: "no registry host",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: api\n        images: [\"acme/api:1.0\"]\n",
			want: []string{`workload "api": image "acme/api:1.0"`, "registry host"},
		},
		{
			name: "bad digest",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: api\n        images: [\"registry.example/acme/api@sha256:abc\"]\n",
			want: []string{`workload "api": image "registry.example/acme/api@sha256:abc"`, "hex"},
		},
		{
			name: "bad tag",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: api\n        images: [\"registry.example/acme/api:-x\"]\n",
			want: []string{`image "registry.example/acme/api:-x": invalid: tag "-x"`},
		},
		{
			name: "image twice",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - name: api\n        images: [" + digestRef + ", " + digestRef + "]\n",
			want: []string{`workload "api": invalid: image "` + digestRef + `" listed twice`},
		},
		{
			name: "workload twice",
			doc: "org: acme\nenvironments:\n  prod:\n    workloads:\n" +
				"      - {name: api, namespace: web, images: [" + digestRef + "]}\n" +
				"      - {name: api, namespace: web, images: [registry.example/acme/api:2]}\n",
			want: []string{`environment "prod": workload "api": invalid: listed twice`},
		},
		{
			name: "bad team",
			doc:  "org: acme\nenvironments:\n  prod:\n    workloads:\n      - {name: api, team: \"pay ments\", images: [" + digestRef + "]}\n",
			want: []string{`environment "prod": workload "api"`, "team"},
		},
		{
			name: "bad environment name",
			doc:  "org: acme\nenvironments:\n  \"prod env\":\n    workloads:\n      - {name: api, images: [" + digestRef + "]}\n",
			want: []string{`environment "prod env"`},
		},
		{
			name: "every problem is reported",
			doc: "org: acme\nenvironments:\n" +
				"  prod:\n    workloads:\n      - {name: api}\n" +
				"  staging:\n    workloads:\n      - {name: web, images: [nope]}\n",
			want: []string{`environment "prod": workload "api": invalid: at least one image`, `environment "staging": workload "web": image "nope"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inventory.Parse([]byte(tc.doc))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("Parse: got %v, want an error wrapping evidence.ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error %q does not mention %q", err, w)
				}
			}
		})
	}
}
