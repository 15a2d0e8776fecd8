package vsa_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/vsa"
)

// Issue a VSA for an artifact that passed prod's policy at SLSA build level 3, sign it, and
// check it as an admission controller would.
func Example() {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	key, err := vsa.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		panic(err)
	}
	img := evidence.ImageRef{Repository: "registry.example/acme/app", Digest: digestA}
	st, err := vsa.Statement(vsa.Summary{
		Image: img, VerifierID: vsa.DefaultVerifierID, TimeVerified: time.Now(),
		PolicyURI: vsa.DefaultPolicyURI, PolicyVersion: "0123456789ab", Environment: "prod",
		Result: vsa.Passed, Level: 3,
	})
	if err != nil {
		panic(err)
	}
	bundle, err := vsa.Sign(context.Background(), key, st)
	if err != nil {
		panic(err)
	}

	v, err := vsa.NewVerifier(vsa.PublicKey{Name: "scorer", Key: key.GetPublicKey()})
	if err != nil {
		panic(err)
	}
	res, err := v.Verify(bundle, img.Digest, vsa.Requirements{Environment: "prod", MinLevel: 3})
	fmt.Println(res.Result, vsa.LevelName(res.Level), res.Environment, res.Key, err)
	_, err = v.Verify(bundle, img.Digest, vsa.Requirements{Environment: "staging"})
	fmt.Println(err)
	// Output:
	// PASSED SLSA_BUILD_LEVEL_3 prod scorer <nil>
	// VSA rejected: environment "prod", want "staging"
}
