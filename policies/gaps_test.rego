# Tests of every gap code, present and absent.
package aspm_test

test_clean_artifact_has_no_gaps if {
	d := decide("prod", clean)
	d.gaps == []
	d.risk == 0
}

# provenance.missing

test_provenance_missing_without_provenance if {
	g := the_gap(decide("dev", [signed_sbom]), "provenance.missing")
	g.severity == "high"
	g.rule == "aspm.gaps.provenance_missing"
	g.message == sprintf("no provenance was found for %s", [artifact])
}

test_provenance_missing_when_none_names_the_artifact if {
	e := object.union(generator_provenance("sha256:a1"), {"subjects": [other_digest], "subject_match": false})
	g := the_gap(decide("dev", [e]), "provenance.missing")
	contains(g.message, "none of the 1 provenance document(s)")
}

test_provenance_missing_absent_with_provenance if {
	not "provenance.missing" in codes(decide("dev", [unsigned_provenance("sha256:a1")]))
}

# subject.mismatch

test_subject_mismatch_names_the_subjects if {
	e := object.union(generator_provenance("sha256:a1"), {"subjects": [other_digest], "subject_match": false})
	g := the_gap(decide("dev", [e]), "subject.mismatch")
	g.severity == "high"
	g.message == sprintf("provenance sha256:a1 names %s, not the artifact digest %s", [other_digest, digest])
}

test_subject_mismatch_absent_when_other_provenance_matches if {
	stray := object.union(generator_provenance("sha256:a9"), {"subjects": [other_digest], "subject_match": false})
	d := decide("dev", [stray, generator_provenance("sha256:a1")])
	not "subject.mismatch" in codes(d)
	d.level == 3
}

test_subject_mismatch_absent_without_provenance if {
	not "subject.mismatch" in codes(decide("dev", []))
}

# provenance.unsigned

test_provenance_unsigned if {
	g := the_gap(decide("dev", [unsigned_provenance("sha256:a1"), unsigned_provenance("sha256:a2")]), "provenance.unsigned")
	g.severity == "high"
	g.message == sprintf("none of the 2 provenance document(s) for %s is signed", [artifact])
}

test_provenance_unsigned_absent_when_one_is_signed if {
	e := object.union(generator_provenance("sha256:a2"), {"verification": {"verified": false}})
	not "provenance.unsigned" in codes(decide("dev", [unsigned_provenance("sha256:a1"), e]))
}

test_provenance_unsigned_absent_without_provenance if {
	not "provenance.unsigned" in codes(decide("dev", []))
}

# signature.invalid

test_signature_invalid_includes_the_error if {
	e := object.union(generator_provenance("sha256:a1"), {"verification": {"verified": false, "error": "tlog: inclusion proof does not verify"}})
	g := the_gap(decide("dev", [e]), "signature.invalid")
	g.severity == "critical"
	g.message == "the signature on provenance sha256:a1 did not verify: tlog: inclusion proof does not verify"
}

test_signature_invalid_one_per_document if {
	invalid := {"verification": {"verified": false, "error": "bad"}}
	evidence := [
		object.union(generator_provenance("sha256:a1"), invalid),
		object.union(generator_provenance("sha256:a2"), invalid),
	]
	count(gaps_with(decide("dev", evidence), "signature.invalid")) == 2
}

test_signature_invalid_absent_when_unsigned_or_verified if {
	not "signature.invalid" in codes(decide("dev", [unsigned_provenance("sha256:a1")]))
	not "signature.invalid" in codes(decide("dev", clean))
}

# signer.identity_mismatch

test_signer_identity_mismatch_names_expected_and_actual if {
	e := keyless_provenance("sha256:a1", generator_workflow, {})
	g := the_gap(decide("dev", [e]), "signer.identity_mismatch")
	g.severity == "critical"
	contains(g.message, sprintf("is signed by keyless identity %s issued by %s", [release_workflow, gha_issuer]))
	contains(g.message, "expected slsa-github-generator signing as keyless identity matching ^https://github\\.com/slsa-framework/")
}

test_signer_identity_mismatch_wrong_key_name if {
	e := key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "someone-elses-key", 1)
	g := the_gap(decide("dev", [e]), "signer.identity_mismatch")
	g.message == "provenance sha256:a1 claims builder https://tekton.dev/chains/v2 but is signed by key someone-elses-key; expected tekton-chains signing as key tekton-chains"
}

test_signer_identity_mismatch_lists_every_matching_builder if {
	e := keyless_provenance("sha256:a1", "https://github.com/actions/runner/github-hosted", {"issuer": "https://accounts.example"})
	g := the_gap(decide("dev", [e]), "signer.identity_mismatch")
	contains(g.message, "expected github-artifact-attestations signing as")
	contains(g.message, " or npm-github-actions signing as")
}

test_signer_identity_mismatch_absent_when_signer_matches if {
	not "signer.identity_mismatch" in codes(decide("dev", clean))
}

test_signer_identity_mismatch_absent_for_unknown_builders if {
	e := keyless_provenance("sha256:a1", "https://ci.example/builders/jenkins", {})
	not "signer.identity_mismatch" in codes(decide("dev", [e]))
}

# tlog.missing

test_tlog_missing_for_key_signed_l2 if {
	e := key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 0)
	d := decide("dev", [e])
	d.level == 2
	g := the_gap(d, "tlog.missing")
	g.severity == "low"
	g.message == "provenance sha256:a1 (signed by key tekton-chains) verified without a transparency log entry"
}

test_tlog_missing_absent_with_an_entry if {
	e := key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 1)
	not "tlog.missing" in codes(decide("dev", [e]))
}

test_tlog_missing_absent_below_l2 if {
	e := key_provenance("sha256:a1", "https://ci.example/builders/jenkins", "jenkins", 0)
	d := decide("dev", [e])
	d.level == 1
	not "tlog.missing" in codes(d)
}

# builder.untrusted

test_builder_untrusted_names_the_builder if {
	e := keyless_provenance("sha256:a1", "https://ci.example/builders/jenkins", {})
	g := the_gap(decide("dev", [e]), "builder.untrusted")
	g.severity == "medium"
	g.message == "provenance sha256:a1 names builder https://ci.example/builders/jenkins, which is not in trusted_builders"
}

test_builder_untrusted_without_builder_id if {
	e := json.remove(generator_provenance("sha256:a1"), ["provenance/builder_id"])
	g := the_gap(decide("dev", [e]), "builder.untrusted")
	g.message == "provenance sha256:a1 names builder (none), which is not in trusted_builders"
}

test_builder_untrusted_absent_for_trusted_builders if {
	not "builder.untrusted" in codes(decide("dev", clean))
}

test_builder_untrusted_absent_for_unverified_provenance if {
	not "builder.untrusted" in codes(decide("dev", [object.union(unsigned_provenance("sha256:a1"), {"provenance": {"builder_id": "https://ci.example"}})]))
}

# builder.self_hosted_runner

test_builder_self_hosted_runner if {
	e := keyless_provenance("sha256:a1", generator_workflow, {"identity": generator_workflow, "runner_environment": "self-hosted"})
	g := the_gap(decide("dev", [e]), "builder.self_hosted_runner")
	g.severity == "medium"
	g.message == sprintf("provenance sha256:a1 was built by %s on a self-hosted runner; slsa-github-generator earns more than L1 only on a github-hosted runner", [generator_workflow])
}

test_builder_self_hosted_runner_once_for_overlapping_builders if {
	e := keyless_provenance("sha256:a1", "https://github.com/actions/runner/github-hosted", {"runner_environment": "self-hosted"})
	count(gaps_with(decide("dev", [e]), "builder.self_hosted_runner")) == 1
}

test_builder_self_hosted_runner_absent_on_hosted_runners if {
	not "builder.self_hosted_runner" in codes(decide("dev", clean))
}

test_builder_self_hosted_runner_absent_for_builders_without_the_requirement if {
	e := object.union(key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 1), {"verification": {"signer": {"runner_environment": "self-hosted"}}})
	d := decide("dev", [e])
	d.level == 2
	not "builder.self_hosted_runner" in codes(d)
}

# source.not_allowed

test_source_not_allowed if {
	d := decide("dev", clean) with data.aspm.allowed_sources as ["^https://github\\.com/other-org/"]
	g := the_gap(d, "source.not_allowed")
	g.severity == "high"
	g.message == "provenance sha256:a1 was built from git+https://github.com/acme/payments@refs/heads/main, which matches none of allowed_sources"
}

test_source_not_allowed_absent_when_allowed if {
	d := decide("dev", clean) with data.aspm.allowed_sources as ["^https://github\\.com/other-org/", "^git\\+https://github\\.com/acme/"]
	not "source.not_allowed" in codes(d)
}

test_source_not_allowed_absent_when_the_list_is_empty if {
	d := decide("dev", clean) with data.aspm.allowed_sources as []
	not "source.not_allowed" in codes(d)
}

test_source_not_allowed_falls_back_to_the_certificate if {
	e := json.remove(generator_provenance("sha256:a1"), ["provenance/source_repository"])
	d := decide("dev", [e]) with data.aspm.allowed_sources as ["^https://github\\.com/acme/"]
	not "source.not_allowed" in codes(d)
	d2 := decide("dev", [e]) with data.aspm.allowed_sources as ["^https://github\\.com/other-org/"]
	contains(the_gap(d2, "source.not_allowed").message, "built from https://github.com/acme/payments,")
}

test_source_not_allowed_without_any_source if {
	e := json.remove(generator_provenance("sha256:a1"), ["provenance/source_repository", "verification/signer/source_repository"])
	d := decide("dev", [e]) with data.aspm.allowed_sources as [".*"]
	contains(the_gap(d, "source.not_allowed").message, "an unnamed source repository")
}

test_source_not_allowed_absent_for_unverified_provenance if {
	d := decide("dev", [unsigned_provenance("sha256:a1")]) with data.aspm.allowed_sources as ["^https://github\\.com/other-org/"]
	not "source.not_allowed" in codes(d)
}

# source.unpinned

test_source_unpinned if {
	e := json.remove(generator_provenance("sha256:a1"), ["provenance/source_digest", "verification/signer/source_digest"])
	g := the_gap(decide("dev", [e]), "source.unpinned")
	g.severity == "low"
	g.message == "provenance sha256:a1 records no source revision digest for git+https://github.com/acme/payments@refs/heads/main"
}

test_source_unpinned_absent_with_a_certificate_digest if {
	e := json.remove(generator_provenance("sha256:a1"), ["provenance/source_digest"])
	not "source.unpinned" in codes(decide("dev", [e]))
}

test_source_unpinned_absent_with_a_provenance_digest if {
	e := json.remove(generator_provenance("sha256:a1"), ["verification/signer/source_digest"])
	not "source.unpinned" in codes(decide("dev", [e]))
}

test_source_unpinned_absent_for_unverified_provenance if {
	e := json.remove(unsigned_provenance("sha256:a1"), ["provenance/source_digest"])
	not "source.unpinned" in codes(decide("dev", [e]))
}

# sbom.missing

test_sbom_missing_where_required if {
	g := the_gap(decide("prod", [generator_provenance("sha256:a1")]), "sbom.missing")
	g.severity == "medium"
	g.message == sprintf("no SBOM names %s; prod requires one", [artifact])
}

test_sbom_missing_is_low_where_not_required if {
	g := the_gap(decide("staging", [generator_provenance("sha256:a1")]), "sbom.missing")
	g.severity == "low"
	g.message == sprintf("no SBOM names %s", [artifact])
}

test_sbom_missing_when_the_sbom_is_for_another_digest if {
	sbom := object.union(signed_sbom, {"subjects": [other_digest], "subject_match": false})
	"sbom.missing" in codes(decide("dev", [generator_provenance("sha256:a1"), sbom]))
}

test_sbom_missing_when_the_sbom_is_malformed if {
	sbom := object.union(signed_sbom, {"malformed": "not CycloneDX"})
	"sbom.missing" in codes(decide("dev", [generator_provenance("sha256:a1"), sbom]))
}

test_sbom_missing_absent_with_an_sbom if {
	not "sbom.missing" in codes(decide("prod", clean))
}

# sbom.unsigned

test_sbom_unsigned if {
	sbom := evidence_doc("sha256:5b0b", "sbom", {"sbom": {"format": "spdx", "components": 3}})
	d := decide("prod", [generator_provenance("sha256:a1"), sbom])
	g := the_gap(d, "sbom.unsigned")
	g.severity == "low"
	g.message == sprintf("none of the 1 SBOM(s) for %s has a verified signature", [artifact])
	not "sbom.missing" in codes(d)
}

test_sbom_unsigned_absent_when_one_is_verified if {
	unsigned := evidence_doc("sha256:5b0b", "sbom", {})
	not "sbom.unsigned" in codes(decide("prod", array.concat(clean, [unsigned])))
}

test_sbom_unsigned_absent_without_sboms if {
	not "sbom.unsigned" in codes(decide("prod", [generator_provenance("sha256:a1")]))
}

# evidence.malformed

test_evidence_malformed_one_per_document if {
	bad_sbom := object.union(signed_sbom, {"malformed": "spdx: unknown version SPDX-9.9"})
	bad_doc := {"id": "sha256:c3", "kind": "unknown", "source": "cosign-tag", "subject_match": false, "signed": false, "verification": {"verified": false, "tlog_entries": 0}, "malformed": "not JSON"}
	d := decide("dev", [generator_provenance("sha256:a1"), bad_sbom, bad_doc])
	gaps_with(d, "evidence.malformed") == [
		{"code": "evidence.malformed", "severity": "medium", "rule": "aspm.gaps.evidence_malformed", "message": "evidence sha256:5b0a (sbom from oci-referrers) could not be parsed: spdx: unknown version SPDX-9.9"},
		{"code": "evidence.malformed", "severity": "medium", "rule": "aspm.gaps.evidence_malformed", "message": "evidence sha256:c3 (unknown from cosign-tag) could not be parsed: not JSON"},
	]
}

test_evidence_malformed_absent if {
	not "evidence.malformed" in codes(decide("dev", clean))
}

# level.below_required

test_level_below_required_in_prod if {
	g := the_gap(decide("prod", [unsigned_provenance("sha256:a1"), signed_sbom]), "level.below_required")
	g.severity == "high"
	g.message == "prod requires SLSA L3; artifact is L1"
}

test_level_below_required_in_staging if {
	e := key_provenance("sha256:a1", "https://ci.example/builders/jenkins", "jenkins", 1)
	the_gap(decide("staging", [e]), "level.below_required").message == "staging requires SLSA L2; artifact is L1"
}

test_level_below_required_absent_when_met if {
	not "level.below_required" in codes(decide("prod", clean))
	not "level.below_required" in codes(decide("staging", [attested_provenance("sha256:a1", release_workflow)]))
	not "level.below_required" in codes(decide("dev", [unsigned_provenance("sha256:a1")]))
}

test_level_below_required_in_dev_only_at_l0 if {
	the_gap(decide("dev", []), "level.below_required").message == "dev requires SLSA L1; artifact is L0"
}

test_level_below_required_uses_the_default_for_unknown_environments if {
	the_gap(decide("qa", []), "level.below_required").message == "qa requires SLSA L1; artifact is L0"
	not "level.below_required" in codes(decide("qa", [unsigned_provenance("sha256:a1")]))
}

# every code the rules emit is in the catalogue, with its severity

test_emitted_gaps_use_the_catalogue if {
	decisions := [
		decide("prod", []),
		decide("prod", [object.union(generator_provenance("sha256:a1"), {"subjects": [other_digest], "subject_match": false})]),
		decide("prod", [unsigned_provenance("sha256:a1"), evidence_doc("sha256:5b0b", "sbom", {})]),
		decide("prod", [keyless_provenance("sha256:a1", generator_workflow, {})]),
		decide("dev", [key_provenance("sha256:a1", "https://tekton.dev/chains/v2", "tekton-chains", 0)]),
		decide("dev", [keyless_provenance("sha256:a1", "https://ci.example", {"source_digest": "", "runner_environment": "self-hosted"})]),
		decide("dev", [keyless_provenance("sha256:a1", generator_workflow, {"identity": generator_workflow, "runner_environment": "self-hosted"})]),
		decide("dev", [object.union(generator_provenance("sha256:a1"), {"verification": {"verified": false, "error": "bad"}, "malformed": ""}), object.union(signed_sbom, {"malformed": "bad"})]),
	]
	emitted := {g | some d in decisions; some g in d.gaps}
	count(emitted) >= 10
	every g in emitted {
		data.aspm.gap_catalogue[g.code]
		g.rule == concat(".", ["aspm.gaps", replace(g.code, ".", "_")])
		catalogue_severity(g)
	}
}

catalogue_severity(g) if g.severity == data.aspm.gap_catalogue[g.code].severity

# sbom.missing is low where the environment does not require an SBOM.
catalogue_severity(g) if {
	g.code == "sbom.missing"
	g.severity == "low"
}

# signer.identity_mismatch from the organisation's identity policy (verified signature,
# unexpected signer): not signature.invalid, and L1.

test_identity_rejected_is_signer_identity_mismatch if {
	rejected := {"signed": true, "verification": {"verified": false, "identity_mismatch": true, "error": "signature verified, but the signer x is not an expected identity"}}
	d := decide("dev", [object.union(generator_provenance("sha256:a1"), rejected)])
	g := the_gap(d, "signer.identity_mismatch")
	contains(g.message, "not an expected identity")
	not "signature.invalid" in codes(d)
	d.level == 1
	d.verified_provenance == false
}
