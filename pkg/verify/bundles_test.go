package verify_test

import (
	"errors"
	"testing"

	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

func TestParseBundles(t *testing.T) {
	tests := []struct {
		file       string
		entries    int
		predicates []string
		errIs      error
	}{
		{file: "sigstore/sigstore-go/bundle-provenance.json", entries: 1},
		{file: "sigstore/github-cli/sigstore-js-2.1.0_with_2_bundles.jsonl", entries: 2},
		{file: "slsa-verifier/npm/npm-attestations.intoto.sigstore", entries: 2,
			predicates: []string{"https://slsa.dev/provenance/v0.2", "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"}},
		{file: "slsa-verifier/gha_go/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", entries: 1},
		{file: "slsa-verifier/gha_go/v2.0.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", errIs: verify.ErrNotBundle},
		{file: "slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", errIs: verify.ErrNotBundle},
		{file: "sbom/cyclonedx/guac-alpine.syft.cdx-1.4.json", errIs: verify.ErrNotBundle},
		{file: "sbom/cyclonedx/invalid/guac-invalid-cyclonedx.xml", errIs: verify.ErrMalformedDocument},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			entries, err := verify.ParseBundles(testcorpus.Read(t, tc.file))
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("err = %v, want %v", err, tc.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.entries {
				t.Fatalf("%d entries, want %d", len(entries), tc.entries)
			}
			for i, e := range entries {
				if e.Err != nil || e.Bundle == nil {
					t.Errorf("entry %d: %v", i, e.Err)
				}
				if tc.predicates != nil && e.PredicateType != tc.predicates[i] {
					t.Errorf("entry %d: predicate type %q, want %q", i, e.PredicateType, tc.predicates[i])
				}
			}
		})
	}
}

func TestParseBundlesKeepsGoodEntries(t *testing.T) {
	good := testcorpus.Read(t, "sigstore/sigstore-go/bundle-provenance.json")
	doc := append(append([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`+"\n"), compact(t, good)...), '\n')
	entries, err := verify.ParseBundles(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Err == nil || entries[1].Err != nil {
		t.Fatalf("entries = %+v; want a bad first entry and a good second one", entries)
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out []byte
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == '\n' || c == '\r' || c == ' ' || c == '\t'):
			continue
		}
		out = append(out, c)
	}
	return out
}

func FuzzParseBundles(f *testing.F) {
	for _, rel := range []string{
		"sigstore/sigstore-go/bundle-provenance.json",
		"sigstore/conformance/bundle-verify/happy-path-v0.3/bundle.sigstore.json",
		"slsa-verifier/npm/npm-attestations.intoto.sigstore",
	} {
		f.Add(testcorpus.Read(f, rel))
	}
	f.Add([]byte(`{"attestations":[{"bundle":1}]}`))
	f.Add([]byte("{\"mediaType\":\"x\"}\n{\"payloadType\":\"y\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := verify.ParseBundles(data)
		if err != nil {
			if !errors.Is(err, verify.ErrNotBundle) && !errors.Is(err, verify.ErrMalformedDocument) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		for _, e := range entries {
			if (e.Bundle == nil) == (e.Err == nil) {
				t.Fatalf("entry has both or neither of a bundle and an error: %+v", e)
			}
		}
	})
}
