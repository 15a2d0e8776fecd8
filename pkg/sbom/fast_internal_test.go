package sbom

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// fastAgrees checks that the one-pass reading of a CycloneDX JSON document gives what
// cyclonedx-go's decoding gives whenever the latter reads it; the one-pass reading may read
// more (it does not look at fields Parse does not keep) but never less, nor differently.
func fastAgrees(t *testing.T, name string, data []byte) {
	t.Helper()
	slow, serr := parseCycloneDXJSON(data)
	var fast cdxJSON
	ferr := json.Unmarshal(data, &fast)
	if serr != nil {
		return
	}
	if ferr != nil {
		t.Fatalf("%s: cyclonedx-go reads it but the one-pass reading fails: %v", name, ferr)
	}
	doc, ok := fast.document()
	if !ok {
		t.Fatalf("%s: cyclonedx-go reads spec version %s but the one-pass reading does not", name, slow.Summary.SpecVersion)
	}
	if diff := cmp.Diff(slow, doc); diff != "" {
		t.Errorf("%s: one-pass reading differs from cyclonedx-go (-cyclonedx-go +one-pass):\n%s", name, diff)
	}
}

func TestFastCycloneDXAgreesOnCorpus(t *testing.T) {
	root := testcorpus.Dir(t)
	n := 0
	err := filepath.WalkDir(filepath.Join(root, "sbom"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		data := testcorpus.Read(t, filepath.ToSlash(rel))
		var probe struct {
			BOMFormat string `json:"bomFormat"`
		}
		if json.Unmarshal(data, &probe) != nil || probe.BOMFormat != "CycloneDX" {
			return nil
		}
		n++
		fastAgrees(t, rel, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("compared %d CycloneDX JSON documents of the corpus; expected more", n)
	}
}

// FuzzFastCycloneDX checks the one-pass reading against cyclonedx-go on arbitrary input.
func FuzzFastCycloneDX(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":" a ","version":"1","purl":"pkg:npm/a@1",` +
		`"licenses":[{"license":{"id":"MIT"}},{"license":{"name":"Custom"}},{"expression":"Apache-2.0 OR MIT"},{"license":{"id":"MIT"}}],` +
		`"hashes":[{"alg":"SHA-256","content":"AB"},{"alg":"SHA-256","content":"CD"}],"components":[{"name":"b"}]}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.2","components":[{"name":"a","licenses":[{}]},{"name":"c","hashes":[]}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"name":"x"}},"components":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fastAgrees(t, "input", data)
	})
}
