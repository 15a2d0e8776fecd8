# Tests of the data checks the engine runs when it loads the policies.
package aspm_test

import data.aspm.config

test_shipped_data_has_no_errors if {
	count(config.errors) == 0
}

test_config_reports_broken_builders if {
	# The broken builders follow the shipped ones, at positions n, n+1, n+2 and n+3.
	n := count(data.aspm.trusted_builders)
	builders := array.concat(data.aspm.trusted_builders, [
		{"id": "broken", "builder_id_pattern": "(", "max_level": 4, "signer": {}},
		{"id": "bad-signers", "builder_id_pattern": ".*", "max_level": 2, "requires_hosted_runner": "yes", "l3_reusable_workflows": ["["], "signer": {"keyless": {"issuer": "", "identity_pattern": ".*"}, "key": {"keys": []}}},
		{"id": "tekton-chains", "builder_id_pattern": ".*", "max_level": 2, "signer": {"key": {"keys": ["k"]}}},
		{"signer": {"keyless": {"issuer": "https://issuer.example"}, "key": {}}},
	])
	config.errors == {
		sprintf("trusted_builders[%d] (broken): builder_id_pattern must be a valid regular expression", [n]),
		sprintf("trusted_builders[%d] (broken): max_level must be 1, 2 or 3", [n]),
		sprintf("trusted_builders[%d] (broken): signer must have keyless and/or key", [n]),
		sprintf("trusted_builders[%d] (bad-signers): signer.keyless needs an issuer and a valid identity_pattern", [n + 1]),
		sprintf("trusted_builders[%d] (bad-signers): signer.key.keys must be a non-empty list of key names", [n + 1]),
		sprintf("trusted_builders[%d] (bad-signers): requires_hosted_runner must be true or false", [n + 1]),
		sprintf("trusted_builders[%d] (bad-signers): l3_reusable_workflows must be a list of valid regular expressions", [n + 1]),
		"trusted_builders: id tekton-chains is used 2 times",
		sprintf("trusted_builders[%d] (no id): id must be a non-empty string", [n + 3]),
		sprintf("trusted_builders[%d] (no id): builder_id_pattern must be a valid regular expression", [n + 3]),
		sprintf("trusted_builders[%d] (no id): max_level must be 1, 2 or 3", [n + 3]),
		sprintf("trusted_builders[%d] (no id): signer.keyless needs an issuer and a valid identity_pattern", [n + 3]),
		sprintf("trusted_builders[%d] (no id): signer.key.keys must be a non-empty list of key names", [n + 3]),
	} with data.aspm.trusted_builders as builders
}

test_config_reports_broken_environments if {
	config.errors == {
		"environments must define a default entry",
		"environments.prod: min_level must be 0, 1, 2 or 3",
		"environments.prod: require_sbom must be true or false",
		"environments.prod: weight must be a number from 0",
		"environments.qa: min_level must be 0, 1, 2 or 3",
		"environments.qa: require_sbom must be true or false",
		"environments.qa: weight must be a number from 0",
	} with data.aspm.environments as {"prod": {"min_level": "3", "require_sbom": "yes", "weight": -1}, "qa": {}}
}

test_config_reports_broken_sources if {
	config.errors == {"allowed_sources: ( is not a valid regular expression"} with data.aspm.allowed_sources as ["^https://", "("]
	config.errors == {"allowed_sources must be a list of regular expressions"} with data.aspm.allowed_sources as "^https://"
}

test_config_reports_broken_severities if {
	catalogue := object.union(data.aspm.gap_catalogue, {"tlog.missing": {"severity": "minor"}, "sbom.missing": {"severity": null}})
	config.errors == {
		"gap_catalogue.tlog.missing: severity must be one of critical, high, medium, low",
		"gap_catalogue.sbom.missing: severity must be one of critical, high, medium, low",
		"severity_points.low must be a number",
	} with data.aspm.gap_catalogue as catalogue
		with data.aspm.severity_points as {"critical": 40, "high": 25, "medium": 10}
}
