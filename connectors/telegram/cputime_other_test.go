//go:build !unix

package telegram

import "time"

func cpuTime() time.Duration { return 0 }
