package main

import (
	"fmt"
	"strings"

	"github.com/tallyledger/tally/projections"
)

const serveUsage = `Usage: tally serve [--local-cluster=replica|citus]

Runs the HTTP API. Without TALLY_DATABASE_URL it runs in local mode: it
starts its own PostgreSQL on the cluster in TALLY_DATA_DIR (default ./.tally),
creating the cluster on first use. Configuration is by environment; see
docs/operations.md.

  --local-cluster=replica   local mode with a primary and a streaming standby
                            that answers reads
  --local-cluster=citus     local mode with a Citus coordinator and two
                            workers, the schema distributed by book
See docs/scale-out.md.
`

const migrateUsage = `Usage: tally migrate

Applies pending database migrations and exits: to TALLY_DATABASE_URL, or in
local mode to the cluster in TALLY_DATA_DIR (default ./.tally), which must
exist already (tally serve creates it).
`

const versionUsage = `Usage: tally version

Prints the version of this tally binary.
`

// commandUsage returns the help text of a subcommand that has one here
// (bench's comes from its flags).
func commandUsage(command string) (string, bool) {
	switch command {
	case "serve":
		return serveUsage, true
	case "migrate":
		return migrateUsage, true
	case "version":
		return versionUsage, true
	case "keys":
		return keysUsage, true
	case "destinations":
		return destinationsUsage, true
	case "verify", "rebuild", "replay", "export":
		return "Usage:" + fmt.Sprintf(auditUsage, strings.Join(projections.Default(nil).Names(), ", ")), true
	}
	return "", false
}

// wantsHelp reports whether args ask for help: -h, -help or --help before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "--h":
			return true
		}
	}
	return false
}
