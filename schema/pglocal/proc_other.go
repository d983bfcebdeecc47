//go:build !unix

package pglocal

import (
	"errors"
	"os"
	"syscall"
)

// errUnsupported: local mode relies on Unix process and permission handling.
var errUnsupported = errors.New("pglocal: local mode needs Linux, macOS or another Unix; set TALLY_DATABASE_URL to an existing server")

type account struct{ name string }

func serverAccount() (*account, error)                      { return nil, errUnsupported }
func procAttr(*account) *syscall.SysProcAttr                { return nil }
func prepareDataDir(string, *account) (string, bool, error) { return "", false, errUnsupported }
func pidAlive(int) bool                                     { return true }
func looksLikePostgres(int) bool                            { return true }
func fastShutdown(p *os.Process) error                      { return p.Kill() }
func immediateShutdown(p *os.Process) error                 { return p.Kill() }
