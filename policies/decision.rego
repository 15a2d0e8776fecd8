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
findings := [{"code": t[0], "message": t[1], "severity": t[2], "rule": t[3]} |
	some j, t in found
	not repeated[j]
]

# found lists [code, message, severity, rule] for every gap, sorted. (Empty rules are skipped
# before is_set looks at them: most rules find nothing.)
found := sort({[object.get(f, "code", ""), object.get(f, "message", ""), object.get(f, "severity", ""), rule_name] |
	some name, rule in data.aspm.gaps
	rule != set()
	is_set(rule)
	rule_name := concat(".", ["aspm.gaps", name])
	some f in rule
})

# repeated holds the positions in found whose code and message are those of the one before.
repeated contains j if {
	some j, t in found
	j > 0
	previous := found[j - 1]
	previous[0] == t[0]
	previous[1] == t[1]
}

# explanation lists, in order, the steps that decided the level.
explanation := array.concat(
	array.concat(ignored_steps, provenance_steps),
	[sprintf("level L%d", [level.level]), environment_step],
)

# ignored_steps say which evidence was set aside, and why.
ignored_steps := [ignored(docs[i]) |
	docs := facts.evidence
	index := facts.index
	index.ignored != set()
	some i in index.order
	index.ignored[i]
]

# ignored says why e was set aside: it could not be parsed, or it is provenance for other digests.
ignored(e) := sprintf("evidence %s (%s) ignored: malformed: %s", [
	facts.id(e),
	object.get(e, "kind", "unknown kind"),
	facts.malformed(e),
]) if {
	facts.malformed(e) != ""
} else := sprintf("provenance %s ignored: it names %s, not %s", [
	facts.id(e),
	facts.subjects_text(e),
	facts.artifact_digest,
]) if {
	e.kind == "provenance"
	not e.subject_match
}

# provenance_steps say what each usable provenance earned, or that there is none.
provenance_steps := level.steps if {
	facts.index.usable_count > 0
} else := [sprintf("no usable provenance names %s: L0", [facts.artifact])]

# environment_step says what the environment requires and whether the artifact meets it.
environment_step := sprintf("%s requires SLSA L%d%s: %s", [subject, environment.min_level, sbom, met]) if {
	environment := facts.environment
	subject := environment_subject
	sbom := sbom_requirement(environment)
	met := requirement_met(environment)
}

# environment_subject names the environment whose requirements apply.
environment_subject := facts.environment_name if {
	facts.environment_known
} else := sprintf("environment %s is not configured; the default", [facts.environment_name])

# sbom_requirement mentions the SBOM when environment requires one.
sbom_requirement(environment) := " and an SBOM" if {
	environment.require_sbom == true
} else := ""

# requirement_met says whether the artifact has environment's level, and an SBOM if required.
requirement_met(environment) := "not met" if {
	level.level < environment.min_level
} else := "met" if {
	not environment.require_sbom
} else := "met" if {
	facts.index.sbom_count > 0
} else := "not met"
