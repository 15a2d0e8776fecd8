# METADATA
# title: Provenance gaps
# description: |
#   One rule per gap code of the catalogue (data.aspm.gap_catalogue). Every set rule in this
#   package is a gap rule: data.aspm.findings collects them all and records the rule's name
#   as the gap's rule, so a new rule here is picked up without further wiring. Keep helpers
#   that are sets out of this package.
package aspm.gaps

import data.aspm.facts
import data.aspm.level

# gap builds a finding for code, with the catalogue's severity.
gap(code, message) := {"code": code, "severity": severity(code), "message": message}

# severity is code's severity in the catalogue; "unknown" (which the engine rejects) when the
# catalogue lacks the code, so that a missing entry fails loudly instead of hiding the gap.
severity(code) := object.get(data.aspm.gap_catalogue, [code, "severity"], "unknown")

provenance_missing contains gap("provenance.missing", msg) if {
	count(facts.usable) == 0
	count(facts.provenance) == 0
	msg := sprintf("no provenance was found for %s", [facts.artifact])
}

provenance_missing contains gap("provenance.missing", msg) if {
	count(facts.usable) == 0
	count(facts.provenance) > 0
	msg := sprintf("none of the %d provenance document(s) found for %s both names its digest and parses", [
		count(facts.provenance),
		facts.artifact,
	])
}

subject_mismatch contains gap("subject.mismatch", msg) if {
	count(facts.usable) == 0
	some i in facts.provenance
	e := facts.evidence[i]
	not e.subject_match
	msg := sprintf("provenance %s names %s, not the artifact digest %s", [
		facts.id(e),
		facts.subjects_text(e),
		facts.artifact_digest,
	])
}

provenance_unsigned contains gap("provenance.unsigned", msg) if {
	count(facts.usable) > 0
	every i in facts.usable {
		not facts.signed(facts.evidence[i])
	}
	msg := sprintf("none of the %d provenance document(s) for %s is signed", [count(facts.usable), facts.artifact])
}

signature_invalid contains gap("signature.invalid", msg) if {
	some i in facts.usable
	level.outcome[i].kind == "invalid"
	e := facts.evidence[i]
	msg := sprintf("the signature on provenance %s did not verify: %s", [
		facts.id(e),
		facts.nonempty(object.get(e, ["verification", "error"], ""), "no reason given"),
	])
}

signer_identity_mismatch contains gap("signer.identity_mismatch", msg) if {
	some i, o in level.outcome
	o.kind == "identity_mismatch"
	e := facts.evidence[i]
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
	e := facts.evidence[i]
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
	e := facts.evidence[i]
	facts.tlog_entries(e) == 0
	msg := sprintf("provenance %s (signed by %s) verified without a transparency log entry", [
		facts.id(e),
		facts.signer_text(e),
	])
}

builder_untrusted contains gap("builder.untrusted", msg) if {
	some i, o in level.outcome
	o.kind == "untrusted"
	e := facts.evidence[i]
	msg := sprintf("provenance %s names builder %s, which is not in trusted_builders", [
		facts.id(e),
		facts.nonempty(facts.builder_id(e), "(none)"),
	])
}

builder_self_hosted_runner contains gap("builder.self_hosted_runner", msg) if {
	some i, o in level.outcome
	o.cap == "self_hosted"
	e := facts.evidence[i]
	msg := sprintf("provenance %s was built by %s on a %s runner; %s earns more than L1 only on a github-hosted runner", [
		facts.id(e),
		facts.builder_id(e),
		facts.nonempty(facts.runner(e), "unknown"),
		o.builder.id,
	])
}

source_not_allowed contains gap("source.not_allowed", msg) if {
	allowed := facts.allowed_sources
	count(allowed) > 0
	some i in facts.verified_usable
	e := facts.evidence[i]
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
	some i in facts.verified_usable
	e := facts.evidence[i]
	facts.source_digest(e) == ""
	msg := sprintf("provenance %s records no source revision digest for %s", [
		facts.id(e),
		facts.nonempty(facts.source_repository(e), "its source"),
	])
}

sbom_missing contains finding if {
	count(facts.sboms) == 0
	facts.environment.require_sbom == true
	finding := gap("sbom.missing", sprintf("no SBOM names %s; %s requires one", [facts.artifact, facts.environment_name]))
}

sbom_missing contains finding if {
	count(facts.sboms) == 0
	not facts.environment.require_sbom
	finding := object.union(
		gap("sbom.missing", sprintf("no SBOM names %s", [facts.artifact])),
		{"severity": "low"},
	)
}

sbom_unsigned contains gap("sbom.unsigned", msg) if {
	count(facts.sboms) > 0
	every i in facts.sboms {
		not facts.verified(facts.evidence[i])
	}
	msg := sprintf("none of the %d SBOM(s) for %s has a verified signature", [count(facts.sboms), facts.artifact])
}

evidence_malformed contains gap("evidence.malformed", msg) if {
	some e in facts.evidence
	reason := facts.malformed(e)
	reason != ""
	msg := sprintf("evidence %s (%s from %s) could not be parsed: %s", [
		facts.id(e),
		object.get(e, "kind", "unknown kind"),
		object.get(e, "source", "an unknown source"),
		reason,
	])
}

level_below_required contains gap("level.below_required", msg) if {
	level.level < facts.environment.min_level
	msg := sprintf("%s requires SLSA L%d; artifact is L%d", [
		facts.environment_name,
		facts.environment.min_level,
		level.level,
	])
}
