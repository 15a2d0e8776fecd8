//go:build unix

package bench

import (
	"runtime"
	"syscall"
)

// peakRSS is the process's peak resident set size in bytes (getrusage maxrss).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return ru.Maxrss // bytes there, kilobytes elsewhere
	}
	return ru.Maxrss * 1024
}
