# METADATA
# title: ASPM decision
# description: |
#   The entry point the engine queries, data.aspm.decision: the artifact's SLSA build level,
#   whether any provenance verified, its gaps (sorted by code, then message), its risk, and the
#   steps that decided the level.
#
#   Data (policies/data/*.json, each an object merged at the root of data):
#     data.aspm.trusted_builders   builders, their builder id pattern, signer and level
#     data.aspm.environments       min_level, require_sbom and risk weight per environment,
#                                  with a "default" entry for unknown environments
#     data.aspm.allowed_sources    source repository patterns; empty allows any source
#     data.aspm.gap_catalogue      every gap code's severity, explanation, remediation and
#                                  SSDF / SP 800-53 references
#     data.aspm.severity_points    risk points per severity
#   data.aspm.config.errors (config.rego) checks them when the engine loads.
package aspm

import data.aspm.facts
import data.aspm.level
import data.aspm.risk

# decision is the scoring result for input.artifact in input.environment.
decision := {
	"level": level.level,
	"verified_provenance": level.verified_provenance,
	"gaps": findings,
	"risk": risk.score,
	"explanation": explanation,
}

# findings are the gaps of every set rule in package aspm.gaps, each naming that rule,
# deduplicated by code and message and sorted by code, then message. (Fields a rule leaves
# out are empty, which the engine rejects, rather than dropping the gap.)
findings := [g |
	some j, t in found
	not same_as_previous(j)
	g := {"code": t[0], "message": t[1], "severity": t[2], "rule": concat(".", ["aspm.gaps", t[3]])}
]

found := sort({[object.get(f, "code", ""), object.get(f, "message", ""), object.get(f, "severity", ""), name] |
	some name, rule in data.aspm.gaps
	is_set(rule)
	some f in rule
})

same_as_previous(j) if {
	j > 0
	array.slice(found[j - 1], 0, 2) == array.slice(found[j], 0, 2)
}

# explanation lists, in order, the steps that decided the level.
explanation := array.concat(
	array.concat(ignored_steps, provenance_steps),
	[sprintf("level L%d", [level.level]), environment_step],
)

# ignored_steps say which evidence was set aside, and why.
ignored_steps := [msg |
	some i in facts.order
	e := facts.evidence[i]
	msg := ignored(e)
]

ignored(e) := sprintf("evidence %s (%s) ignored: malformed: %s", [
	facts.id(e),
	object.get(e, "kind", "unknown kind"),
	facts.malformed(e),
]) if {
	facts.malformed(e) != ""
}

ignored(e) := sprintf("provenance %s ignored: it names %s, not %s", [
	facts.id(e),
	facts.subjects_text(e),
	facts.artifact_digest,
]) if {
	facts.malformed(e) == ""
	e.kind == "provenance"
	not e.subject_match
}

provenance_steps := level.steps if {
	count(facts.usable) > 0
} else := [sprintf("no usable provenance names %s: L0", [facts.artifact])]

environment_step := sprintf("%s requires SLSA L%d%s: %s", [
	facts.environment_name,
	facts.environment.min_level,
	sbom_requirement,
	met,
]) if {
	facts.environment_known
} else := sprintf("environment %s is not configured; the default requires SLSA L%d%s: %s", [
	facts.environment_name,
	facts.environment.min_level,
	sbom_requirement,
	met,
])

sbom_requirement := " and an SBOM" if {
	facts.environment.require_sbom == true
} else := ""

met := "met" if {
	level.level >= facts.environment.min_level
	sbom_ok
} else := "not met"

sbom_ok if not facts.environment.require_sbom

sbom_ok if count(facts.sboms) > 0
