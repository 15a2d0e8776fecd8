package dsse_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/aspmhq/aspm/pkg/dsse"
	"github.com/aspmhq/aspm/pkg/verify"
)

func ExampleVerifyWithKeys() {
	// A builder signs an in-toto statement as a DSSE envelope and publishes it as JSON lines.
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	sig := ed25519.Sign(key, ssldsse.PAE("application/vnd.in-toto+json", payload))
	doc := fmt.Sprintf(`{"payloadType":"application/vnd.in-toto+json","payload":%q,"signatures":[{"keyid":"","sig":%q}]}`+"\n",
		base64.StdEncoding.EncodeToString(payload), base64.StdEncoding.EncodeToString(sig))

	envs, err := dsse.Parse([]byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	trusted := []verify.TrustedKey{{Name: "release-builder", PublicKey: key.Public()}}
	res := dsse.VerifyWithKeys(envs[0], trusted)
	fmt.Println(res.Verified, res.Signer.Type, res.Signer.Identity)

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	res = dsse.VerifyWithKeys(envs[0], []verify.TrustedKey{{Name: "someone-else", PublicKey: other.Public()}})
	fmt.Println(res.Verified, res.Error)
	// Output:
	// true key release-builder
	// false no trusted key verifies the envelope's signature
}
