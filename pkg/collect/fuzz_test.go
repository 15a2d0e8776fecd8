package collect_test

import (
	"testing"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// FuzzFromDocument turns arbitrary documents (files given to aspm, bodies fetched from
// registries) into evidence: it must not panic, and must always return at least one piece of
// evidence, each either read or marked malformed with the reason.
func FuzzFromDocument(f *testing.F) {
	for _, rel := range []string{
		"sigstore/cosign/oci-attestation.sigstore.json",
		"sigstore/sigstore-go/publish_key.pub",
	} {
		f.Add(testcorpus.Read(f, rel))
	}
	for _, s := range []string{"", "null", "[1,2]", "{}", `{"payloadType":"x"}`, "\xff\xfe",
		`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],"predicateType":"x","predicate":{}}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"a"}]}`,
		`{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"}]}`,
		"{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"e30=\",\"signatures\":[{\"sig\":\"AA==\"}]}\n{}\n",
	} {
		f.Add([]byte(s))
	}
	c := documentCollector(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		evs := c.FromDocument(t.Context(), data, evidence.ImageRef{}, verify.Options{})
		if len(evs) == 0 {
			t.Fatal("no evidence for a document")
		}
		for _, ev := range evs {
			if ev.Kind == "" && ev.Malformed == "" {
				t.Fatalf("evidence neither read nor marked malformed: %+v", ev)
			}
		}
	})
}
