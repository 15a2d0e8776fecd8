// Package deploy holds no code: its tests check the deployment files — docker-compose.yml at the
// repository root and the Kubernetes manifests under deploy/k8s — against the binaries they run.
// It is a module of its own so that the libraries those tests load (compose-go, kustomize) stay
// out of the binaries.
package deploy
