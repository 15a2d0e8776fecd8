# Fixtures shared by the tests: an artifact, evidence builders and decision helpers.
package aspm_test

import data.aspm

digest := "sha256:1111111111111111111111111111111111111111111111111111111111111111"

other_digest := "sha256:2222222222222222222222222222222222222222222222222222222222222222"

artifact := concat("@", ["registry.example/acme/payments", digest])

gha_issuer := "https://token.actions.githubusercontent.com"

generator_workflow := "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"

attest_workflow := "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@refs/heads/main"

release_workflow := "https://github.com/acme/checkout/.github/workflows/release.yml@refs/heads/main"

source_repo := "https://github.com/acme/payments"

source_commit := "0123456789abcdef0123456789abcdef01234567"

# input_for is the policy input for the artifact deployed in env with the given evidence.
input_for(env, evidence) := {
	"artifact": {"repository": "registry.example/acme/payments", "digest": digest},
	"environment": env,
	"deployment": {
		"image": {"repository": "registry.example/acme/payments", "digest": digest},
		"environment": env,
		"org": "acme",
		"observed_at": "2025-01-01T00:00:00Z",
	},
	"evidence": evidence,
}

# decide is the decision for the artifact in env with the given evidence.
decide(env, evidence) := d if {
	d := aspm.decision with input as input_for(env, evidence)
}

codes(d) := {g.code | some g in d.gaps}

# gaps_with returns the gaps of d with the given code.
gaps_with(d, code) := [g | some g in d.gaps; g.code == code]

# the_gap returns d's only gap with code; undefined unless there is exactly one.
the_gap(d, code) := gs[0] if {
	gs := gaps_with(d, code)
	count(gs) == 1
}

# evidence_doc is a parsed document of kind for the artifact, unsigned, with overrides merged in.
evidence_doc(id, kind, overrides) := object.union(
	{
		"id": id,
		"kind": kind,
		"source": "oci-referrers",
		"subjects": [digest],
		"subject_match": true,
		"signed": false,
		"verification": {"verified": false, "tlog_entries": 0, "timestamps": 0},
	},
	overrides,
)

# unsigned_provenance is provenance for the artifact that carries no signature.
unsigned_provenance(id) := evidence_doc(id, "provenance", {"provenance": {
	"builder_id": generator_workflow,
	"source_repository": source_repo,
	"source_digest": source_commit,
}})

# keyless_provenance is verified keyless provenance built by builder_id and signed by signer
# (merged over a GitHub-hosted signer from the release workflow).
keyless_provenance(id, builder_id, signer) := evidence_doc(id, "provenance", {
	"signed": true,
	"verification": {
		"verified": true,
		"tlog_entries": 1,
		"signer": object.union(
			{
				"type": "keyless",
				"issuer": gha_issuer,
				"identity": release_workflow,
				"source_repository": source_repo,
				"source_digest": source_commit,
				"build_signer_uri": release_workflow,
				"build_config_uri": release_workflow,
				"runner_environment": "github-hosted",
			},
			signer,
		),
	},
	"provenance": {
		"builder_id": builder_id,
		"source_repository": "git+https://github.com/acme/payments@refs/heads/main",
		"source_digest": concat(":", ["sha1", source_commit]),
	},
})

# key_provenance is verified provenance built by builder_id and signed with the named key.
key_provenance(id, builder_id, key, tlog_entries) := evidence_doc(id, "provenance", {
	"signed": true,
	"verification": {
		"verified": true,
		"tlog_entries": tlog_entries,
		"signer": {"type": "key", "identity": key},
	},
	"provenance": {
		"builder_id": builder_id,
		"source_repository": source_repo,
		"source_digest": concat(":", ["sha1", source_commit]),
	},
})

# generator_provenance is L3 provenance from slsa-github-generator.
generator_provenance(id) := keyless_provenance(id, generator_workflow, {
	"identity": generator_workflow,
	"build_signer_uri": generator_workflow,
})

# attested_provenance is GitHub artifact attestation provenance, signed by signer_uri.
attested_provenance(id, signer_uri) := keyless_provenance(
	id,
	"https://github.com/actions/runner/github-hosted",
	{"identity": signer_uri, "build_signer_uri": signer_uri},
)

# signed_sbom is a verified SBOM for the artifact.
signed_sbom := evidence_doc("sha256:5b0a", "sbom", {
	"signed": true,
	"verification": {"verified": true, "tlog_entries": 1},
	"sbom": {"format": "cyclonedx", "components": 42},
})

# clean is evidence with which the artifact has no gap in any environment.
clean := [generator_provenance("sha256:a1"), signed_sbom]
