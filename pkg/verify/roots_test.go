package verify_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/pkg/verify"
)

func TestPublicGoodVerifiesRealBundle(t *testing.T) {
	tr, err := verify.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.RekorLogs()) == 0 || len(tr.CTLogs()) == 0 || len(tr.FulcioCertificateAuthorities()) == 0 {
		t.Fatal("embedded root lacks logs or CAs")
	}
	v, err := verify.New([]verify.NamedRoot{{Name: verify.PublicGoodName, Material: tr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyBundle(mustBundle(t, testcorpus.Read(t, "sigstore/sigstore-go/bundle-provenance.json")))
	if err != nil || !res.Verified || res.Root != verify.PublicGoodName {
		t.Fatalf("embedded public-good root: %+v, %v", res, err)
	}
}

func TestFetchTrustedRootOffline(t *testing.T) {
	_, err := verify.FetchTrustedRoot(context.Background(), "http://127.0.0.1:1", t.TempDir())
	if !errors.Is(err, verify.ErrTUF) {
		t.Errorf("err = %v, want ErrTUF", err)
	}
}
