package main

import (
	"os"
	"runtime/debug"
)

// serverGCPercent is the GOGC a server runs with unless GOGC is set. A
// request allocates a few kilobytes that die with it, over a live heap of
// tens of megabytes: at Go's default of 100 the collector ran about twice
// a second under load and took 11% of the server's CPU. At 400 it runs a
// fifth as often, for about 4× the live heap in memory (a few hundred
// megabytes at most); docs/benchmarks.md has the measurement.
const serverGCPercent = 400

// tuneGC sets serverGCPercent unless the operator chose GOGC.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}
