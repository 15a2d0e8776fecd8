# Tests of the SLSA build level: every boundary between L0 and L3.
package aspm_test

import data.aspm

test_l0_without_evidence if {
	d := decide("dev", [])
	d.level == 0
	d.verified_provenance == false
	"provenance.missing" in codes(d)
}

test_l0_when_evidence_is_null if {
	d := aspm.decision with input as object.union(input_for("dev", []), {"evidence": null})
	d.level == 0
	"provenance.missing" in codes(d)
}

test_l0_when_provenance_is_for_another_digest if {
	e := object.union(generator_provenance("sha256:a1"), {"subjects": [other_digest], "subject_match": false})
	d := decide("dev", [e])
	d.level == 0
	d.verified_provenance == false
}

test_l0_when_provenance_is_malformed if {
	e := object.union(generator_provenance("sha256:a1"), {"malformed": "predicate: unexpected end of JSON input"})
	d := decide("dev", [e])
	d.level == 0
	"provenance.missing" in codes(d)
}

test_l1_unsigned if {
	d := decide("dev", [unsigned_provenance("sha256:a1")])
	d.level == 1
	d.verified_provenance == false
}

test_l1_signature_did_not_verify if {
	e := object.union(generator_provenance("sha256:a1"), {"verification": {"verified": false, "error": "certificate chain: x509: unknown authority"}})
	d := decide("dev", [e])
	d.level == 1
	d.verified_provenance == false
}

test_l3_slsa_github_generator if {
	d := decide("prod", clean)
	d.level == 3
	d.verified_provenance == true
}

test_l1_slsa_github_generator_on_self_hosted_runner if {
	e := keyless_provenance("sha256:a1", generator_workflow, {
		"identity": generator_workflow,
		"runner_environment": "self-hosted",
	})
	d := decide("dev", [e])
	d.level == 1
	d.verified_provenance == true
}

test_l1_when_runner_environment_is_unknown if {
	e := json.remove(generator_provenance("sha256:a1"), ["verification/signer/runner_environment"])
	decide("dev", [e]).level == 1
}

test_l2_github_attestations_from_the_calling_workflow if {
	d := decide("dev", [attested_provenance("sha256:a1", release_workflow)])
	d.level == 2
	d.verified_provenance == true
}

test_l3_github_attestations_from_a_listed_reusable_workflow if {
	decide("dev", [attested_provenance("sha256:a1", attest_workflow)]).level == 3
}

test_l2_github_attestations_from_an_unlisted_reusable_workflow if {
	other := "https://github.com/acme/workflows/.github/workflows/attest.yml@refs/heads/main"
	decide("dev", [attested_provenance("sha256:a1", other)]).level == 2
}

test_l2_when_the_reusable_workflow_is_the_calling_workflow if {
	e := keyless_provenance("sha256:a1", "https://github.com/actions/runner/github-hosted", {
		"identity": attest_workflow,
		"build_signer_uri": attest_workflow,
		"build_config_uri": attest_workflow,
	})
	decide("dev", [e]).level == 2
}

test_l3_from_a_reusable_workflow_the_user_listed if {
	ours := "https://github.com/acme/workflows/.github/workflows/attest.yml@refs/tags/v1"
	builders := [b |
		some b0 in data.aspm.trusted_builders
		b := object.union(b0, {"l3_reusable_workflows": array.concat(
			object.get(b0, "l3_reusable_workflows", []),
			["^https://github\\.com/acme/workflows/\\.github/workflows/attest\\.yml@refs/tags/v[0-9]+$"],
		)})
	]
	d := decide("dev", [attested_provenance("sha256:a1", ours)]) with data.aspm.trusted_builders as builders
	d.level == 3
}

test_l1_github_attestations_on_self_hosted_runner if {
	e := keyless_provenance("sha256:a1", "https://github.com/actions/runner/github-hosted", {
		"identity": attest_workflow,
		"build_signer_uri": attest_workflow,
		"runner_environment": "self-hosted",
	})
	decide("dev", [e]).level == 1
}

test_l2_npm_provenance_with_bare_runner_builder_id if {
	# Only the npm entry accepts the bare builder id; it earns at most L2 even from a
	# reusable workflow.
	e := keyless_provenance("sha256:a1", "https://github.com/actions/runner", {
		"identity": attest_workflow,
		"build_signer_uri": attest_workflow,
	})
	decide("dev", [e]).level == 2
}

test_l2_tekton_chains_key if {
	d := decide("dev", [key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 1)])
	d.level == 2
	d.verified_provenance == true
}

test_l3_google_cloud_build_key if {
	e := key_provenance("sha256:a1", "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3", "gcb-us-west2", 1)
	decide("dev", [e]).level == 3
}

test_l1_tekton_chains_with_the_wrong_key if {
	d := decide("dev", [key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "someone-elses-key", 1)])
	d.level == 1
	d.verified_provenance == false
}

test_l1_key_builder_signed_keyless if {
	e := keyless_provenance("sha256:a1", "https://tekton.dev/chains/v2", {"identity": "tekton-chains"})
	decide("dev", [e]).level == 1
}

test_l1_generator_builder_id_signed_by_another_identity if {
	# Anyone can write the generator's builder id; the signer must be the generator.
	e := keyless_provenance("sha256:a1", generator_workflow, {})
	d := decide("dev", [e])
	d.level == 1
	d.verified_provenance == false
}

test_l1_right_identity_wrong_issuer if {
	e := keyless_provenance("sha256:a1", generator_workflow, {
		"identity": generator_workflow,
		"issuer": "https://accounts.example",
	})
	decide("dev", [e]).level == 1
}

test_l1_unknown_builder if {
	e := keyless_provenance("sha256:a1", "https://ci.example/builders/jenkins", {})
	d := decide("dev", [e])
	d.level == 1
	d.verified_provenance == true
}

test_level_is_the_highest_earned if {
	d := decide("dev", [
		unsigned_provenance("sha256:a0"),
		attested_provenance("sha256:a1", release_workflow),
		generator_provenance("sha256:a2"),
	])
	d.level == 3
}

test_level_is_capped_at_3 if {
	builders := [object.union(b, {"max_level": 4}) | some b in data.aspm.trusted_builders]
	e := key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 1)
	decide("dev", [e]).level == 3 with data.aspm.trusted_builders as builders
}

test_builder_listed_at_l1_earns_l1 if {
	builders := [object.union(b, {"max_level": 1}) | some b in data.aspm.trusted_builders]
	e := key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 1)
	decide("dev", [e]).level == 1 with data.aspm.trusted_builders as builders
}

test_evidence_order_does_not_change_the_decision if {
	evidence := [
		unsigned_provenance("sha256:a0"),
		object.union(unsigned_provenance("sha256:a3"), {"malformed": "bad"}),
		attested_provenance("sha256:a1", release_workflow),
		key_provenance("sha256:a2", "https://tekton.dev/chains/v2", "other", 0),
	]
	reversed := [evidence[i] | some j in numbers.range(1, count(evidence)); i := count(evidence) - j]
	decide("prod", evidence) == decide("prod", reversed)
}

# publish-to-bcr: GitHub artifact attestations for Bazel Central Registry modules, made and
# signed by the bazel-contrib/publish-to-bcr reusable workflow.

bcr_workflow := "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"

test_l3_publish_to_bcr if {
	e := keyless_provenance("sha256:a1", bcr_workflow, {"identity": bcr_workflow, "build_signer_uri": bcr_workflow})
	d := decide("dev", [e])
	d.level == 3
	d.verified_provenance == true
}

test_l1_publish_to_bcr_signed_by_another_workflow if {
	# slsa-verifier's MODULE-wrong-signer case: the provenance claims publish-to-bcr, but an
	# attacker's workflow signed it.
	attacker := "https://github.com/loosebazooka/aa-test/.github/workflows/malicious_attestation.yaml@refs/heads/main"
	e := keyless_provenance("sha256:a1", bcr_workflow, {"identity": attacker, "build_signer_uri": attacker})
	d := decide("dev", [e])
	d.level == 1
	d.verified_provenance == false
	"signer.identity_mismatch" in codes(d)
}

test_l1_publish_to_bcr_from_a_branch if {
	branch := "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/heads/main"
	e := keyless_provenance("sha256:a1", branch, {"identity": branch, "build_signer_uri": branch})
	d := decide("dev", [e])
	d.level == 1
	"builder.untrusted" in codes(d)
}

test_l1_publish_to_bcr_on_self_hosted_runner if {
	e := keyless_provenance("sha256:a1", bcr_workflow, {"identity": bcr_workflow, "runner_environment": "self-hosted"})
	decide("dev", [e]).level == 1
}
