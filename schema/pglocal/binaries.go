package pglocal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// versionedDirs are where distributions install each major version's server
// binaries, newest preferred: Debian/Ubuntu, then RHEL/PGDG packages. They
// are searched after PATH and before /usr/local/pgsql/bin (a source build).
var versionedDirs = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"}

// fixedDirs are searched after versionedDirs.
var fixedDirs = []string{"/usr/local/pgsql/bin"}

// binaries is a directory holding initdb and postgres.
type binaries struct{ dir string }

func (b binaries) path(name string) string { return filepath.Join(b.dir, name) }

// findBinaries picks the server binaries: the first candidate directory, or,
// for an existing cluster, the first one of the cluster's major version
// (PostgreSQL cannot open another major version's data directory).
func findBinaries(major string) (binaries, error) {
	dirs := candidateDirs()
	if len(dirs) == 0 {
		return binaries{}, fmt.Errorf("pglocal: no PostgreSQL server binaries (initdb and postgres) found on PATH or in %s: "+
			"install them (Debian/Ubuntu: apt-get install postgresql; Fedora/RHEL: dnf install postgresql-server; macOS: brew install postgresql), "+
			"or set TALLY_DATABASE_URL to an existing server",
			strings.Join(append(slices.Clone(versionedDirs), fixedDirs...), ", "))
	}
	if major == "" {
		return binaries{dirs[0]}, nil
	}
	var seen []string
	for _, d := range dirs {
		v := serverMajor(d)
		if v == major {
			return binaries{d}, nil
		}
		seen = append(seen, fmt.Sprintf("%s (version %s)", d, v))
	}
	return binaries{}, fmt.Errorf("pglocal: the cluster was created by PostgreSQL %s, but only found %s: install PostgreSQL %s's server binaries, or upgrade the cluster with pg_upgrade",
		major, strings.Join(seen, ", "), major)
}

// candidateDirs lists directories holding both initdb and postgres, in order
// of preference, without duplicates.
func candidateDirs() []string {
	var dirs []string
	if p, err := exec.LookPath("postgres"); err == nil {
		// PATH often holds symlinks (/usr/local/bin/postgres ->
		// /usr/lib/postgresql/15/bin/postgres): initdb sits next to the target.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if abs, err := filepath.Abs(real); err == nil {
				dirs = append(dirs, filepath.Dir(abs))
			}
		}
	}
	for _, pattern := range versionedDirs {
		matches, _ := filepath.Glob(pattern)
		// The version is the component the * matched, e.g. "15" or "9.6".
		slices.SortFunc(matches, func(a, b string) int { return compareVersions(versionIn(b), versionIn(a)) })
		dirs = append(dirs, matches...)
	}
	dirs = append(dirs, fixedDirs...)

	var found []string
	for _, d := range dirs {
		if !slices.Contains(found, d) && isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			found = append(found, d)
		}
	}
	return found
}

var versionRE = regexp.MustCompile(`\d+(\.\d+)*`)

func versionIn(dir string) string { return versionRE.FindString(dir) }

// compareVersions compares dotted numeric versions ("9.6" < "15").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// serverMajor runs postgres --version and returns its major version in the
// form PG_VERSION uses ("15", or "9.6" before version 10), or "?".
func serverMajor(dir string) string {
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return "?"
	}
	// "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
	v := versionRE.FindString(string(out))
	if v == "" {
		return "?"
	}
	parts := strings.Split(v, ".")
	if n, _ := strconv.Atoi(parts[0]); n < 10 && len(parts) > 1 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
