package vsa_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/aspmhq/aspm/pkg/vsa"
)

// FuzzVerify checks arbitrary bytes as VSA bundles (they are read back from registries): it
// must not panic, must fail only with ErrNotVSA or ErrRejected, and what it accepts must have
// been verified by the one trusted key for a level the statement states.
func FuzzVerify(f *testing.F) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	k, err := vsa.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		f.Fatal(err)
	}
	v, err := vsa.NewVerifier(vsa.PublicKey{Name: "k0", Key: k.GetPublicKey()})
	if err != nil {
		f.Fatal(err)
	}
	st, err := vsa.Statement(summary())
	if err != nil {
		f.Fatal(err)
	}
	b, err := vsa.Sign(f.Context(), k, st)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Verify(data, digestA, vsa.Requirements{})
		if err != nil {
			if !errors.Is(err, vsa.ErrNotVSA) && !errors.Is(err, vsa.ErrRejected) {
				t.Fatalf("error %v wraps neither ErrNotVSA nor ErrRejected", err)
			}
			return
		}
		if res.Key != "k0" || res.Level > 4 {
			t.Fatalf("accepted VSA: key %q, level %d", res.Key, res.Level)
		}
	})
}

// FuzzParseKey parses arbitrary bytes as a PEM private key: it must not panic, and a key it
// returns must sign.
func FuzzParseKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIEFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := vsa.ParseKey(data)
		if err != nil {
			return
		}
		if _, _, err := k.SignData(t.Context(), []byte("x")); err != nil {
			t.Fatalf("parsed key does not sign: %v", err)
		}
	})
}
