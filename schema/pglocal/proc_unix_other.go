//go:build unix && !linux

package pglocal

import "syscall"

// setPdeathsig does nothing: only Linux has a portable-enough parent-death
// signal, so elsewhere a server outlives a killed parent until stopped.
func setPdeathsig(*syscall.SysProcAttr) {}

// looksLikePostgres cannot tell without /proc, so it assumes yes: refusing
// to start is the safe mistake.
func looksLikePostgres(int) bool { return true }

// zombie cannot tell without /proc, so it says no: the process counts as
// running, and refusing to start is the safe mistake.
func zombie(int) bool { return false }
