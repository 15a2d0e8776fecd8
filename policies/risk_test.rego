# Tests of the risk score: severity points times the environment's weight.
package aspm_test

test_risk_is_zero_without_gaps if {
	decide("prod", clean).risk == 0
}

test_risk_prod_weight_one if {
	# provenance.missing (high 25) + level.below_required (high 25) + sbom.missing (medium 10)
	d := decide("prod", [])
	count(d.gaps) == 3
	d.risk == 60
}

test_risk_staging_rounds_to_nearest if {
	# (25 + 25 + 3 for sbom.missing, low in staging) * 0.6 = 31.8
	decide("staging", []).risk == 32
}

test_risk_dev_rounds_down if {
	# (25 + 25 + 3) * 0.3 = 15.9; then one low gap: 3 * 0.3 = 0.9
	decide("dev", []).risk == 16
	decide("dev", [attested_provenance("sha256:a1", release_workflow)]).risk == 1
}

test_risk_rounds_half_up if {
	# unknown environment, weight 0.5: (25 + 25 + 3) * 0.5 = 26.5
	decide("qa", []).risk == 27
}

test_risk_is_capped_at_100 if {
	invalid := {"verification": {"verified": false, "error": "bad"}}
	evidence := [object.union(generator_provenance(id), invalid) | some id in ["sha256:a1", "sha256:a2", "sha256:a3"]]
	d := decide("prod", evidence)
	count(gaps_with(d, "signature.invalid")) == 3
	d.risk == 100
}

test_risk_uses_the_points_table if {
	points := {"critical": 0, "high": 1, "medium": 0, "low": 0}
	decide("prod", []).risk == 2 with data.aspm.severity_points as points
}

test_risk_uses_the_environment_weight if {
	envs := object.union(data.aspm.environments, {"prod": {"weight": 0.1}})
	decide("prod", []).risk == 6 with data.aspm.environments as envs
}
