# METADATA
# title: Data checks
# description: |
#   Problems with the policy data (trusted builders, environments, allowed sources, gap
#   catalogue, severity points). The engine evaluates data.aspm.config.errors once when it
#   loads the policies and refuses to load while it is not empty, so that a typo in a data
#   file fails loudly instead of silently changing decisions.
package aspm.config

severities := {"critical", "high", "medium", "low"}

# errors describes each problem with the policy data.
errors contains sprintf("trusted_builders[%d] (%s): %s", [i, object.get(b, "id", "no id"), problem]) if {
	some i, b in data.aspm.trusted_builders
	some problem in builder_problems(b)
}

errors contains "trusted_builders must be a list" if {
	builders := data.aspm.trusted_builders
	not is_array(builders)
}

errors contains sprintf("trusted_builders: id %s is used %d times", [id, n]) if {
	ids := [b.id | some b in data.aspm.trusted_builders]
	some id in ids
	n := count([x | some x in ids; x == id])
	n > 1
}

errors contains "environments must define a default entry" if not data.aspm.environments["default"]

errors contains sprintf("environments.%s: %s", [name, problem]) if {
	some name, env in data.aspm.environments
	some problem in environment_problems(env)
}

# allowed_sources may be absent (any source is allowed), but not anything but a list.
errors contains "allowed_sources must be a list of regular expressions" if {
	sources := data.aspm.allowed_sources
	not is_array(sources)
}

errors contains sprintf("allowed_sources: %s is not a valid regular expression", [p]) if {
	some p in data.aspm.allowed_sources
	not valid_regex(p)
}

errors contains sprintf("gap_catalogue.%s: severity must be one of critical, high, medium, low", [code]) if {
	some code, entry in data.aspm.gap_catalogue
	not field(entry, "severity") in severities
}

errors contains sprintf("severity_points.%s must be a number", [s]) if {
	some s in severities
	not is_number(field(data.aspm.severity_points, s))
}

builder_problems(b) := {p | some check in builder_checks; p := check_problem(b, check)}

builder_checks := [
	"id", "builder_id_pattern", "max_level", "signer", "keyless", "key",
	"requires_hosted_runner", "l3_reusable_workflows",
]

check_problem(b, "id") := "id must be a non-empty string" if not non_empty_string(field(b, "id"))

check_problem(b, "builder_id_pattern") := "builder_id_pattern must be a valid regular expression" if {
	not valid_regex(field(b, "builder_id_pattern"))
}

check_problem(b, "max_level") := "max_level must be 1, 2 or 3" if not field(b, "max_level") in {1, 2, 3}

check_problem(b, "signer") := "signer must have keyless and/or key" if {
	not has_signer(field(b, "signer"))
}

check_problem(b, "keyless") := "signer.keyless needs an issuer and a valid identity_pattern" if {
	b.signer.keyless
	not keyless_ok(b.signer.keyless)
}

check_problem(b, "key") := "signer.key.keys must be a non-empty list of key names" if {
	b.signer.key
	not keys_ok(field(b.signer.key, "keys"))
}

check_problem(b, "requires_hosted_runner") := "requires_hosted_runner must be true or false" if {
	"requires_hosted_runner" in object.keys(b)
	not is_boolean(field(b, "requires_hosted_runner"))
}

check_problem(b, "l3_reusable_workflows") := "l3_reusable_workflows must be a list of valid regular expressions" if {
	"l3_reusable_workflows" in object.keys(b)
	not all_regexes(field(b, "l3_reusable_workflows"))
}

keyless_ok(k) if {
	non_empty_string(field(k, "issuer"))
	valid_regex(field(k, "identity_pattern"))
}

keys_ok(keys) if {
	is_array(keys)
	count(keys) > 0
	every k in keys {
		non_empty_string(k)
	}
}

all_regexes(ps) if {
	is_array(ps)
	every p in ps {
		valid_regex(p)
	}
}

environment_problems(env) := {p |
	some check in ["min_level", "require_sbom", "weight"]
	p := environment_problem(env, check)
}

environment_problem(env, "min_level") := "min_level must be 0, 1, 2 or 3" if {
	not field(env, "min_level") in {0, 1, 2, 3}
}

environment_problem(env, "require_sbom") := "require_sbom must be true or false" if {
	not is_boolean(field(env, "require_sbom"))
}

environment_problem(env, "weight") := "weight must be a number from 0" if not non_negative(field(env, "weight"))

# field is x[name], or null when x is not an object or lacks name. (A missing field inside
# `not f(x.name)` makes the whole expression undefined rather than true, so every check reads
# fields through here.)
field(x, name) := object.get(x, name, null) if {
	is_object(x)
} else := null

has_signer(signer) if {
	is_object(signer)
	count({"keyless", "key"} & object.keys(signer)) > 0
}

non_negative(x) if {
	is_number(x)
	x >= 0
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

valid_regex(p) if {
	is_string(p)
	regex.is_valid(p)
}
