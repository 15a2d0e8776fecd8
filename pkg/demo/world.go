package demo

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aspmhq/aspm/pkg/cosign"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// Org is the organisation every demo deployment belongs to.
const Org = "acme"

// KeyName is the name under which the keyed signer's public key must be trusted; the default
// policy's Tekton Chains builder accepts it.
const KeyName = "tekton-chains"

// Issuer is GitHub Actions' OIDC issuer.
const Issuer = "https://token.actions.githubusercontent.com"

// Artifact media and annotation names used when attaching evidence.
const (
	annPredicateType = "dev.sigstore.bundle.predicateType"
	annContent       = "dev.sigstore.bundle.content"
	mediaTypeInToto  = "application/vnd.in-toto+json"
	mediaTypeCDX     = "application/vnd.cyclonedx+json"
)

type builder int

const (
	slsaGenerator builder = iota // slsa-github-generator's reusable workflow (L3)
	ghReusable                   // GitHub artifact attestations from GitHub's reusable workflow (L3)
	ghSame                       // GitHub artifact attestations from the repository's own workflow (L2)
	ghSelfHosted                 // as ghSame, on a self-hosted runner (L1)
	tekton                       // Tekton Chains, key-signed (L2)
	jenkins                      // an in-house Jenkins, not a trusted builder (L1)
)

type signing int

const (
	keyless  signing = iota // Sigstore keyless with the builder's identity
	keyed                   // the instance's signing key
	unsigned                // a bare in-toto statement
	tampered                // signed, then the payload changed
	wrongID                 // keyless, but by the repository's own workflow, not the builder's
	noProv                  // no provenance at all
)

type sbomMode int

const (
	sbomNone sbomMode = iota
	sbomSigned
	sbomUnsigned
)

// spec describes one demo artifact and what the default policy must decide for it.
type spec struct {
	name, team  string
	envs        []string
	builder     builder
	signing     signing
	sbom        sbomMode
	otherDigest bool // provenance names another artifact
	noCommit    bool // provenance does not pin the source commit
	malformed   bool // an unparseable bundle is attached too
	allFormats  bool // also attached the other ways: cosign's .att/.sig/.sbom tags, the referrers tag schema
	oldOpenSSL  bool // the SBOM lists openssl 3.0.2 rather than 3.0.15
	level       evidence.Level
	gaps        map[string][]string
}

var specs = []spec{
	{name: "payments-api", team: "payments", envs: []string{"prod", "staging"}, builder: slsaGenerator, sbom: sbomSigned, oldOpenSSL: true, level: 3,
		gaps: map[string][]string{"prod": nil, "staging": nil}},
	{name: "checkout-web", team: "storefront", envs: []string{"prod"}, builder: ghReusable, sbom: sbomUnsigned, oldOpenSSL: true, level: 3,
		gaps: map[string][]string{"prod": {"sbom.unsigned"}}},
	{name: "auth-service", team: "platform", envs: []string{"prod"}, builder: ghSame, sbom: sbomSigned, level: 2,
		gaps: map[string][]string{"prod": {"level.below_required"}}},
	{name: "inventory-svc", team: "storefront", envs: []string{"staging"}, builder: tekton, signing: keyed, level: 2,
		gaps: map[string][]string{"staging": {"sbom.missing", "tlog.missing"}}},
	{name: "search-indexer", team: "data", envs: []string{"dev"}, builder: ghSame, signing: unsigned, level: 1,
		gaps: map[string][]string{"dev": {"provenance.unsigned", "sbom.missing"}}},
	{name: "legacy-batch", team: "payments", envs: []string{"prod"}, signing: noProv, level: 0,
		gaps: map[string][]string{"prod": {"level.below_required", "provenance.missing", "sbom.missing"}}},
	{name: "reports-gen", team: "data", envs: []string{"staging"}, builder: jenkins, level: 1,
		gaps: map[string][]string{"staging": {"builder.untrusted", "level.below_required", "sbom.missing"}}},
	{name: "notifications", team: "platform", envs: []string{"dev"}, builder: slsaGenerator, signing: tampered, level: 1,
		gaps: map[string][]string{"dev": {"sbom.missing", "signature.invalid"}}},
	{name: "billing-worker", team: "payments", envs: []string{"staging"}, builder: slsaGenerator, otherDigest: true, level: 0,
		gaps: map[string][]string{"staging": {"level.below_required", "provenance.missing", "sbom.missing", "subject.mismatch"}}},
	{name: "edge-gateway", team: "platform", envs: []string{"dev"}, builder: ghSelfHosted, level: 1,
		gaps: map[string][]string{"dev": {"builder.self_hosted_runner", "sbom.missing"}}},
	{name: "ml-worker", team: "data", envs: []string{"staging"}, builder: slsaGenerator, signing: wrongID, level: 1,
		gaps: map[string][]string{"staging": {"level.below_required", "sbom.missing", "signer.identity_mismatch"}}},
	{name: "storefront-web", team: "storefront", envs: []string{"dev"}, builder: slsaGenerator, level: 3,
		gaps: map[string][]string{"dev": {"sbom.missing"}}},
	{name: "data-pipeline", team: "data", envs: []string{"prod"}, builder: slsaGenerator, sbom: sbomSigned, noCommit: true, level: 3,
		gaps: map[string][]string{"prod": {"source.unpinned"}}},
	{name: "analytics-api", team: "data", envs: []string{"dev"}, builder: ghSame, malformed: true, level: 2,
		gaps: map[string][]string{"dev": {"evidence.malformed", "sbom.missing"}}},
	{name: "release-train", team: "platform", envs: []string{"prod"}, builder: slsaGenerator, sbom: sbomSigned, allFormats: true, level: 3,
		gaps: map[string][]string{"prod": nil}},
}

// verifies reports whether the artifact has verified provenance: signed by trusted material,
// naming it, and by the signer its builder uses (a valid signature from the wrong signer is
// not verified provenance).
func (sp spec) verifies() bool {
	return (sp.signing == keyless || sp.signing == keyed) && !sp.otherDigest
}

// Expected is what the default policy must decide for one demo deployment.
type Expected struct {
	Image       evidence.ImageRef
	Environment string
	Level       evidence.Level
	// VerifiedProvenance says whether a provenance for the artifact verifies.
	VerifiedProvenance bool
	// Gaps are the expected gap codes, sorted.
	Gaps []string
}

// World is the seeded demo: the deployments to observe and what scoring them must yield.
type World struct {
	Deployments []evidence.Deployment
	Expected    []Expected
}

// Seed pushes the demo images to the registry at host (e.g. "127.0.0.1:5000") with their
// evidence attached as OCI 1.1 referrers, signed by ss, and returns the demo world. Image
// digests depend only on the artifact names, so seeding twice yields the same digests.
func Seed(ctx context.Context, client *oci.Client, host string, ss *Sigstore) (*World, error) {
	w := &World{}
	now := time.Now().UTC().Truncate(time.Second)
	for _, sp := range specs {
		repo := host + "/" + Org + "/" + sp.name
		img, err := image(sp.name)
		if err != nil {
			return nil, err
		}
		ref, err := client.PushImage(ctx, repo, "v1", img)
		if err != nil {
			return nil, err
		}
		if err := attachEvidence(ctx, client, ss, sp, ref); err != nil {
			return nil, fmt.Errorf("seeding %s: %w", sp.name, err)
		}
		for _, env := range sp.envs {
			w.Deployments = append(w.Deployments, evidence.Deployment{
				Image: ref, Environment: env, Cluster: env + "-eu-1", Namespace: sp.team, Workload: sp.name,
				Org: Org, Team: sp.team, ObservedAt: now,
			})
			w.Expected = append(w.Expected, Expected{Image: ref, Environment: env, Level: sp.level, VerifiedProvenance: sp.verifies(), Gaps: sp.gaps[env]})
		}
	}
	return w, nil
}

// image builds a small deterministic OCI image for name.
func image(name string) (v1.Image, error) {
	layer := static.NewLayer([]byte("demo application "+name+"\n"), types.OCILayer)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("building image %s: %w", name, err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return img, nil
}

func repoURL(name string) string { return "https://github.com/" + Org + "/" + name }

func commitOf(name string) string {
	h := sha256.Sum256([]byte("commit " + name))
	return hex.EncodeToString(h[:20])
}

const generatorWorkflow = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"
const attestWorkflow = "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@refs/heads/main"

// identity returns the keyless identity the builder signs with.
func identity(sp spec) Identity {
	own := repoURL(sp.name) + "/.github/workflows/release.yml@refs/heads/main"
	id := Identity{
		SAN: own, Issuer: Issuer, SourceRepository: repoURL(sp.name), SourceRef: "refs/heads/main",
		SourceDigest: commitOf(sp.name), BuildSignerURI: own, BuildConfigURI: own, RunnerEnvironment: "github-hosted",
	}
	switch sp.builder {
	case slsaGenerator:
		id.SAN, id.BuildSignerURI = generatorWorkflow, generatorWorkflow
	case ghReusable:
		id.SAN, id.BuildSignerURI = attestWorkflow, attestWorkflow
	case ghSelfHosted:
		id.RunnerEnvironment = "self-hosted"
	case jenkins:
		id = Identity{SAN: "https://jenkins.acme.internal/job/" + sp.name, Issuer: "https://jenkins.acme.internal/oidc"}
	}
	if sp.noCommit {
		id.SourceDigest = ""
	}
	if sp.signing == wrongID {
		id.SAN, id.BuildSignerURI = own, own
	}
	return id
}

func builderID(b builder) (id, buildType string) {
	switch b {
	case slsaGenerator:
		return generatorWorkflow, "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
	case ghReusable, ghSame, ghSelfHosted:
		return "https://github.com/actions/runner/github-hosted", "https://actions.github.io/buildtypes/workflow/v1"
	case tekton:
		return "https://tekton.dev/chains/v2", "https://tekton.dev/chains/v2/slsa"
	default:
		return "https://jenkins.acme.internal", "https://jenkins.acme.internal/buildtypes/pipeline/v1"
	}
}

// provenanceStatement is a SLSA v1 provenance statement (v0.2 for the unsigned case, to
// exercise both parsers) about subject.
func provenanceStatement(sp spec, subject evidence.Digest) ([]byte, error) {
	bid, btype := builderID(sp.builder)
	dep := map[string]any{"uri": "git+" + repoURL(sp.name) + "@refs/heads/main"}
	if !sp.noCommit {
		dep["digest"] = map[string]string{"gitCommit": commitOf(sp.name)}
	}
	subj := []map[string]any{{"name": "ghcr.io/" + Org + "/" + sp.name, "digest": map[string]string{"sha256": subject.Hex()}}}
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subj,
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType": btype,
				"externalParameters": map[string]any{
					"workflow": map[string]any{"ref": "refs/heads/main", "repository": repoURL(sp.name), "path": ".github/workflows/release.yml"},
				},
				"resolvedDependencies": []any{dep},
			},
			"runDetails": map[string]any{
				"builder":  map[string]any{"id": bid},
				"metadata": map[string]any{"invocationId": repoURL(sp.name) + "/actions/runs/1"},
			},
		},
	}
	if sp.signing == unsigned {
		st["_type"] = "https://in-toto.io/Statement/v0.1"
		st["predicateType"] = "https://slsa.dev/provenance/v0.2"
		cs := map[string]any{"uri": "git+" + repoURL(sp.name) + "@refs/heads/main", "entryPoint": ".github/workflows/release.yml"}
		if !sp.noCommit {
			cs["digest"] = map[string]string{"sha1": commitOf(sp.name)}
		}
		st["predicate"] = map[string]any{
			"builder":    map[string]any{"id": bid},
			"buildType":  btype,
			"invocation": map[string]any{"configSource": cs},
		}
	}
	return json.Marshal(st)
}

// Component is a component the demo's SBOMs list.
type Component struct{ Type, Name, Version, PURL string }

// components returns what sp's SBOM lists.
func (sp spec) components() []Component {
	openssl := "3.0.15"
	if sp.oldOpenSSL {
		openssl = "3.0.2"
	}
	return []Component{
		{"library", "golang.org/x/net", "v0.33.0", "pkg:golang/golang.org/x/net@v0.33.0"},
		{"library", "github.com/google/uuid", "v1.6.0", "pkg:golang/github.com/google/uuid@v1.6.0"},
		{"library", "openssl", openssl, "pkg:deb/debian/openssl@" + openssl},
	}
}

// ComponentPlaces returns in how many (artifact, environment) places a deployed artifact's SBOM
// lists the component with this name and, when not empty, version.
func ComponentPlaces(name, version string) int {
	n := 0
	for _, sp := range specs {
		if sp.sbom == sbomNone {
			continue
		}
		for _, c := range sp.components() {
			if c.Name == name && (version == "" || c.Version == version) {
				n += len(sp.envs)
			}
		}
	}
	return n
}

func sbomStatement(sp spec, subject evidence.Digest) (bom, statement []byte, err error) {
	name := sp.name
	var comps []any
	for _, c := range sp.components() {
		comps = append(comps, map[string]any{"type": c.Type, "name": c.Name, "version": c.Version, "purl": c.PURL})
	}
	bomDoc := map[string]any{
		"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
		"metadata":   map[string]any{"component": map[string]any{"type": "container", "name": name}},
		"components": comps,
	}
	if bom, err = json.Marshal(bomDoc); err != nil {
		return nil, nil, err
	}
	statement, err = json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": subject.Hex()}}},
		"predicateType": "https://cyclonedx.org/bom",
		"predicate":     bomDoc,
	})
	return bom, statement, err
}

func attachBundle(ctx context.Context, c *oci.Client, ref evidence.ImageRef, bundle []byte, predicateType string) error {
	_, err := c.Attach(ctx, ref, BundleMediaType, BundleMediaType, bundle, map[string]string{
		annPredicateType: predicateType, annContent: "dsse-envelope",
	})
	return err
}

func attachEvidence(ctx context.Context, c *oci.Client, ss *Sigstore, sp spec, ref evidence.ImageRef) error {
	if sp.signing != noProv {
		subject := ref.Digest
		if sp.otherDigest {
			h := sha256.Sum256([]byte("another build of " + sp.name))
			subject = evidence.Digest("sha256:" + hex.EncodeToString(h[:]))
		}
		st, err := provenanceStatement(sp, subject)
		if err != nil {
			return fmt.Errorf("building provenance: %w", err)
		}
		var bundle []byte
		switch sp.signing {
		case unsigned:
			if _, err := c.Attach(ctx, ref, mediaTypeInToto, mediaTypeInToto, st, nil); err != nil {
				return err
			}
		case keyed:
			bundle, err = ss.SignKeyed(ctx, st)
		case tampered:
			bundle, err = ss.SignKeyless(ctx, st, identity(sp))
			if err == nil {
				bundle, err = tamper(bundle)
			}
		default:
			bundle, err = ss.SignKeyless(ctx, st, identity(sp))
		}
		if err != nil {
			return fmt.Errorf("signing provenance: %w", err)
		}
		if bundle != nil {
			if err := attachBundle(ctx, c, ref, bundle, "https://slsa.dev/provenance/v1"); err != nil {
				return err
			}
		}
	}
	if sp.malformed {
		if err := attachBundle(ctx, c, ref, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":`), "https://slsa.dev/provenance/v1"); err != nil {
			return err
		}
	}
	if sp.allFormats {
		if err := otherFormats(ctx, c, ss, sp, ref); err != nil {
			return err
		}
	}
	switch sp.sbom {
	case sbomSigned:
		_, st, err := sbomStatement(sp, ref.Digest)
		if err != nil {
			return fmt.Errorf("building SBOM: %w", err)
		}
		bundle, err := ss.SignKeyless(ctx, st, identity(sp))
		if err != nil {
			return fmt.Errorf("signing SBOM: %w", err)
		}
		if err := attachBundle(ctx, c, ref, bundle, "https://cyclonedx.org/bom"); err != nil {
			return err
		}
	case sbomUnsigned:
		bom, _, err := sbomStatement(sp, ref.Digest)
		if err != nil {
			return fmt.Errorf("building SBOM: %w", err)
		}
		if _, err := c.Attach(ctx, ref, mediaTypeCDX, mediaTypeCDX, bom, nil); err != nil {
			return err
		}
	}
	return nil
}

// tamper changes one byte of a bundle's DSSE signature, so the signature no longer verifies
// while the statement stays readable.
func tamper(bundle []byte) ([]byte, error) {
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, err
	}
	env, _ := b["dsseEnvelope"].(map[string]any)
	sigs, _ := env["signatures"].([]any)
	if len(sigs) == 0 {
		return nil, fmt.Errorf("tamper: bundle has no DSSE signature")
	}
	sig, _ := sigs[0].(map[string]any)
	raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(sig["sig"]))
	if err != nil || len(raw) < 16 {
		return nil, fmt.Errorf("tamper: bad signature")
	}
	raw[len(raw)-8] ^= 0x01
	sig["sig"] = base64.StdEncoding.EncodeToString(raw)
	return json.Marshal(b)
}

// otherFormats attaches sp's evidence the other ways tools do: cosign's legacy tags (a keyless
// .att with the provenance, a key-signed .sig, an .sbom) and the referrers tag schema index
// that clients maintain for registries without the referrers API.
func otherFormats(ctx context.Context, c *oci.Client, ss *Sigstore, sp spec, ref evidence.ImageRef) error {
	st, err := provenanceStatement(sp, ref.Digest)
	if err != nil {
		return err
	}
	raw, err := ss.SignKeyless(ctx, st, identity(sp))
	if err != nil {
		return err
	}
	b, err := ParseBundle(raw)
	if err != nil {
		return err
	}
	att, err := cosign.AttestationLayer(b, ss.Chain())
	if err != nil {
		return fmt.Errorf("cosign attestation: %w", err)
	}
	if _, err := cosign.Push(ctx, c, ref, cosign.KindAttestation, []cosign.Layer{att}); err != nil {
		return err
	}
	payload, err := cosign.SimpleSigningPayload(ref)
	if err != nil {
		return err
	}
	sb, err := ss.SignMessageKeyed(payload)
	if err != nil {
		return err
	}
	sig, err := cosign.SignatureLayer(payload, sb, nil)
	if err != nil {
		return fmt.Errorf("cosign signature: %w", err)
	}
	if _, err := cosign.Push(ctx, c, ref, cosign.KindSignature, []cosign.Layer{sig}); err != nil {
		return err
	}
	bom, _, err := sbomStatement(sp, ref.Digest)
	if err != nil {
		return err
	}
	if _, err := cosign.Push(ctx, c, ref, cosign.KindSBOM, []cosign.Layer{cosign.SBOMLayer(cosign.CycloneDXJSONMediaType, bom)}); err != nil {
		return err
	}
	d, err := c.Attach(ctx, ref, mediaTypeCDX, mediaTypeCDX, bom, map[string]string{"org.opencontainers.image.description": "SBOM listed in the referrers tag schema too"})
	if err != nil {
		return err
	}
	return c.TagReferrer(ctx, ref, d)
}

// Coverage is what the coverage of the demo world must be once every deployment is scored:
// the number of artifacts, by their highest level, with verified provenance, and with gaps.
func Coverage() (total int, byLevel map[string]int, verified, withGaps int) {
	byLevel = map[string]int{"L0": 0, "L1": 0, "L2": 0, "L3": 0}
	for _, sp := range specs {
		total++
		byLevel[sp.level.String()]++
		if sp.verifies() {
			verified++
		}
		for _, g := range sp.gaps {
			if len(g) > 0 {
				withGaps++
				break
			}
		}
	}
	return total, byLevel, verified, withGaps
}

// OpenGaps is the number of gaps open once the demo is scored: one per gap code of each
// deployed artifact in each environment.
func OpenGaps() int {
	n := 0
	for _, sp := range specs {
		for _, g := range sp.gaps {
			n += len(g)
		}
	}
	return n
}

// Deployments is the number of deployments Seed returns.
func Deployments() int {
	n := 0
	for _, sp := range specs {
		n += len(sp.envs)
	}
	return n
}
