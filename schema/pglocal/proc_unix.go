//go:build unix

package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the unprivileged user PostgreSQL runs as when we are root
// (postgres refuses to run as root).
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32 // supplementary groups
}

// serverAccount returns the account to drop to: nil when not running as
// root, else "postgres" or, failing that, "nobody".
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", name, err))
			continue
		}
		a := &account{name: name, uid: uint32(uid), gid: uint32(gid)}
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != a.gid {
					a.groups = append(a.groups, uint32(g))
				}
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("pglocal: running as root, and PostgreSQL refuses to: found neither a postgres nor a nobody user to run it as (%w)", errors.Join(errs...))
}

func procAttr(a *account) *syscall.SysProcAttr {
	// Own process group: a terminal's Ctrl-C reaches only us, and we stop
	// the server after we are done with it rather than in the same instant.
	attr := &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(attr)
	if a != nil {
		// Groups is set (even empty) so that root's supplementary groups are
		// dropped too.
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: append([]uint32{}, a.groups...)}
	}
	return attr
}

// prepareDataDir creates dir (0700; missing parents 0755 so that a dropped-to
// user can traverse them) and, when running as root, checks that account a
// can reach it and hands it over. It returns dir with symlinks resolved.
func prepareDataDir(dir string, a *account) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if a == nil {
		return dir, nil
	}
	// We refuse rather than relocate the cluster: data silently living
	// somewhere other than the configured directory is worse than an error.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("pglocal: %w", err)
		}
		if !a.canSearch(fi) {
			return "", fmt.Errorf("pglocal: running as root, so PostgreSQL runs as user %s, which cannot reach %s: directory %s (mode %v) is not searchable by it; "+
				"use a data directory it can reach (for Tally: TALLY_DATA_DIR=/var/lib/tally make run), or allow it with chmod o+x %s",
				a.name, dir, p, fi.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	if err := os.Chown(dir, int(a.uid), int(a.gid)); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	// A cluster created by a run under another user must change hands too:
	// postgres insists on owning its data directory.
	pgdata := filepath.Join(dir, "pgdata")
	if fi, err := os.Stat(pgdata); err == nil && fi.Sys().(*syscall.Stat_t).Uid != a.uid {
		err := filepath.WalkDir(pgdata, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(a.uid), int(a.gid))
		})
		if err != nil {
			return "", fmt.Errorf("pglocal: hand %s to user %s: %w", pgdata, a.name, err)
		}
	}
	return dir, nil
}

// canSearch reports whether a may traverse directory fi, by the classic
// owner/group/other rule (ACLs are not considered).
func (a *account) canSearch(fi fs.FileInfo) bool {
	st := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return mode&0o100 != 0
	case st.Gid == a.gid || containsGID(a.groups, st.Gid):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

func containsGID(gids []uint32, g uint32) bool {
	for _, x := range gids {
		if x == g {
			return true
		}
	}
	return false
}

// pidAlive reports whether a process with this pid exists (EPERM: it does,
// but belongs to someone else) and has not exited: a zombie is dead.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return (err == nil || errors.Is(err, syscall.EPERM)) && !zombie(pid)
}

// fastShutdown asks postgres for a fast shutdown: end sessions, checkpoint,
// exit.
func fastShutdown(p *os.Process) error { return p.Signal(syscall.SIGINT) }

// immediateShutdown asks postgres to quit without a checkpoint.
func immediateShutdown(p *os.Process) error { return p.Signal(syscall.SIGQUIT) }
