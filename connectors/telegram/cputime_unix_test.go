//go:build unix

package telegram

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used: a benchmark's cost that does
// not depend on how busy the rest of the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
