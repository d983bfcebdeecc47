// Command tally is the Tally ledger service: one binary whose subcommands
// serve the API and run operations. It only wires packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tallyledger/tally/projections"
)

const usage = `tally — an event-sourced double-entry ledger

Usage:
  tally serve     run the HTTP API (local mode when TALLY_DATABASE_URL is unset;
                  --local-cluster=replica|citus: a local primary and standby, or a
                  Citus coordinator and two workers, see docs/scale-out.md)
  tally migrate   apply database migrations and exit
  tally keys      create, list and revoke API keys (tally keys help)
  tally subscriptions   list webhook subscriptions, their deliveries, replay (tally subscriptions help)
  tally destinations erase ID   erase a withdrawal destination's bank details
  tally verify | rebuild | replay | export   audit and replay (below)
  tally bench     measure throughput and latency against pgbench (tally bench -h)
  tally version   print the version

Every command takes --help. Configuration is by environment; see
docs/operations.md.
`

func main() {
	if os.Getenv(loadChildEnv) != "" {
		// tally bench's load generator (bench_apart.go).
		os.Exit(loadChild(context.Background(), os.Stdin, os.Stdout))
	}
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Help never touches a database.
	if text, ok := commandUsage(os.Args[1]); ok && wantsHelp(os.Args[2:]) {
		fmt.Print(text)
		return
	}
	var err error
	switch os.Args[1] {
	case "serve":
		var cluster string
		if cluster, err = parseServeFlags(os.Args[2:]); errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "tally serve: %v\n\n%s", err, serveUsage)
			os.Exit(2)
		}
		if err == nil {
			err = serve(ctx, cluster)
		}
	case "migrate", "version":
		if len(os.Args) > 2 {
			text, _ := commandUsage(os.Args[1])
			fmt.Fprintf(os.Stderr, "tally %s: unexpected arguments %v\n\n%s", os.Args[1], os.Args[2:], text)
			os.Exit(2)
		}
		if os.Args[1] == "migrate" {
			err = migrateOnly(ctx)
		} else {
			printVersion(os.Stdout)
		}
	case "keys":
		if err = keysCommand(ctx, os.Args[2:], os.Stdout); errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "tally: %v\n\n%s", err, keysUsage)
			os.Exit(2)
		}
	case "subscriptions":
		if err = subscriptionsCommand(ctx, os.Args[2:], os.Stdout); errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "tally: %v\n\n%s", err, subscriptionsUsage)
			os.Exit(2)
		}
	case "destinations":
		if err = destinationsCommand(ctx, os.Args[2:], os.Stdout); errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "tally: %v\n\n%s", err, destinationsUsage)
			os.Exit(2)
		}
	case "verify", "rebuild", "replay", "export":
		code := runAudit(ctx, os.Args[1], os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	case "bench":
		err = bench(ctx, os.Args[2:])
	case "--version", "-version":
		printVersion(os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		fmt.Printf(auditUsage, strings.Join(projections.Default(nil).Names(), ", "))
		return
	default:
		fmt.Fprintf(os.Stderr, "tally: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "tally:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, localCluster string) error {
	tuneGC()
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	if cfg.LocalCluster = localCluster; localCluster != "" && !cfg.LocalMode() {
		return fmt.Errorf("serve: --local-cluster starts local servers: unset TALLY_DATABASE_URL")
	}
	m := NewMain(cfg)
	defer m.Close()
	if err := m.Run(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func migrateOnly(ctx context.Context) error {
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	cfg.migrateOnly, cfg.existingOnly = true, true
	m := NewMain(cfg)
	defer m.Close()
	return m.Run(ctx)
}
