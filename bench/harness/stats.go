package harness

import (
	"fmt"
	"slices"
	"time"
)

// Latencies summarises request times.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0-100) by nearest rank.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Summary is one line of a results table.
func (l Latencies) Summary() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.Percentile(50)), ms(l.Percentile(90)), ms(l.Percentile(99)), ms(l.Percentile(100)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
