# Tests of the shipped data: the tables the rules and the report engine read.
package aspm_test

gap_codes := {
	"provenance.missing", "provenance.unsigned", "signature.invalid", "subject.mismatch",
	"signer.identity_mismatch", "tlog.missing", "builder.untrusted", "builder.self_hosted_runner",
	"source.not_allowed", "source.unpinned", "sbom.missing", "sbom.unsigned", "evidence.malformed",
	"level.below_required",
}

test_gap_catalogue_has_every_code if {
	object.keys(data.aspm.gap_catalogue) == gap_codes
}

test_gap_catalogue_entries_are_complete if {
	every entry in data.aspm.gap_catalogue {
		entry.severity in object.keys(data.aspm.severity_points)
		every field in ["title", "explanation", "remediation"] {
			count(entry[field]) > 0
		}
		count(entry.ssdf) > 0
		every task in entry.ssdf {
			regex.match(`^(PO|PS|PW|RV)\.[0-9]+\.[0-9]+$`, task)
		}
		count(entry.sp800_53) > 0
		every control in entry.sp800_53 {
			regex.match(`^[A-Z]{2}-[0-9]+(\([0-9]+\))?$`, control)
		}
	}
}

test_gap_catalogue_severities if {
	{code: entry.severity | some code, entry in data.aspm.gap_catalogue} == {
		"provenance.missing": "high", "provenance.unsigned": "high", "signature.invalid": "critical",
		"subject.mismatch": "high", "signer.identity_mismatch": "critical", "tlog.missing": "low",
		"builder.untrusted": "medium", "builder.self_hosted_runner": "medium",
		"source.not_allowed": "high", "source.unpinned": "low", "sbom.missing": "medium",
		"sbom.unsigned": "low", "evidence.malformed": "medium", "level.below_required": "high",
	}
}

test_severity_points if {
	data.aspm.severity_points == {"critical": 40, "high": 25, "medium": 10, "low": 3}
}

test_trusted_builders_are_well_formed if {
	ids := [b.id | some b in data.aspm.trusted_builders]
	count(ids) == count({id | some id in ids})
	every b in data.aspm.trusted_builders {
		count(b.name) > 0
		startswith(b.source, "https://")
		regex.is_valid(b.builder_id_pattern)
		b.max_level in {1, 2, 3}
		count(object.keys(b.signer)) > 0
		object.keys(b.signer) - {"keyless", "key"} == set()
		keyless_signer_ok(b.signer)
		key_signer_ok(b.signer)
		every p in object.get(b, "l3_reusable_workflows", []) {
			regex.is_valid(p)
		}
	}
}

test_trusted_builder_ids if {
	{b.id: b.max_level | some b in data.aspm.trusted_builders} == {
		"slsa-github-generator": 3, "github-artifact-attestations": 3, "google-cloud-build": 3,
		"tekton-chains": 2, "npm-github-actions": 2, "publish-to-bcr": 3,
	}
}

test_environments if {
	data.aspm.environments.prod == {"min_level": 3, "require_sbom": true, "weight": 1.0}
	data.aspm.environments.staging == {"min_level": 2, "require_sbom": false, "weight": 0.6}
	data.aspm.environments.dev == {"min_level": 1, "require_sbom": false, "weight": 0.3}
	data.aspm.environments["default"] == {"min_level": 1, "require_sbom": false, "weight": 0.5}
}

test_allowed_sources_default_to_any if {
	data.aspm.allowed_sources == []
}

keyless_signer_ok(signer) if not signer.keyless

keyless_signer_ok(signer) if {
	startswith(signer.keyless.issuer, "https://")
	regex.is_valid(signer.keyless.identity_pattern)
}

key_signer_ok(signer) if not signer.key

key_signer_ok(signer) if count(signer.key.keys) > 0
