# METADATA
# title: Facts about the input
# description: |
#   Normalized views of the policy input (artifact, environment, evidence) and accessors that
#   tolerate the fields the Go side omits when empty. Every other package reads the input
#   through this one.
package aspm.facts

# artifact_digest is the digest of the artifact being scored.
artifact_digest := object.get(input, ["artifact", "digest"], "")

# artifact names the artifact as REPOSITORY@DIGEST, or just the digest when no repository is given.
artifact := sprintf("%s@%s", [input.artifact.repository, artifact_digest]) if {
	input.artifact.repository != ""
} else := artifact_digest

# environment_name is the environment the artifact is scored for: the input's, else the
# deployment's, else "default".
environment_name := input.environment if {
	is_string(input.environment)
	input.environment != ""
} else := input.deployment.environment if {
	is_string(input.deployment.environment)
	input.deployment.environment != ""
} else := "default"

# environment_known is true when data.aspm.environments configures environment_name.
environment_known if data.aspm.environments[environment_name]

# environment holds the requirements for environment_name, falling back to the "default" entry.
environment := data.aspm.environments[environment_name] if {
	environment_known
} else := data.aspm.environments["default"]

# allowed_sources are the regular expressions a source repository must match; empty allows any.
allowed_sources := data.aspm.allowed_sources if {
	is_array(data.aspm.allowed_sources)
} else := []

# evidence is every document collected for the artifact; a missing or null list means none.
evidence := input.evidence if {
	is_array(input.evidence)
} else := []

# order lists the indexes of evidence sorted by document id, then position, so that everything
# derived from evidence comes out in the same order for the same input.
order := [i | some pair in sort([[object.get(e, "id", ""), i] | some i, e in evidence]); i := pair[1]]

# provenance holds the indexes of every provenance document (P).
provenance contains i if {
	some i, e in evidence
	e.kind == "provenance"
}

# usable holds the indexes of provenance documents that name the artifact and parsed (M).
usable contains i if {
	some i in provenance
	matches_artifact(evidence[i])
}

# verified_usable holds the indexes in usable whose signature verified.
verified_usable contains i if {
	some i in usable
	verified(evidence[i])
}

# sboms holds the indexes of SBOMs that name the artifact and parsed.
sboms contains i if {
	some i, e in evidence
	e.kind == "sbom"
	matches_artifact(e)
}

# matches_artifact is true when e names the artifact's digest and could be parsed.
matches_artifact(e) if {
	e.subject_match == true
	malformed(e) == ""
}

# malformed is why e could not be parsed, or "" when it was.
malformed(e) := object.get(e, "malformed", "")

# signed is true when e carries a signature.
signed(e) if e.signed == true

# verified is true when e's signature checked out against trusted material.
verified(e) if e.verification.verified == true

# identity_rejected is true when e's signature checked out but its signer is not an identity
# the organisation expects (ingest's identity policy).
identity_rejected(e) if e.verification.identity_mismatch == true

# signer is who signed e, as verification says; {} when unknown.
signer(e) := object.get(e, ["verification", "signer"], {})

# signer_field is one field of e's signer, or "" when absent.
signer_field(e, name) := object.get(signer(e), name, "")

# builder_id is the builder the provenance e names, or "".
builder_id(e) := object.get(e, ["provenance", "builder_id"], "")

# runner is the runner environment of e's keyless certificate, or "".
runner(e) := signer_field(e, "runner_environment")

# tlog_entries is how many transparency log entries verified with e.
tlog_entries(e) := object.get(e, ["verification", "tlog_entries"], 0)

# source_repository is the repository e was built from: the provenance's, else the certificate's.
source_repository(e) := repo if {
	repo := object.get(e, ["provenance", "source_repository"], "")
	repo != ""
} else := signer_field(e, "source_repository")

# source_digest is the source revision e was built from: the provenance's, else the certificate's.
source_digest(e) := d if {
	d := object.get(e, ["provenance", "source_digest"], "")
	d != ""
} else := signer_field(e, "source_digest")

# subjects_text lists the subjects e names, for messages.
subjects_text(e) := concat(", ", subjects) if {
	subjects := object.get(e, "subjects", [])
	is_array(subjects)
	count(subjects) > 0
} else := "no subjects"

# signer_text describes e's signer, for messages.
signer_text(e) := sprintf("keyless identity %s issued by %s", [signer_field(e, "identity"), signer_field(e, "issuer")]) if {
	signer_field(e, "type") == "keyless"
} else := sprintf("key %s", [signer_field(e, "identity")]) if {
	signer_field(e, "type") == "key"
} else := "no recorded signer"

# nonempty returns s, or fallback when s is "".
nonempty(s, _) := s if s != ""

nonempty(s, fallback) := fallback if s == ""

# id is e's document id, for messages.
id(e) := object.get(e, "id", "(no id)")
