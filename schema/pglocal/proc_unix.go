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
// user can traverse them) and, when running as root, makes sure account a can
// reach it and hands it over. When a cannot reach dir (a clone under /root,
// say), dir becomes a symlink to a directory a can reach (see relocate). It
// returns dir with symlinks resolved, and whether the cluster was relocated.
func prepareDataDir(dir string, a *account) (string, bool, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", false, fmt.Errorf("pglocal: %w", err)
	}
	if a != nil {
		if err := relocateIfUnreachable(dir, a); err != nil {
			return "", false, err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", false, fmt.Errorf("pglocal: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", false, fmt.Errorf("pglocal: %w", err)
	}
	if a == nil {
		return resolved, false, nil
	}
	relocated := resolved == RelocatedDir(dir)
	if p, mode := a.firstUnsearchable(resolved); p != "" {
		// Only a non-empty directory that was not ours to move ends here.
		return "", false, fmt.Errorf("pglocal: running as root, so PostgreSQL runs as user %s, which cannot reach %s: directory %s (mode %v) is not searchable by it, "+
			"and %s is not empty, so it was not moved to %s; use a data directory it can reach (for Tally: TALLY_DATA_DIR=/var/lib/tally/data make run), "+
			"empty %s, or allow it with chmod o+x %s",
			a.name, resolved, p, mode, resolved, relocationRoot, resolved, p)
	}
	if err := os.Chown(resolved, int(a.uid), int(a.gid)); err != nil {
		return "", false, fmt.Errorf("pglocal: %w", err)
	}
	// A cluster created by a run under another user must change hands too:
	// postgres insists on owning its data directory.
	pgdata := filepath.Join(resolved, "pgdata")
	if fi, err := os.Stat(pgdata); err == nil && fi.Sys().(*syscall.Stat_t).Uid != a.uid {
		err := filepath.WalkDir(pgdata, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(a.uid), int(a.gid))
		})
		if err != nil {
			return "", false, fmt.Errorf("pglocal: hand %s to user %s: %w", pgdata, a.name, err)
		}
	}
	return resolved, relocated, nil
}

// relocateIfUnreachable makes dir a symlink to relocationRoot/<hash of dir>
// (owned by a, 0700) when a cannot traverse dir's parents and dir is missing
// or empty: the usual case is a clone under /root, which is 0700, on a fresh
// machine. A non-empty dir is left alone (prepareDataDir then refuses it):
// moving someone's files is not ours to do.
func relocateIfUnreachable(dir string, a *account) error {
	parent, err := filepath.EvalSymlinks(filepath.Dir(dir))
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	resolved := filepath.Join(parent, filepath.Base(dir))
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		resolved = r
	}
	if p, _ := a.firstUnsearchable(resolved); p == "" {
		return nil
	}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("pglocal: %w", err)
	case !fi.IsDir():
		return nil // a dangling or unreachable symlink, or a file: refused below
	default:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if len(entries) > 0 {
			return nil
		}
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	target := RelocatedDir(dir)
	if err := os.MkdirAll(relocationRoot, 0o755); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Symlink(target, dir); err != nil {
		return fmt.Errorf("pglocal: link %s to %s: %w", dir, target, err)
	}
	return nil
}

// firstUnsearchable returns the first ancestor of dir that a may not
// traverse (or that cannot be read), and its permissions; "" when a can
// reach dir.
func (a *account) firstUnsearchable(dir string) (string, fs.FileMode) {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return p, 0
		}
		if !a.canSearch(fi) {
			return p, fi.Mode().Perm()
		}
		if p == filepath.Dir(p) {
			return "", 0
		}
	}
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
