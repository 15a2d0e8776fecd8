# METADATA
# title: Provenance gaps
# description: |
#   One rule per gap code of the catalogue (data.aspm.gap_catalogue). Every set rule in this
#   package is a gap rule: data.aspm.findings collects them all and records the rule's name
#   as the gap's rule, so a new rule here is picked up without further wiring. Keep helpers
#   that are sets out of this package.
#
#   Every rule is evaluated for every decision, so each starts with its cheapest condition on
#   the evidence index (data.aspm.facts.index) or the outcomes (data.aspm.level.outcome), and
#   builds its message only once that holds.
package aspm.gaps

import data.aspm.facts
import data.aspm.level

# gap builds a finding for code, with the catalogue's severity: "unknown" (which the engine
# rejects) when the catalogue lacks the code, so that a missing entry fails loudly instead of
# hiding the gap.
gap(code, message) := {
	"code": code,
	"severity": object.get(data.aspm.gap_catalogue, [code, "severity"], "unknown"),
	"message": message,
}

# severity is code's severity in the catalogue, as gap gives it.
severity(code) := object.get(data.aspm.gap_catalogue, [code, "severity"], "unknown")

provenance_missing contains gap("provenance.missing", msg) if {
	facts.index.usable_count == 0
	facts.index.provenance_count == 0
	msg := sprintf("no provenance was found for %s", [facts.artifact])
}

provenance_missing contains gap("provenance.missing", msg) if {
	index := facts.index
	index.usable_count == 0
	index.provenance_count > 0
	msg := sprintf("none of the %d provenance document(s) found for %s both names its digest and parses", [
		index.provenance_count,
		facts.artifact,
	])
}

subject_mismatch contains gap("subject.mismatch", msg) if {
	index := facts.index
	index.usable_count == 0
	some i in index.provenance
	e := facts.evidence[i]
	not e.subject_match
	msg := sprintf("provenance %s names %s, not the artifact digest %s", [
		facts.id(e),
		facts.subjects_text(e),
		facts.artifact_digest,
	])
}

provenance_unsigned contains gap("provenance.unsigned", msg) if {
	index := facts.index
	index.usable_count > 0
	every e in index.usable {
		not e.signed == true
	}
	msg := sprintf("none of the %d provenance document(s) for %s is signed", [index.usable_count, facts.artifact])
}

signature_invalid contains gap("signature.invalid", msg) if {
	some i, o in level.outcome
	o.kind == "invalid"
	e := facts.index.usable[i]
	msg := sprintf("the signature on provenance %s did not verify: %s", [
		facts.id(e),
		facts.nonempty(object.get(e, ["verification", "error"], ""), "no reason given"),
	])
}

signer_identity_mismatch contains gap("signer.identity_mismatch", msg) if {
	some i, o in level.outcome
	o.kind == "identity_mismatch"
	e := facts.index.usable[i]
	msg := sprintf("provenance %s claims builder %s but is signed by %s; expected %s", [
		facts.id(e),
		facts.builder_id(e),
		facts.signer_text(e),
		concat(" or ", [expected_signer(b) | some b in o.builders]),
	])
}

signer_identity_mismatch contains gap("signer.identity_mismatch", msg) if {
	some i, o in level.outcome
	o.kind == "identity_rejected"
	e := facts.index.usable[i]
	msg := sprintf("provenance %s: %s", [
		facts.id(e),
		facts.nonempty(object.get(e, ["verification", "error"], ""), "the signer is not an expected identity"),
	])
}

# expected_signer describes the identities builder b signs with.
expected_signer(b) := sprintf("%s signing as %s", [b.id, concat(" or ", ways)]) if {
	ways := array.concat(
		[sprintf("keyless identity matching %s issued by %s", [k.identity_pattern, k.issuer]) |
			k := b.signer.keyless
		],
		[sprintf("key %s", [concat(" or ", b.signer.key.keys)]) | b.signer.key],
	)
}

tlog_missing contains gap("tlog.missing", msg) if {
	some i, o in level.outcome
	o.earned >= 2
	e := facts.index.usable[i]
	object.get(e, ["verification", "tlog_entries"], 0) == 0
	msg := sprintf("provenance %s (signed by %s) verified without a transparency log entry", [
		facts.id(e),
		facts.signer_text(e),
	])
}

builder_untrusted contains gap("builder.untrusted", msg) if {
	some i, o in level.outcome
	o.kind == "untrusted"
	e := facts.index.usable[i]
	msg := sprintf("provenance %s names builder %s, which is not in trusted_builders", [
		facts.id(e),
		facts.nonempty(facts.builder_id(e), "(none)"),
	])
}

builder_self_hosted_runner contains gap("builder.self_hosted_runner", msg) if {
	some i, o in level.outcome
	o.cap == "self_hosted"
	e := facts.index.usable[i]
	msg := sprintf("provenance %s was built by %s on a %s runner; %s earns more than L1 only on a github-hosted runner", [
		facts.id(e),
		facts.builder_id(e),
		facts.nonempty(facts.runner(e), "unknown"),
		o.builder.id,
	])
}

source_not_allowed contains gap("source.not_allowed", msg) if {
	allowed := facts.allowed_sources
	allowed != []
	some e in facts.index.verified
	repo := facts.source_repository(e)
	not source_allowed(allowed, repo)
	msg := sprintf("provenance %s was built from %s, which matches none of allowed_sources", [
		facts.id(e),
		facts.nonempty(repo, "an unnamed source repository"),
	])
}

source_allowed(allowed, repo) if {
	repo != ""
	some pattern in allowed
	regex.match(pattern, repo)
}

source_unpinned contains gap("source.unpinned", msg) if {
	some e in facts.index.verified
	object.get(e, ["provenance", "source_digest"], "") == ""
	object.get(e, ["verification", "signer", "source_digest"], "") == ""
	msg := sprintf("provenance %s records no source revision digest for %s", [
		facts.id(e),
		facts.nonempty(facts.source_repository(e), "its source"),
	])
}

sbom_missing contains finding if {
	facts.index.sbom_count == 0
	environment := facts.environment
	environment.require_sbom == true
	finding := gap("sbom.missing", sprintf("no SBOM names %s; %s requires one", [facts.artifact, facts.environment_name]))
}

sbom_missing contains finding if {
	facts.index.sbom_count == 0
	environment := facts.environment
	not environment.require_sbom
	finding := object.union(
		gap("sbom.missing", sprintf("no SBOM names %s", [facts.artifact])),
		{"severity": "low"},
	)
}

sbom_unsigned contains gap("sbom.unsigned", msg) if {
	index := facts.index
	index.sbom_count > 0
	every e in index.sboms {
		not e.verification.verified == true
	}
	msg := sprintf("none of the %d SBOM(s) for %s has a verified signature", [index.sbom_count, facts.artifact])
}

evidence_malformed contains gap("evidence.malformed", msg) if {
	some i, reason in facts.index.malformed
	e := facts.evidence[i]
	msg := sprintf("evidence %s (%s from %s) could not be parsed: %s", [
		facts.id(e),
		object.get(e, "kind", "unknown kind"),
		object.get(e, "source", "an unknown source"),
		reason,
	])
}

level_below_required contains gap("level.below_required", msg) if {
	environment := facts.environment
	level.level < environment.min_level
	msg := sprintf("%s requires SLSA L%d; artifact is L%d", [
		facts.environment_name,
		environment.min_level,
		level.level,
	])
}
