//go:build race

package main

// raceEnabled says the tests run with the race detector, so the server they
// build and start is built with it too.
const raceEnabled = true
