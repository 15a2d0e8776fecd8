package dsse_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aspmhq/aspm/pkg/dsse"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// shape is what the tests compare of a parsed document.
type shape struct {
	PayloadType   string
	PredicateType string // the in-toto statement's
	KeyIDs        []string
	Certs         int
}

func shapes(t *testing.T, envs []dsse.Envelope) []shape {
	t.Helper()
	var out []shape
	for _, e := range envs {
		var stmt struct {
			PredicateType string `json:"predicateType"`
		}
		if err := json.Unmarshal(e.Payload, &stmt); err != nil {
			t.Fatalf("payload: %v", err)
		}
		s := shape{PayloadType: e.PayloadType, PredicateType: stmt.PredicateType}
		for _, sig := range e.Signatures {
			s.KeyIDs = append(s.KeyIDs, sig.KeyID)
			if sig.Cert != "" {
				s.Certs++
			}
		}
		out = append(out, s)
	}
	return out
}

const (
	intoto       = "application/vnd.in-toto+json"
	slsaV02      = "https://slsa.dev/provenance/v0.2"
	slsaV01      = "https://slsa.dev/provenance/v0.1"
	slsaV1       = "https://slsa.dev/provenance/v1"
	gcbGlobal    = "projects/verified-builder/locations/global/keyRings/attestor/cryptoKeys/builtByGCB/cryptoKeyVersions/1"
	gcbUSWest2   = "projects/verified-builder/locations/us-west2/keyRings/attestor/cryptoKeys/builtByGCB/cryptoKeyVersions/1"
	gcbPAEWorker = "projects/verified-builder/locations/global/keyRings/attestor/cryptoKeys/google-hosted-worker/cryptoKeyVersions/1"
	gcbPAESigner = "projects/verified-builder/locations/global/keyRings/attestor/cryptoKeys/provenanceSigner/cryptoKeyVersions/1"
)

func TestParseCorpus(t *testing.T) {
	withCert := []shape{{PayloadType: intoto, PredicateType: slsaV02, KeyIDs: []string{""}, Certs: 1}}
	for _, tc := range []struct {
		file string
		want []shape
	}{
		{"slsa-verifier/gha_generic/v1.2.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", withCert},
		{"slsa-verifier/gha_go/v1.2.2/binary-linux-amd64-push-v13.0.30.intoto.jsonl", withCert},
		{"slsa-verifier/gha_go/v2.0.0/binary-linux-amd64-workflow_dispatch.intoto.jsonl", withCert},
		{"slsa-verifier/edge/binary-linux-amd64-sharded.intoto.jsonl", []shape{{PayloadType: intoto, PredicateType: slsaV02, KeyIDs: []string{""}}}},
		{"slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl", []shape{{PayloadType: intoto, PredicateType: "https://slsa.dev/verification_summary/v1", KeyIDs: []string{"keystore://76574:prod:vsa_signing_public_key"}}}},
		{"slsa-verifier/gcb/v0.2/gcloud-container-github.json", []shape{{PayloadType: intoto, PredicateType: slsaV01, KeyIDs: []string{gcbGlobal}}}},
		{"slsa-verifier/gcb/v0.3/gcloud-container-github.json", []shape{{PayloadType: intoto, PredicateType: slsaV01, KeyIDs: []string{gcbUSWest2}}}},
		{"slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json", []shape{
			{PayloadType: intoto, PredicateType: slsaV1, KeyIDs: []string{gcbPAEWorker}},
			{PayloadType: intoto, PredicateType: slsaV01, KeyIDs: []string{gcbPAESigner, gcbUSWest2}},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			envs, err := dsse.Parse(testcorpus.Read(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, shapes(t, envs)); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCorpusErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want error
		// where is the location the error names.
		where string
	}{
		// Upstream removed the signatures by hand and left a trailing comma: not JSON.
		{"slsa-verifier/gcb/v0.3/gcloud-container-no-signature.json", dsse.ErrMalformed, "line 93"},
		{"slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-nosigs.json", dsse.ErrMalformed, "line 198"},
		{"slsa-verifier/gcb/v0.3/gcloud-container-invalid-signature-encoding.json", dsse.ErrMalformed, "malformed DSSE document: line 1: provenance 0: signature 0 is not base64"},
		// Sigstore bundles are verify.ParseBundles' business.
		{"slsa-verifier/gha_go/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl", dsse.ErrNotEnvelope, "a Sigstore bundle"},
		{"sigstore/cosign/oci-attestation.sigstore.json", dsse.ErrNotEnvelope, "a Sigstore bundle"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			envs, err := dsse.Parse(testcorpus.Read(t, tc.file))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %d envelopes, %v; want %v", len(envs), err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.where) {
				t.Errorf("Parse error %q does not say %q", err, tc.where)
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParse(t *testing.T) {
	env := func(payload, sig string) string {
		return fmt.Sprintf(`{"payloadType":"text/plain","payload":%q,"signatures":[{"keyid":"k","sig":%q}]}`, payload, sig)
	}
	for _, tc := range []struct {
		name, in string
		want     []dsse.Envelope
		wantErr  error
		where    string
	}{
		{
			name: "one envelope, standard base64",
			in:   env(b64("hello"), b64("sig")),
			want: []dsse.Envelope{{PayloadType: "text/plain", Payload: []byte("hello"), Signatures: []dsse.Signature{{KeyID: "k", Sig: []byte("sig")}}}},
		},
		{
			name: "URL-safe base64 without padding, as Cloud Build writes",
			in:   env(base64.RawURLEncoding.EncodeToString([]byte("??>>")), base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff})),
			want: []dsse.Envelope{{PayloadType: "text/plain", Payload: []byte("??>>"), Signatures: []dsse.Signature{{KeyID: "k", Sig: []byte{0xfb, 0xff}}}}},
		},
		{
			name: "JSON lines with a blank line and CRLF",
			in:   env(b64("a"), b64("1")) + "\r\n\r\n" + env(b64("b"), b64("2")) + "\n",
			want: []dsse.Envelope{
				{PayloadType: "text/plain", Payload: []byte("a"), Signatures: []dsse.Signature{{KeyID: "k", Sig: []byte("1")}}},
				{PayloadType: "text/plain", Payload: []byte("b"), Signatures: []dsse.Signature{{KeyID: "k", Sig: []byte("2")}}},
			},
		},
		{
			name: "embedded certificate",
			in:   `{"payloadType":"t","payload":"","signatures":[{"keyid":"","sig":"","cert":"-----BEGIN CERTIFICATE-----\n"}]}`,
			want: []dsse.Envelope{{PayloadType: "t", Payload: []byte{}, Signatures: []dsse.Signature{{Sig: []byte{}, Cert: "-----BEGIN CERTIFICATE-----\n"}}}},
		},
		{
			name: "unsigned envelope",
			in:   `{"payloadType":"t","payload":"YQ=="}`,
			want: []dsse.Envelope{{PayloadType: "t", Payload: []byte("a")}},
		},
		{name: "empty", in: " \n", wantErr: dsse.ErrMalformed, where: "no envelope found"},
		{name: "not JSON", in: "payload", wantErr: dsse.ErrMalformed, where: "line 1"},
		{name: "array", in: "[]", wantErr: dsse.ErrMalformed, where: "line 1"},
		{name: "truncated", in: `{"payloadType":"t",`, wantErr: dsse.ErrMalformed, where: "line 1"},
		{name: "bad second line", in: env(b64("a"), b64("1")) + "\n" + env(b64("b"), "not base64!"), wantErr: dsse.ErrMalformed, where: "malformed DSSE document: line 2: signature 0 is not base64"},
		{name: "no payloadType", in: `{"payload":"YQ==","signatures":[]}`, wantErr: dsse.ErrMalformed, where: "no payloadType"},
		{name: "no payload", in: `{"payloadType":"t","signatures":[]}`, wantErr: dsse.ErrMalformed, where: "no payload"},
		{name: "payload not base64", in: `{"payloadType":"t","payload":"%%%"}`, wantErr: dsse.ErrMalformed, where: "payload is not base64"},
		{name: "payload not a string", in: `{"payloadType":"t","payload":1}`, wantErr: dsse.ErrMalformed, where: "line 1"},
		{name: "signature without sig", in: `{"payloadType":"t","payload":"","signatures":[{"keyid":"k"}]}`, wantErr: dsse.ErrMalformed, where: "signature 0 has no sig"},
		{name: "gcloud output without provenance", in: `{"image_summary":{},"provenance_summary":{"provenance":[]}}`, wantErr: dsse.ErrMalformed, where: "lists no provenance"},
		{name: "gcloud entry without envelope", in: `{"provenance_summary":{"provenance":[{"kind":"BUILD"}]}}`, wantErr: dsse.ErrMalformed, where: "provenance 0 has no envelope"},
		{name: "other JSON object", in: `{"image_summary":{}}`, wantErr: dsse.ErrNotEnvelope, where: "line 1"},
		{name: "bundle on line 2", in: env(b64("a"), b64("1")) + "\n" + `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`, wantErr: dsse.ErrNotEnvelope, where: "not a raw DSSE envelope document: line 2: a Sigstore bundle"},
		{name: "too large", in: strings.Repeat(" ", dsse.MaxDocumentSize+1), wantErr: dsse.ErrMalformed, where: "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dsse.Parse([]byte(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.where) {
					t.Fatalf("Parse = %v; want %v saying %q", err, tc.wantErr, tc.where)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, fails only with its sentinels, and that what it
// returns survives a round trip through the canonical JSON form.
func FuzzParse(f *testing.F) {
	for _, rel := range []string{
		"slsa-verifier/gha_generic/v1.2.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		"slsa-verifier/gha_go/v2.0.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		"slsa-verifier/gha_go/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.jsonl",
		"slsa-verifier/edge/binary-linux-amd64-sharded.intoto.jsonl",
		"slsa-verifier/vsa/gke-gce-pre.bcid-vsa.jsonl",
		"slsa-verifier/gcb/v0.3/gcloud-container-github.json",
		"slsa-verifier/gcb/v0.3/gcloud-container-no-signature.json",
		"slsa-verifier/gcb/v0.3/gcloud-container-invalid-signature-encoding.json",
		"slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github.json",
		"slsa-verifier/gcb/v1.0/v1.0-gcloud-container-github-nosigs.json",
	} {
		f.Add(testcorpus.Read(f, rel))
	}
	f.Add([]byte(`{"payloadType":"t","payload":"YQ","signatures":[{"sig":"-_8"}]}` + "\n" + `{"payloadType":"u","payload":""}`))
	f.Add([]byte(`{"provenance_summary":{"provenance":[{"envelope":{"payloadType":"t","payload":"","signatures":null}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		envs, err := dsse.Parse(data)
		if err != nil {
			if !errors.Is(err, dsse.ErrMalformed) && !errors.Is(err, dsse.ErrNotEnvelope) {
				t.Fatalf("Parse error %v is neither ErrMalformed nor ErrNotEnvelope", err)
			}
			return
		}
		if len(envs) == 0 {
			t.Fatal("Parse returned no envelopes and no error")
		}
		var buf bytes.Buffer
		for _, e := range envs {
			w := map[string]any{"payloadType": e.PayloadType, "payload": base64.StdEncoding.EncodeToString(e.Payload)}
			var sigs []map[string]string
			for _, s := range e.Signatures {
				sigs = append(sigs, map[string]string{"keyid": s.KeyID, "sig": base64.StdEncoding.EncodeToString(s.Sig), "cert": s.Cert})
			}
			if sigs != nil {
				w["signatures"] = sigs
			}
			line, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(line)
			buf.WriteByte('\n')
		}
		again, err := dsse.Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("Parse of re-encoded envelopes: %v", err)
		}
		if diff := cmp.Diff(envs, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
		for _, e := range envs {
			// Verification of arbitrary envelopes must not panic either.
			_, _ = dsse.VerifyWithEmbeddedCert(e, nil)
		}
	})
}
