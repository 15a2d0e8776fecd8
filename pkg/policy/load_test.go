package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/format"

	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/policies"
)

// policiesDir is the default policies' directory in the repository.
const policiesDir = "../../policies"

func TestLoadNamesTheFileThatFailsToParse(t *testing.T) {
	fsys := fstest.MapFS{
		"ok.rego":         {Data: []byte("package aspm\n\ndecision := {}\n")},
		"rules/bad.rego":  {Data: []byte("package aspm.rules\n\nallow if {\n")},
		"data/extra.json": {Data: []byte(`{"aspm": {}}`)},
	}
	_, err := policy.Load(context.Background(), fsys)
	var fe *policy.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("Load error = %v; want a *policy.FileError", err)
	}
	if fe.Path != "rules/bad.rego" {
		t.Errorf("FileError.Path = %q; want rules/bad.rego", fe.Path)
	}
	if !strings.Contains(err.Error(), "rules/bad.rego:") || !strings.Contains(err.Error(), "rego_parse_error") {
		t.Errorf("Load error %q does not say where and why parsing failed", err)
	}
}

func TestLoadNamesTheDataFileThatFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fsys    fstest.MapFS
		path    string
		wantErr string
	}{
		{"not JSON", fstest.MapFS{"data/a.json": {Data: []byte(`{"aspm":`)}}, "data/a.json", "parsing JSON"},
		{"not an object", fstest.MapFS{"data/a.json": {Data: []byte(`[1]`)}}, "data/a.json", "must hold a JSON object"},
		{"conflict", fstest.MapFS{
			"data/a.json": {Data: []byte(`{"aspm": {"allowed_sources": []}}`)},
			"data/b.json": {Data: []byte(`{"aspm": {"allowed_sources": ["x"]}}`)},
		}, "data/b.json", "data.aspm.allowed_sources is already set by data/a.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fsys["p.rego"] = &fstest.MapFile{Data: []byte("package aspm\n\ndecision := {}\n")}
			_, err := policy.Load(context.Background(), tc.fsys)
			var fe *policy.FileError
			if !errors.As(err, &fe) || fe.Path != tc.path || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load error = %v; want a *policy.FileError for %s saying %q", err, tc.path, tc.wantErr)
			}
		})
	}
}

func TestLoadMergesDataFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"p.rego":          {Data: []byte("package aspm\n\ndecision := {\"level\": count(data.aspm.allowed_sources), \"verified_provenance\": data.aspm.flag, \"gaps\": [], \"risk\": 0, \"explanation\": []}\n")},
		"data/a.json":     {Data: []byte(`{"aspm": {"allowed_sources": ["a", "b"]}}`)},
		"data/b.json":     {Data: []byte(`{"aspm": {"flag": true}}`)},
		"testdata/x.rego": {Data: []byte("this is not Rego")},
		"notes.json":      {Data: []byte("not data, not loaded")},
	}
	engine, err := policy.Load(context.Background(), fsys)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, err := engine.Evaluate(context.Background(), input("dev"))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if got.Level != 2 || !got.VerifiedProvenance {
		t.Errorf("Evaluate = %+v; want level 2 and verified_provenance from the two data files", got)
	}
}

func TestLoadRejectsRestrictedBuiltins(t *testing.T) {
	for _, call := range []string{
		`http.send({"method": "GET", "url": "https://example.com"})`,
		`net.lookup_ip_addr("example.com")`,
		`opa.runtime()`,
		`time.now_ns()`,
		`rand.intn("x", 10)`,
	} {
		name, _, _ := strings.Cut(call, "(")
		t.Run(name, func(t *testing.T) {
			src := "package aspm\n\nx := " + call + "\n\ndecision := {\"level\": 0, \"x\": x}\n"
			_, err := policy.Load(context.Background(), fstest.MapFS{"evil.rego": {Data: []byte(src)}})
			if err == nil {
				t.Fatalf("Load succeeded with a policy calling %s; want an error", name)
			}
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "evil.rego") || !strings.Contains(err.Error(), "excluded") {
				t.Errorf("Load error %q does not name %s and evil.rego", err, name)
			}
		})
	}
}

func TestLoadWithoutDecision(t *testing.T) {
	_, err := policy.Load(context.Background(), fstest.MapFS{"p.rego": {Data: []byte("package aspm\n\nlevel := 3\n")}})
	if err == nil || !strings.Contains(err.Error(), "data.aspm.decision") {
		t.Fatalf("Load error = %v; want one saying no rule defines data.aspm.decision", err)
	}
	_, err = policy.Load(context.Background(), fstest.MapFS{"data/a.json": {Data: []byte(`{}`)}})
	if err == nil || !strings.Contains(err.Error(), "no .rego files") {
		t.Fatalf("Load error = %v; want one saying there are no .rego files", err)
	}
}

func TestVersion(t *testing.T) {
	embedded := MustLoad(t)
	dir, err := policy.LoadDir(context.Background(), policiesDir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if len(embedded.Version()) != 12 {
		t.Errorf("Version() = %q; want 12 hex digits", embedded.Version())
	}
	if embedded.Version() != dir.Version() {
		t.Errorf("embedded Version() = %s, directory Version() = %s; want the same files to give the same version", embedded.Version(), dir.Version())
	}

	changed := copyFS(t, policies.FS)
	changed["data/allowed_sources.json"] = &fstest.MapFile{Data: []byte(`{"aspm": {"allowed_sources": ["^https://github\\.com/acme/"]}}`)}
	other, err := policy.Load(context.Background(), changed)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if other.Version() == embedded.Version() {
		t.Errorf("Version() did not change when a data file did")
	}

	withTest := copyFS(t, policies.FS)
	withTest["extra_test.rego"] = &fstest.MapFile{Data: []byte("package aspm_test\n\ntest_x if true\n")}
	same, err := policy.Load(context.Background(), withTest)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if same.Version() != embedded.Version() {
		t.Errorf("Version() changed when only a test file was added; tests are not loaded")
	}
}

func TestLoadPath(t *testing.T) {
	ctx := context.Background()
	dirEngine, err := policy.LoadPath(ctx, policiesDir)
	if err != nil {
		t.Fatalf("LoadPath(dir): %v", err)
	}
	bundlePath := filepath.Join(t.TempDir(), "policies.tar.gz")
	writeBundle(t, bundlePath, policies.FS)
	bundleEngine, err := policy.LoadPath(ctx, bundlePath)
	if err != nil {
		t.Fatalf("LoadPath(bundle): %v", err)
	}
	in := input("prod", keyProvenance("sha256:a1", tektonBuilderID, "tekton-chains", 0))
	want, err := dirEngine.Evaluate(ctx, in)
	if err != nil {
		t.Fatalf("Evaluate(dir): %v", err)
	}
	got, err := bundleEngine.Evaluate(ctx, in)
	if err != nil {
		t.Fatalf("Evaluate(bundle): %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bundle and directory decide differently (-dir +bundle):\n%s", diff)
	}
	if len(bundleEngine.Version()) != 12 {
		t.Errorf("bundle Version() = %q; want 12 hex digits", bundleEngine.Version())
	}

	notBundle := filepath.Join(t.TempDir(), "policy.rego")
	if err := os.WriteFile(notBundle, []byte("package aspm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.LoadPath(ctx, notBundle); err == nil {
		t.Errorf("LoadPath(%s) succeeded; want an error for a file that is not a bundle", notBundle)
	}
	if _, err := policy.LoadPath(ctx, filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadPath(missing) error = %v; want one wrapping fs.ErrNotExist", err)
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt.tar.gz")
	if err := os.WriteFile(corrupt, []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.LoadPath(ctx, corrupt); err == nil || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("LoadPath(corrupt) error = %v; want one naming the bundle", err)
	}
}

// writeBundle writes the modules and merged data of fsys as an OPA bundle at path.
func writeBundle(t *testing.T, path string, fsys fs.FS) {
	t.Helper()
	var b bundle.Bundle
	data := map[string]any{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(name, ".rego"):
			b.Modules = append(b.Modules, bundle.ModuleFile{Path: "/" + name, URL: "/" + name, Raw: content})
		case strings.HasSuffix(name, ".json"):
			var doc map[string]any
			if err := json.Unmarshal(content, &doc); err != nil {
				return err
			}
			for k, v := range doc["aspm"].(map[string]any) {
				data[k] = v
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Data = map[string]any{"aspm": data}
	b.Manifest.Init()
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatalf("writing bundle: %v", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFS(t *testing.T, fsys fs.FS) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := fs.ReadFile(fsys, name)
		out[name] = &fstest.MapFile{Data: content}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPoliciesAreFormatted checks every default policy is formatted as `opa fmt` would.
func TestPoliciesAreFormatted(t *testing.T) {
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil || len(names) == 0 {
		t.Fatalf("no policies found: %v", err)
	}
	for _, name := range names {
		src, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		formatted, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Errorf("formatting %s: %v", name, err)
			continue
		}
		if !bytes.Equal(src, formatted) {
			t.Errorf("%s is not formatted; run opa fmt -w policies/ (diff -want +got):\n%s", name, cmp.Diff(string(formatted), string(src)))
		}
	}
}

func TestLoadChecksTheData(t *testing.T) {
	fsys := copyFS(t, policies.FS)
	fsys["data/environments.json"] = &fstest.MapFile{Data: []byte(`{"aspm": {"environments": {"prod": {"min_level": 4, "require_sbom": true, "weight": 1}}}}`)}
	_, err := policy.Load(context.Background(), fsys)
	if !errors.Is(err, policy.ErrInvalidData) {
		t.Fatalf("Load error = %v; want one wrapping ErrInvalidData", err)
	}
	for _, want := range []string{"environments must define a default entry", "environments.prod: min_level must be 0, 1, 2 or 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load error %q does not say %q", err, want)
		}
	}
}
