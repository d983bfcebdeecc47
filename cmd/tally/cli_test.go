package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// runCLI runs the real tally binary in dir with no TALLY_ or PG variables
// but extraEnv, and returns its output and exit code.
func runCLI(t *testing.T, dir string, extraEnv []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(tallyBinary(t), args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TALLY_") && !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("tally %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// `tally verify` from the wrong directory used to initialise an empty
// cluster there and report "OK: every check passed". Commands that read a
// database fail instead, name the directory they looked in, and create
// nothing.
func TestReadingCommandsNeverCreateADatabase(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"verify"}, {"verify", "--json"}, {"replay"}, {"export", "--format", "jsonl"},
		{"rebuild"}, {"keys", "list"}, {"keys", "create", "--name", "x", "--scopes", "admin"}, {"migrate"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args, " ")+" fails without a cluster", func(t *testing.T) {
			t.Parallel()
			for _, where := range []struct {
				name string
				env  func(dir string) ([]string, string)
			}{
				{"in the working directory", func(dir string) ([]string, string) { return nil, filepath.Join(dir, ".tally") }},
				{"in TALLY_DATA_DIR, empty", func(dir string) ([]string, string) {
					data := filepath.Join(dir, "data")
					if err := os.Mkdir(data, 0o700); err != nil {
						t.Fatal(err)
					}
					return []string{"TALLY_DATA_DIR=" + data}, data
				}},
			} {
				dir := t.TempDir()
				env, lookedIn := where.env(dir)
				before, _ := os.ReadDir(lookedIn)
				stdout, stderr, code := runCLI(t, dir, env, args...)
				if code == 0 {
					t.Errorf("%s: exit 0, want non-zero\nstdout: %s\nstderr: %s", where.name, stdout, stderr)
				}
				if !strings.Contains(stderr, lookedIn) || !strings.Contains(stderr, "TALLY_DATABASE_URL") {
					t.Errorf("%s: stderr %q does not name %s and TALLY_DATABASE_URL", where.name, stderr, lookedIn)
				}
				if strings.Contains(stdout, "OK") {
					t.Errorf("%s: stdout %q", where.name, stdout)
				}
				after, err := os.ReadDir(lookedIn)
				if len(after) != len(before) || (before == nil && !errors.Is(err, os.ErrNotExist)) {
					t.Errorf("%s: %s was created or changed: %d entries before, %d after (%v)", where.name, lookedIn, len(before), len(after), err)
				}
			}
		})
	}
}

// Every subcommand answers --help on standard output with exit 0, without
// touching a database.
func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"help"}, {"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"version", "--help"},
		{"keys", "--help"}, {"keys", "create", "--help"}, {"keys", "list", "-h"}, {"keys", "revoke", "--help"},
		{"verify", "--help"}, {"verify", "--book", "main", "-h"}, {"rebuild", "--help"}, {"replay", "--help"},
		{"export", "--help"}, {"bench", "--help"},
	} {
		t.Run("tally "+strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			stdout, stderr, code := runCLI(t, dir, nil, args...)
			if code != 0 || !strings.Contains(strings.ToLower(stdout), "usage") {
				t.Errorf("exit %d, want 0 with a usage on stdout\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, ".tally")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf(".tally was created: %v", err)
			}
		})
	}
	t.Run("serve with arguments is a usage error, not a server", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, stderr, code := runCLI(t, dir, nil, "serve", "now")
		if code != 2 || !strings.Contains(stderr, "Usage: tally serve") {
			t.Errorf("exit %d, stderr %q; want 2 and the usage", code, stderr)
		}
	})
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := runCLI(t, t.TempDir(), nil, args...)
		if code != 0 || !strings.HasPrefix(stdout, "tally "+e2eVersion+" (go") {
			t.Errorf("tally %v: exit %d, stdout %q, stderr %q; want tally %s (go…)", args, code, stdout, stderr, e2eVersion)
		}
	}
}

func TestResolveVersion(t *testing.T) {
	info := func(version string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/tallyledger/tally", Version: version}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	for _, c := range []struct {
		name, override string
		read           func() (*debug.BuildInfo, bool)
		want           string
	}{
		{"the -X override wins", "v1.4.0-3-gabc", info("v1.3.0"), "v1.4.0-3-gabc"},
		{"a tagged module version", "", info("v1.3.0"), "v1.3.0"},
		{"a devel build names its commit", "", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "false"), "(devel) 0123456789ab"},
		{"a modified devel build says dirty", "", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "(devel) 0123456789ab-dirty"},
		{"no build information", "", func() (*debug.BuildInfo, bool) { return nil, false }, "unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := resolveVersion(c.override, c.read); got != c.want {
				t.Errorf("resolveVersion = %q, want %q", got, c.want)
			}
		})
	}
}
