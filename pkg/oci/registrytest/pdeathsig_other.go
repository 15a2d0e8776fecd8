//go:build !linux

package registrytest

import "os/exec"

// setParentDeathSignal does nothing where the kernel has no parent-death signal; Start's
// cleanup stops the server.
func setParentDeathSignal(*exec.Cmd) {}
