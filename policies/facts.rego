# METADATA
# title: Facts about the input
# description: |
#   Normalized views of the policy input (artifact, environment, evidence) and accessors that
#   tolerate the fields the Go side omits when empty. Every other package reads the input
#   through this one.
#
#   The scorer evaluates these rules for every artifact in every environment, and in OPA each
#   rule evaluated, rule referenced and function called costs far more than an expression on
#   local variables. So the evidence is sorted into its sets once, in one rule (index), which
#   the other packages read; the rules usable, sboms etc. name the same sets for readers.
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

# index sorts the evidence, by position in evidence, into the sets the other rules read:
#   provenance  every provenance document (P)
#   usable      provenance that names the artifact and parsed (M), as {index: document}
#   verified    the usable provenance whose signature verified, as {index: document}
#   mismatched  parsed provenance that names other digests
#   sboms       SBOMs that name the artifact and parsed, as {index: document}
#   malformed   documents that could not be parsed, as {index: reason}
#   ignored     the documents the decision sets aside: malformed or mismatched
#   order       every index, sorted by document id, then position, so that everything derived
#               from the evidence comes out in the same order for the same input
# and counts provenance, usable and sboms (provenance_count, usable_count, sbom_count).
index := {
	"provenance": provenance_docs,
	"usable": usable_docs,
	"verified": {i: e | some i, e in usable_docs; e.verification.verified == true},
	"mismatched": mismatched_docs,
	"sboms": sbom_docs,
	"malformed": malformed_docs,
	"ignored": ({i | some i, _ in malformed_docs} | mismatched_docs),
	"order": [pair[1] | some pair in sort([[object.get(e, "id", ""), i] | some i, e in docs])],
	"provenance_count": count(provenance_docs),
	"usable_count": count(usable_docs),
	"sbom_count": count(sbom_docs),
} if {
	docs := evidence
	malformed_docs := {i: reason |
		some i, e in docs
		reason := object.get(e, "malformed", "")
		reason != ""
	}
	provenance_docs := {i | some i, e in docs; e.kind == "provenance"}
	usable_docs := {i: e |
		some i in provenance_docs
		e := docs[i]
		e.subject_match == true
		not malformed_docs[i]
	}
	mismatched_docs := {i |
		some i in provenance_docs
		not docs[i].subject_match
		not malformed_docs[i]
	}
	sbom_docs := {i: e |
		some i, e in docs
		e.kind == "sbom"
		e.subject_match == true
		not malformed_docs[i]
	}
}

# order lists the indexes of evidence sorted by document id, then position.
order := index.order

# provenance holds the indexes of every provenance document (P).
provenance := index.provenance

# usable holds the indexes of provenance documents that name the artifact and parsed (M).
usable := {i | some i, _ in index.usable}

# verified_usable holds the indexes in usable whose signature verified.
verified_usable := {i | some i, _ in index.verified}

# sboms holds the indexes of SBOMs that name the artifact and parsed.
sboms := {i | some i, _ in index.sboms}

# malformed_docs holds the indexes of documents that could not be parsed.
malformed_docs := {i | some i, _ in index.malformed}

# mismatched holds the indexes of parsed provenance documents that name other digests.
mismatched := index.mismatched

# ignored holds the indexes of the documents the decision sets aside.
ignored := index.ignored

# usable_count, provenance_count and sbom_count count usable, provenance and sboms.
usable_count := index.usable_count

provenance_count := index.provenance_count

sbom_count := index.sbom_count

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
signer_field(e, name) := object.get(e, ["verification", "signer", name], "")

# builder_id is the builder the provenance e names, or "".
builder_id(e) := object.get(e, ["provenance", "builder_id"], "")

# runner is the runner environment of e's keyless certificate, or "".
runner(e) := object.get(e, ["verification", "signer", "runner_environment"], "")

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
nonempty(s, fallback) := s if {
	s != ""
} else := fallback

# id is e's document id, for messages.
id(e) := object.get(e, "id", "(no id)")
