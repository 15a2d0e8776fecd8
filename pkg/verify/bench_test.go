package verify_test

import (
	"testing"

	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

// benchBundle is a real public-good bundle: a DSSE envelope, a Fulcio certificate with SCTs
// and a Rekor entry with an inclusion proof.
const benchBundle = "slsa-verifier/bundle/valid-v0.3.intoto.sigstore"

// BenchmarkVerify compares the project's verifier with sigstore-go's own Verify on the same
// bundle, trusted root and requirements (observer timestamp, transparency log, SCTs), so the
// project's overhead can be read off: go test -bench Verify ./verify/.
func BenchmarkVerify(b *testing.B) {
	tr, err := verify.LoadTrustedRoot(testcorpus.Path(b, "sigstore/trusted-roots/public-good.prod.json"))
	if err != nil {
		b.Fatal(err)
	}
	entries, err := verify.ParseBundles(testcorpus.Read(b, benchBundle))
	if err != nil || entries[0].Err != nil {
		b.Fatal(err, entries)
	}
	bundle := entries[0].Bundle

	b.Run("sigstore-go", func(b *testing.B) {
		sv, err := sgverify.NewVerifier(tr, sgverify.WithObserverTimestamps(1), sgverify.WithTransparencyLog(1), sgverify.WithSignedCertificateTimestamps(1))
		if err != nil {
			b.Fatal(err)
		}
		policy := sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithoutIdentitiesUnsafe())
		for b.Loop() {
			if _, err := sv.Verify(bundle, policy); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aspm", func(b *testing.B) {
		v, err := verify.New([]verify.NamedRoot{{Name: "public-good", Material: tr}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := v.VerifyBundle(bundle)
			if err != nil || !res.Verified {
				b.Fatal(err, res.Error)
			}
		}
	})
}
