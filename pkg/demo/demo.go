// Package demo makes the signed demo world that `aspm up --demo` serves and the end-to-end
// tests run on: a private Sigstore instance (Sigstore), images pushed to an OCI registry with
// SLSA provenance and SBOMs attached as OCI 1.1 referrers, and the deployments that run them.
package demo
