# METADATA
# title: SLSA build level
# description: |
#   The SLSA v1.0 build track level of an artifact (docs: DESIGN.md "SLSA build level").
#   L0: no usable provenance. L1: provenance names the artifact. L2: its signature verified and
#   it was signed by the identity of a trusted hosted builder listed at level 2 or more. L3: as
#   L2 on a builder listed at level 3, with the builder's isolation requirements (hosted
#   runner, signing from a listed reusable workflow) met. The level is the highest any usable
#   provenance earns.
package aspm.level

import data.aspm.facts

# outcome[i] says what the usable provenance facts.evidence[i] earns and why. kind is one of
# "unsigned", "invalid", "identity_rejected", "untrusted", "identity_mismatch", "trusted".
outcome[i] := assess(facts.evidence[i]) if some i in facts.usable

# level is the highest level earned by any usable provenance, capped at 3; 0 without any.
level := min({3, max({0} | {o.earned | some o in outcome})})

# verified_provenance is true when some usable provenance verified.
verified_provenance := count(facts.verified_usable) > 0

assess(e) := {"kind": "unsigned", "earned": 1} if {
	not facts.verified(e)
	not facts.signed(e)
}

assess(e) := {"kind": "invalid", "earned": 1} if {
	not facts.verified(e)
	facts.signed(e)
	not facts.identity_rejected(e)
}

assess(e) := {"kind": "identity_rejected", "earned": 1} if {
	not facts.verified(e)
	facts.signed(e)
	facts.identity_rejected(e)
}

assess(e) := verified_outcome(e) if facts.verified(e)

# candidates are the trusted builders whose builder_id_pattern matches e's builder id.
candidates(e) := [b |
	some b in data.aspm.trusted_builders
	regex.match(b.builder_id_pattern, facts.builder_id(e))
]

# signed_by are the candidates whose signer matches e's signer.
signed_by(e) := [b |
	some b in candidates(e)
	signer_matches(b.signer, facts.signer(e))
]

verified_outcome(e) := {"kind": "untrusted", "earned": 1} if {
	count(candidates(e)) == 0
}

verified_outcome(e) := {"kind": "identity_mismatch", "earned": 1, "builders": candidates(e)} if {
	count(candidates(e)) > 0
	count(signed_by(e)) == 0
}

# The best-earning builder wins; ties go to the builder whose id sorts first.
verified_outcome(e) := object.union(earnings(b, e), {"kind": "trusted", "builder": b}) if {
	builders := signed_by(e)
	ranked := sort([[0 - earnings(b, e).earned, b.id, k] | some k, b in builders])
	count(ranked) > 0
	b := builders[ranked[0][2]]
}

signer_matches(want, got) if {
	got.type == "keyless"
	got.issuer == want.keyless.issuer
	regex.match(want.keyless.identity_pattern, got.identity)
}

signer_matches(want, got) if {
	got.type == "key"
	got.identity in want.key.keys
}

# hosted_ok is true unless b requires a platform-hosted runner and e was not built on one.
hosted_ok(b, _) if not b.requires_hosted_runner

hosted_ok(b, e) if {
	b.requires_hosted_runner
	facts.runner(e) == "github-hosted"
}

# reusable_workflow is the listed reusable workflow of b that signed e, isolated from the
# calling workflow, on a hosted runner.
reusable_workflow(b, e) := uri if {
	uri := facts.signer_field(e, "build_signer_uri")
	uri != ""
	uri != facts.signer_field(e, "build_config_uri")
	facts.runner(e) == "github-hosted"
	some pattern in b.l3_reusable_workflows
	regex.match(pattern, uri)
}

# earnings is what builder b, whose signer signed e, lets e earn, and what limited it.
earnings(b, e) := {"earned": min({b.max_level, 1}), "cap": "self_hosted"} if {
	not hosted_ok(b, e)
}

earnings(b, e) := {"earned": min({b.max_level, 3}), "cap": "reusable", "workflow": reusable_workflow(b, e)} if {
	hosted_ok(b, e)
	"l3_reusable_workflows" in object.keys(b)
	reusable_workflow(b, e)
}

earnings(b, e) := {"earned": min({b.max_level, 2}), "cap": "not_reusable"} if {
	hosted_ok(b, e)
	"l3_reusable_workflows" in object.keys(b)
	not reusable_workflow(b, e)
}

earnings(b, e) := {"earned": min({b.max_level, 3}), "cap": "none"} if {
	hosted_ok(b, e)
	not "l3_reusable_workflows" in object.keys(b)
}

# steps explain, for each usable provenance in facts.order, what it earned and why.
steps := [step(facts.evidence[i], outcome[i]) | some i in facts.order; outcome[i]]

step(e, o) := sprintf("provenance %s is unsigned: L1", [facts.id(e)]) if o.kind == "unsigned"

step(e, o) := sprintf("provenance %s is signed but did not verify (%s): L1", [
	facts.id(e),
	facts.nonempty(object.get(e, ["verification", "error"], ""), "no reason given"),
]) if o.kind == "invalid"

step(e, o) := sprintf("provenance %s is signed by an identity the organisation does not expect (%s): L1", [
	facts.id(e),
	facts.nonempty(object.get(e, ["verification", "error"], ""), "no reason given"),
]) if o.kind == "identity_rejected"

step(e, o) := sprintf("%s; builder %s is not a trusted builder: L1", [verified_text(e), builder_text(e)]) if {
	o.kind == "untrusted"
}

step(e, o) := sprintf("%s; builder %s matches %s but the signer does not: L1", [
	verified_text(e),
	builder_text(e),
	concat(", ", [b.id | some b in o.builders]),
]) if o.kind == "identity_mismatch"

step(e, o) := sprintf("%s; builder %s trusted as %s up to L%d%s: L%d", [
	verified_text(e),
	builder_text(e),
	o.builder.id,
	o.builder.max_level,
	cap_text(e, o),
	o.earned,
]) if o.kind == "trusted"

verified_text(e) := sprintf("provenance %s verified (keyless, %s, %s)", [
	facts.id(e),
	facts.signer_field(e, "issuer"),
	facts.signer_field(e, "identity"),
]) if {
	facts.signer_field(e, "type") == "keyless"
} else := sprintf("provenance %s verified (%s)", [facts.id(e), facts.signer_text(e)])

builder_text(e) := facts.nonempty(facts.builder_id(e), "(none named)")

cap_text(e, o) := sprintf("; runner is %s, not github-hosted, which caps it at L1", [
	facts.nonempty(facts.runner(e), "unknown"),
]) if o.cap == "self_hosted"

cap_text(_, o) := sprintf("; signed by reusable workflow %s", [o.workflow]) if o.cap == "reusable"

cap_text(e, o) := sprintf("; signed by %s, not by a listed reusable workflow isolated from the build, which caps it at L2", [
	facts.nonempty(facts.signer_field(e, "build_signer_uri"), "an unknown workflow"),
]) if o.cap == "not_reusable"

cap_text(_, o) := "" if o.cap == "none"
