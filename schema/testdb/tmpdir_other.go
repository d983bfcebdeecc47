//go:build !linux

package testdb

// tmpRoot returns "": the system temp directory.
func tmpRoot() string { return "" }
