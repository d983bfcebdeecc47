package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at link time by the Makefile (-ldflags "-X main.version=…",
// from git describe); empty, the version comes from the build information
// the Go toolchain records.
var version string

// Version returns this binary's version: the -X override if set, else the
// main module's version from the build information ("v1.2.3", a
// pseudo-version, or "(devel)"), with the VCS revision when recorded.
func Version() string { return resolveVersion(version, debug.ReadBuildInfo) }

func resolveVersion(override string, read func() (*debug.BuildInfo, bool)) string {
	if override != "" {
		return override
	}
	info, ok := read()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	if v == "(devel)" {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " " + rev
			if modified == "true" {
				v += "-dirty"
			}
		}
	}
	return v
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "tally %s (%s, %s/%s)\n", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
