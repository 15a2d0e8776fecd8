# METADATA
# title: SLSA build level
# description: |
#   The SLSA v1.0 build track level of an artifact (docs: DESIGN.md "SLSA build level").
#   L0: no usable provenance. L1: provenance names the artifact. L2: its signature verified and
#   it was signed by the identity of a trusted hosted builder listed at level 2 or more. L3: as
#   L2 on a builder listed at level 3, with the builder's isolation requirements (hosted
#   runner, signing from a listed reusable workflow) met. The level is the highest any usable
#   provenance earns.
#
#   Each usable provenance is assessed once (outcome); the level, the explanation and the gap
#   rules read what its outcome records rather than assessing it again. Mutually exclusive
#   cases are else chains, which stop at the first case that holds.
package aspm.level

import data.aspm.facts

# outcome[i] says what the usable provenance facts.evidence[i] earns and why. kind is one of
# "unsigned", "invalid", "identity_rejected", "untrusted", "identity_mismatch", "trusted";
# "identity_mismatch" lists the builders whose signer did not sign (builders), "trusted" names
# the builder (builder) and what capped its level (cap: "none", "reusable" with the signing
# workflow, "not_reusable" or "self_hosted").
outcome[i] := assess(e) if some i, e in facts.index.usable

# level is the highest level earned by any usable provenance, capped at 3; 0 without any.
level := min({3, max({0} | {o.earned | some o in outcome})})

# verified_provenance is true when some usable provenance verified and its signer is
# acceptable: the signer of the trusted builder it names, or any signer when it names no
# builder we know (which earns L1 only). A valid signature by someone other than the signer
# of the builder the provenance claims (identity_mismatch), or by a signer the
# organisation's identity policy rejected (identity_rejected), does not make verified
# provenance.
verified_provenance if {
	some o in outcome
	o.kind in {"trusted", "untrusted"}
} else := false

assess(e) := judge(e, builders, signers) if {
	e.verification.verified == true

	# The trusted builders whose builder_id_pattern matches the builder e names...
	builder_id := object.get(e, ["provenance", "builder_id"], "")
	builders := [b | some b in data.aspm.trusted_builders; regex.match(b.builder_id_pattern, builder_id)]

	# ...and those of them whose signer signed e: the issuer and identity of a keyless
	# certificate, or the name of the key that verified the signature.
	signer := object.get(e, ["verification", "signer"], {})
	keyless := [b |
		signer.type == "keyless"
		some b in builders
		signer.issuer == b.signer.keyless.issuer
		regex.match(b.signer.keyless.identity_pattern, signer.identity)
	]
	keyed := [b | signer.type == "key"; some b in builders; signer.identity in b.signer.key.keys]
	signers := array.concat(keyless, keyed)
} else := {"kind": "unsigned", "earned": 1} if {
	not e.signed == true
} else := {"kind": "identity_rejected", "earned": 1} if {
	e.verification.identity_mismatch == true
} else := {"kind": "invalid", "earned": 1}

# judge is the outcome of the verified provenance e, given the trusted builders it claims to be
# from and those of them that signed it: the best-earning signer wins; ties go to the builder
# whose id sorts first.
judge(e, builders, signers) := {"kind": "untrusted", "earned": 1} if {
	builders == []
} else := {"kind": "identity_mismatch", "earned": 1, "builders": builders} if {
	signers == []
} else := object.union(earnings(b, e), {"kind": "trusted", "builder": b}) if {
	[b] := signers
} else := object.union(earnings(b, e), {"kind": "trusted", "builder": b}) if {
	ranked := sort([[0 - earnings(x, e).earned, x.id, n] | some n, x in signers])
	b := signers[ranked[0][2]]
}

# earnings is what builder b, whose signer signed e, lets e earn, and what limited it: L1 when
# b requires a platform-hosted runner and e was not built on one; else L2 when b lists
# l3_reusable_workflows and none of them signed e (isolated from the calling workflow, on a
# hosted runner); else b's level.
earnings(b, e) := {"earned": min({b.max_level, 1}), "cap": "self_hosted"} if {
	b.requires_hosted_runner
	object.get(e, ["verification", "signer", "runner_environment"], "") != "github-hosted"
} else := {"earned": min({b.max_level, 3}), "cap": "none"} if {
	not b.l3_reusable_workflows
} else := {"earned": min({b.max_level, 3}), "cap": "reusable", "workflow": uri} if {
	signer := object.get(e, ["verification", "signer"], {})
	uri := object.get(signer, "build_signer_uri", "")
	uri != ""
	uri != object.get(signer, "build_config_uri", "")
	signer.runner_environment == "github-hosted"
	some pattern in b.l3_reusable_workflows
	regex.match(pattern, uri)
} else := {"earned": min({b.max_level, 2}), "cap": "not_reusable"}

# steps explain, for each usable provenance in facts.order, what it earned and why.
steps := [step(e, o) |
	usable := facts.index.usable
	some i in facts.index.order
	e := usable[i]
	o := outcome[i]
]

step(e, o) := sprintf("%s; builder %s trusted as %s up to L%d%s: L%d", [
	verified_text(e),
	builder_text(e),
	o.builder.id,
	o.builder.max_level,
	cap_text(e, o),
	o.earned,
]) if {
	o.kind == "trusted"
} else := sprintf("%s; builder %s is not a trusted builder: L1", [verified_text(e), builder_text(e)]) if {
	o.kind == "untrusted"
} else := sprintf("%s; builder %s matches %s but the signer does not: L1", [
	verified_text(e),
	builder_text(e),
	concat(", ", [b.id | some b in o.builders]),
]) if {
	o.kind == "identity_mismatch"
} else := sprintf("provenance %s is unsigned: L1", [object.get(e, "id", "(no id)")]) if {
	o.kind == "unsigned"
} else := sprintf("provenance %s is signed but did not verify (%s): L1", [
	object.get(e, "id", "(no id)"),
	facts.nonempty(object.get(e, ["verification", "error"], ""), "no reason given"),
]) if {
	o.kind == "invalid"
} else := sprintf("provenance %s is signed by an identity the organisation does not expect (%s): L1", [
	object.get(e, "id", "(no id)"),
	facts.nonempty(object.get(e, ["verification", "error"], ""), "no reason given"),
]) if {
	o.kind == "identity_rejected"
}

verified_text(e) := sprintf("provenance %s verified (keyless, %s, %s)", [
	object.get(e, "id", "(no id)"),
	object.get(signer, "issuer", ""),
	object.get(signer, "identity", ""),
]) if {
	signer := object.get(e, ["verification", "signer"], {})
	signer.type == "keyless"
} else := sprintf("provenance %s verified (%s)", [object.get(e, "id", "(no id)"), facts.signer_text(e)])

builder_text(e) := builder_id if {
	builder_id := object.get(e, ["provenance", "builder_id"], "")
	builder_id != ""
} else := "(none named)"

cap_text(e, o) := "" if {
	o.cap == "none"
} else := sprintf("; signed by reusable workflow %s", [o.workflow]) if {
	o.cap == "reusable"
} else := sprintf("; signed by %s, not by a listed reusable workflow isolated from the build, which caps it at L2", [
	facts.nonempty(object.get(e, ["verification", "signer", "build_signer_uri"], ""), "an unknown workflow"),
]) if {
	o.cap == "not_reusable"
} else := sprintf("; runner is %s, not github-hosted, which caps it at L1", [
	facts.nonempty(object.get(e, ["verification", "signer", "runner_environment"], ""), "unknown"),
]) if {
	o.cap == "self_hosted"
}
