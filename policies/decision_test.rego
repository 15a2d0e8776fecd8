# Tests of the decision as a whole: environments, ordering, deduplication and explanation.
package aspm_test

import data.aspm

test_decision_has_every_field if {
	d := decide("prod", clean)
	object.keys(d) == {"level", "verified_provenance", "gaps", "risk", "explanation"}
}

# environments

test_prod_requires_l3_and_an_sbom if {
	d := decide("prod", [attested_provenance("sha256:a1", release_workflow)])
	codes(d) == {"level.below_required", "sbom.missing"}
	the_gap(d, "sbom.missing").severity == "medium"
}

test_staging_requires_l2 if {
	d := decide("staging", [attested_provenance("sha256:a1", release_workflow)])
	codes(d) == {"sbom.missing"}
	"level.below_required" in codes(decide("staging", [unsigned_provenance("sha256:a1")]))
}

test_dev_requires_l1 if {
	codes(decide("dev", [unsigned_provenance("sha256:a1"), signed_sbom])) == {"provenance.unsigned"}
}

test_unknown_environment_uses_the_default if {
	d := decide("qa", [unsigned_provenance("sha256:a1")])
	codes(d) == {"provenance.unsigned", "sbom.missing"}
	d.risk == 14 # (25 + 3) * 0.5
	d.explanation[count(d.explanation) - 1] == "environment qa is not configured; the default requires SLSA L1: met"
}

test_environment_falls_back_to_the_deployment if {
	inp := object.union(input_for("prod", []), {"environment": ""})
	d := aspm.decision with input as inp
	the_gap(d, "level.below_required").message == "prod requires SLSA L3; artifact is L0"
}

test_environment_without_any_name_is_default if {
	inp := json.remove(input_for("prod", []), ["environment", "deployment/environment"])
	d := aspm.decision with input as inp
	the_gap(d, "level.below_required").message == "default requires SLSA L1; artifact is L0"
}

# ordering and deduplication

test_gaps_are_sorted_by_code_then_message if {
	d := decide("prod", [
		object.union(unsigned_provenance("sha256:b2"), {"malformed": "zeta"}),
		object.union(unsigned_provenance("sha256:b1"), {"malformed": "alpha"}),
		object.union(signed_sbom, {"malformed": "beta"}),
	])
	keys := [[g.code, g.message] | some g in d.gaps]
	keys == sort(keys)
	[g.code | some g in d.gaps] == [
		"evidence.malformed", "evidence.malformed", "evidence.malformed",
		"level.below_required", "provenance.missing", "sbom.missing",
	]
	d.gaps[0].message < d.gaps[1].message
}

test_duplicate_evidence_yields_each_gap_once if {
	e := object.union(keyless_provenance("sha256:a1", "https://ci.example/builders/jenkins", {}), {"malformed": ""})
	bad := object.union(signed_sbom, {"malformed": "truncated"})
	d := decide("dev", [e, e, bad, bad])
	count(gaps_with(d, "builder.untrusted")) == 1
	count(gaps_with(d, "evidence.malformed")) == 1
	count(d.gaps) == count({[g.code, g.message] | some g in d.gaps})
}

# explanation

test_explanation_l3 if {
	d := decide("prod", clean)
	d.explanation == [
		sprintf("provenance sha256:a1 verified (keyless, %s, %s); builder %s trusted as slsa-github-generator up to L3: L3", [gha_issuer, generator_workflow, generator_workflow]),
		"level L3",
		"prod requires SLSA L3 and an SBOM: met",
	]
}

test_explanation_l0 if {
	stray := object.union(generator_provenance("sha256:a9"), {"subjects": [other_digest], "subject_match": false})
	bad := object.union(unsigned_provenance("sha256:a0"), {"malformed": "truncated"})
	decide("dev", [stray, bad]).explanation == [
		"evidence sha256:a0 (provenance) ignored: malformed: truncated",
		sprintf("provenance sha256:a9 ignored: it names %s, not %s", [other_digest, digest]),
		sprintf("no usable provenance names %s: L0", [artifact]),
		"level L0",
		"dev requires SLSA L1: not met",
	]
}

test_explanation_lists_each_provenance_in_id_order if {
	d := decide("staging", [
		key_provenance("sha256:a2", "https://tekton.dev/chains/v2", "tekton-chains", 1),
		object.union(generator_provenance("sha256:a3"), {"verification": {"verified": false, "error": "expired"}}),
		unsigned_provenance("sha256:a1"),
		attested_provenance("sha256:a4", attest_workflow),
		keyless_provenance("sha256:a5", generator_workflow, {"identity": generator_workflow, "runner_environment": "self-hosted"}),
		keyless_provenance("sha256:a6", "https://ci.example", {}),
		attested_provenance("sha256:a7", release_workflow),
		keyless_provenance("sha256:a8", generator_workflow, {}),
	])
	d.explanation == [
		"provenance sha256:a1 is unsigned: L1",
		"provenance sha256:a2 verified (key tekton-chains); builder https://tekton.dev/chains/v2 trusted as tekton-chains up to L2: L2",
		"provenance sha256:a3 is signed but did not verify (expired): L1",
		sprintf("provenance sha256:a4 verified (keyless, %s, %s); builder https://github.com/actions/runner/github-hosted trusted as github-artifact-attestations up to L3; signed by reusable workflow %s: L3", [gha_issuer, attest_workflow, attest_workflow]),
		sprintf("provenance sha256:a5 verified (keyless, %s, %s); builder %s trusted as slsa-github-generator up to L3; runner is self-hosted, not github-hosted, which caps it at L1: L1", [gha_issuer, generator_workflow, generator_workflow]),
		sprintf("provenance sha256:a6 verified (keyless, %s, %s); builder https://ci.example is not a trusted builder: L1", [gha_issuer, release_workflow]),
		sprintf("provenance sha256:a7 verified (keyless, %s, %s); builder https://github.com/actions/runner/github-hosted trusted as github-artifact-attestations up to L3; signed by %s, not by a listed reusable workflow isolated from the build, which caps it at L2: L2", [gha_issuer, release_workflow, release_workflow]),
		sprintf("provenance sha256:a8 verified (keyless, %s, %s); builder %s matches slsa-github-generator but the signer does not: L1", [gha_issuer, release_workflow, generator_workflow]),
		"level L3",
		"staging requires SLSA L2: met",
	]
}

# verified_provenance: a valid signature from the wrong signer is not verified provenance.

test_not_verified_provenance_when_the_signer_mismatches if {
	decide("dev", [keyless_provenance("sha256:a1", generator_workflow, {})]).verified_provenance == false
}

test_verified_provenance_from_an_unknown_builder if {
	decide("dev", [keyless_provenance("sha256:a1", "https://ci.example/builders/jenkins", {})]).verified_provenance == true
}

test_verified_provenance_when_another_document_is_from_the_right_signer if {
	d := decide("dev", [keyless_provenance("sha256:a1", generator_workflow, {}), attested_provenance("sha256:a2", release_workflow)])
	d.verified_provenance == true
	d.level == 2
}

test_not_verified_provenance_from_mismatched_rejected_or_invalid_signers if {
	rejected := {"signed": true, "verification": {"verified": false, "identity_mismatch": true, "error": "unexpected signer"}}
	invalid := {"verification": {"verified": false, "error": "bad"}}
	d := decide("dev", [
		keyless_provenance("sha256:a1", generator_workflow, {}),
		key_provenance("sha256:a2", "https://tekton.dev/chains/v2", "someone-elses-key", 1),
		object.union(generator_provenance("sha256:a3"), rejected),
		object.union(generator_provenance("sha256:a4"), invalid),
		unsigned_provenance("sha256:a5"),
	])
	d.verified_provenance == false
	d.level == 1
}

test_gaps_from_two_rules_with_the_same_code_and_message_are_kept_once if {
	extra := {
		{"code": "provenance.missing", "severity": "low", "message": sprintf("no provenance was found for %s", [artifact])},
		{"code": "provenance.missing", "severity": "low", "message": "another finding"},
	}
	d := decide("dev", []) with data.aspm.gaps.zz_extra as extra
	gaps_with(d, "provenance.missing") == [
		{"code": "provenance.missing", "severity": "low", "message": "another finding", "rule": "aspm.gaps.zz_extra"},
		{"code": "provenance.missing", "severity": "high", "message": sprintf("no provenance was found for %s", [artifact]), "rule": "aspm.gaps.provenance_missing"},
	]
}
