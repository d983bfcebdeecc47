//go:build unix && !linux

package pglocal

import "syscall"

// setPdeathsig does nothing: only Linux has a portable-enough parent-death
// signal, so elsewhere a server outlives a killed parent until stopped.
func setPdeathsig(*syscall.SysProcAttr) {}

// looksLikePostgres cannot tell without /proc, so it assumes yes: refusing
// to start is the safe mistake.
func looksLikePostgres(int) bool { return true }
