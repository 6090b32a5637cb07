package instance

import (
	"log/slog"
	"runtime"
)

// SchedulerProcs is the GOMAXPROCS serambi runs with, given the value the runtime chose (the CPUs
// it may use) and whether the store is MongoDB.
//
// On the embedded SQLite store every write goes through one writer goroutine, and every request
// waits for it. That goroutine often waits briefly on SQLite's page-cache and shared-memory
// mutexes, which the reader connections take too (modernc's build shares one page-cache group
// between connections). When a reader wakes it, the Go scheduler queues it on that reader's P,
// behind the request goroutines there; with one P per core those queues are long, and an execution
// trace showed the writer sitting runnable for 10-20 ms a few times a second while every request
// waited. Twice as many Ps as cores halves the queues and lets the kernel time-slice the threads:
// at 50 concurrent clients p99 went from 23-25 ms to about 17 ms and throughput up ~10 %
// (docs/BENCHMARKS.md, "Scheduler").
//
// An explicit GOMAXPROCS in the environment is left alone, and so is MongoDB, where writes do not
// meet in one goroutine. Setting it stops the runtime from following a container's CPU limit as
// it changes; the new limit is picked up at the next start.
func SchedulerProcs(current int, explicit, mongo bool) int {
	if explicit || mongo || current < 1 {
		return current
	}
	return 2 * current
}

// TuneScheduler applies SchedulerProcs to this process. The process's owner calls it once at
// start (serambi serve and demo, the load tools' servers): it changes the whole runtime.
func TuneScheduler(getenv func(string) string, mongo bool, log *slog.Logger) {
	current := runtime.GOMAXPROCS(0)
	if n := SchedulerProcs(current, getenv("GOMAXPROCS") != "", mongo); n != current {
		runtime.GOMAXPROCS(n)
		log.Debug("scheduler", "gomaxprocs", n, "cpus", current)
	}
}
