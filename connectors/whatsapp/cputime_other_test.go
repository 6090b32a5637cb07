//go:build !unix

package whatsapp

import "time"

func cpuTime() time.Duration { return 0 }
