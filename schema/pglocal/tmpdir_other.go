//go:build !linux

package pglocal

// tmpRoot returns "": the system temp directory.
func tmpRoot() string { return "" }
