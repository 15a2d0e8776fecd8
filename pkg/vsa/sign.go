package vsa

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/provenance"
)

// PayloadTypeInToto is the DSSE payload type of in-toto statements.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// BundleMediaType is the media type of the Sigstore bundles Sign writes (v0.3); it is also the
// artifactType of the referrers Push writes.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// MaxBundleSize bounds the bundles Verify reads.
const MaxBundleSize = 1 << 20

// Sign signs statement with key as a DSSE envelope in a Sigstore bundle (v0.3) holding the
// public key's hint — no certificate, transparency log entry or timestamp, so nothing is
// contacted — and returns the bundle's JSON.
func Sign(ctx context.Context, key *Key, statement []byte) ([]byte, error) {
	if key == nil {
		return nil, errors.New("signing VSA: no key")
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: PayloadTypeInToto}, key, sign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("signing VSA: %w", err)
	}
	out, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encoding VSA bundle: %w", err)
	}
	return out, nil
}

// Errors of Verify. A bundle that is not a VSA at all wraps ErrNotVSA; every other refusal
// wraps ErrRejected.
var (
	ErrNotVSA   = errors.New("not a SLSA verification summary v1")
	ErrRejected = errors.New("VSA rejected")
)

// Requirements are what a VSA must state beyond a valid signature over a statement naming
// the artifact; zero values require nothing.
type Requirements struct {
	// VerifierID, when set, must be the VSA's verifier.id.
	VerifierID string
	// Environment, when set, must be the environment of the VSA's policy URI.
	Environment string
	// MinLevel, when above zero, is the lowest SLSA build level the VSA may state.
	MinLevel evidence.Level
}

// Result is a VSA that verified.
type Result struct {
	provenance.VSA
	Environment string         `json:"environment,omitempty"`
	Level       evidence.Level `json:"slsa_level"`
	// Key names the trusted key that verified the signature.
	Key string `json:"key"`
}

// PublicKey is a public key trusted to sign VSAs, known by a name.
type PublicKey struct {
	Name string
	Key  crypto.PublicKey
}

// Verifier checks VSA bundles against fixed public keys. It is safe for concurrent use.
type Verifier struct {
	keys []keyVerifier
}

type keyVerifier struct {
	name string
	v    *sgverify.Verifier
}

// NewVerifier returns a Verifier trusting keys; it fails when there are none or one cannot
// verify signatures.
func NewVerifier(keys ...PublicKey) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("VSA verifier: no trusted keys")
	}
	out := &Verifier{}
	for _, k := range keys {
		sv, err := signature.LoadDefaultVerifier(k.Key)
		if err != nil {
			return nil, fmt.Errorf("loading VSA key %s: %w", k.Name, err)
		}
		ek := root.NewExpiringKey(sv, time.Time{}, time.Time{})
		mat := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
		// The scorer signs offline: no log entry or timestamp says when, so none is required.
		v, err := sgverify.NewVerifier(mat, sgverify.WithNoObserverTimestamps())
		if err != nil {
			return nil, fmt.Errorf("configuring VSA verifier for key %s: %w", k.Name, err)
		}
		out.keys = append(out.keys, keyVerifier{name: k.Name, v: v})
	}
	return out, nil
}

// Verify checks that data is a Sigstore bundle signed by one of the trusted keys over an
// in-toto statement naming subject, with the VSA v1 predicate, a PASSED result, and what req
// requires. Errors wrap ErrNotVSA when the bundle holds another predicate, and ErrRejected
// otherwise.
func (v *Verifier) Verify(data []byte, subject evidence.Digest, req Requirements) (Result, error) {
	if len(data) > MaxBundleSize {
		return Result{}, fmt.Errorf("%w: bundle of %d bytes exceeds %d", ErrRejected, len(data), MaxBundleSize)
	}
	if err := subject.Validate(); err != nil {
		return Result{}, fmt.Errorf("%w: subject: %w", ErrRejected, err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return Result{}, fmt.Errorf("%w: parsing bundle: %w", ErrRejected, err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return Result{}, fmt.Errorf("%w: the bundle holds no DSSE envelope", ErrNotVSA)
	}
	st, err := provenance.ParseStatement(env.GetPayload())
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrNotVSA, err)
	}
	if st.PredicateType() != PredicateType {
		return Result{}, fmt.Errorf("%w: predicate type %q", ErrNotVSA, st.PredicateType())
	}
	policy := sgverify.NewPolicy(sgverify.WithArtifactDigest(subject.Algorithm(), subject.Bytes()), sgverify.WithKey())
	var errs []error
	key := ""
	for _, k := range v.keys {
		if _, err := k.v.Verify(&b, policy); err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", k.name, err))
			continue
		}
		key = k.name
		break
	}
	if key == "" {
		return Result{}, fmt.Errorf("%w: no trusted key verifies it: %w", ErrRejected, errors.Join(errs...))
	}
	// sigstore-go checked the subject digest; check it again on the statement read here.
	if !st.Names(subject) {
		return Result{}, fmt.Errorf("%w: the statement does not name %s", ErrRejected, subject)
	}
	p, err := st.VSA()
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	res := Result{VSA: *p, Key: key, Environment: EnvironmentOf(p.PolicyURI), Level: -1}
	for _, l := range p.VerifiedLevels {
		if lv, ok := ParseLevel(l); ok && lv > res.Level {
			res.Level = lv
		}
	}
	return res, check(res, req)
}

// check applies the result and req to a verified VSA.
func check(res Result, req Requirements) error {
	switch {
	case !res.Passed():
		return fmt.Errorf("%w: verification result %s", ErrRejected, res.Result)
	case req.VerifierID != "" && res.VerifierID != req.VerifierID:
		return fmt.Errorf("%w: verifier %q, want %q", ErrRejected, res.VerifierID, req.VerifierID)
	case req.Environment != "" && res.Environment != req.Environment:
		return fmt.Errorf("%w: environment %q, want %q", ErrRejected, res.Environment, req.Environment)
	case res.Level < 0:
		return fmt.Errorf("%w: no SLSA build level verified", ErrRejected)
	case res.Level < req.MinLevel:
		return fmt.Errorf("%w: SLSA build level %s, want at least %s", ErrRejected, res.Level, req.MinLevel)
	}
	return nil
}
