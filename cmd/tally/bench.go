package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
)

// benchConfig is what the flags of tally bench say.
type benchConfig struct {
	clients       int
	sweep         []int
	duration      time.Duration
	warmup        time.Duration
	wallets       int
	modes         []string
	runs          int
	pgbench       bool
	pgbenchScale  int
	rebuildEvents int64
	out           string
	jsonOut       string
	cpuProfile    string
	memProfile    string
	currency      string
	// retries is the share of single requests sent again, once answered,
	// with the same Idempotency-Key and body (a client retrying after a
	// timeout, a gateway redelivering a webhook).
	retries float64

	// A running Tally instead of an in-process one.
	target         string
	adminKey       string
	databaseURL    string
	paystackSecret string

	// subscribe adds a webhook subscription to a local receiver and
	// reports the delivery lag under the load (bench_subscribe.go).
	subscribe bool

	stdout io.Writer
}

func parseBenchFlags(args []string, stdout io.Writer) (benchConfig, error) {
	c := benchConfig{stdout: stdout}
	fs := flag.NewFlagSet("tally bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&c.clients, "clients", 64, "concurrent keep-alive HTTP clients (when -sweep is not given)")
	sweep := fs.String("sweep", "", "comma-separated client counts to run one after another, e.g. 1,4,16,64")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per run (pgbench runs as long)")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	fs.IntVar(&c.wallets, "wallets", 1000, "wallets to open and fund")
	modes := fs.String("mode", "uniform,hot,webhook", "comma-separated load modes: uniform, hot, webhook, batch (100 transfers per request), hold (create, then capture)")
	fs.IntVar(&c.runs, "runs", 1, "repeat everything this many times and report medians")
	fs.Float64Var(&c.retries, "retries", 0, "uniform, hot and webhook modes: the share of requests sent again once answered, with the same Idempotency-Key and body, as a client retrying after a timeout or a gateway redelivering does (0 to 0.5)")
	fs.BoolVar(&c.pgbench, "pgbench", true, "run pgbench TPC-B-like on the same server after each client count")
	fs.IntVar(&c.pgbenchScale, "pgbench-scale", defaultPGBenchScale, "pgbench -i -s: scale of its scratch database")
	fs.Int64Var(&c.rebuildEvents, "rebuild-events", 100_000, "time a rebuild over this many events (0: skip)")
	fs.StringVar(&c.out, "out", "", "write a chart of throughput and p99 against clients to this SVG file")
	fs.StringVar(&c.jsonOut, "json", "", "write every result as JSON to this file")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the measured load (in-process server only)")
	fs.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile of this process after the load (in-process server only)")
	fs.StringVar(&c.currency, "currency", "USD", "currency of the wallets")
	fs.StringVar(&c.target, "url", "", "benchmark the Tally at this URL instead of starting one in-process")
	fs.StringVar(&c.adminKey, "admin-key", os.Getenv("TALLY_ADMIN_KEY"), "with -url: an API key with the admin scope")
	fs.StringVar(&c.databaseURL, "database-url", os.Getenv("TALLY_DATABASE_URL"), "with -url: its database, for pgbench's scratch database and the rebuild timing")
	fs.BoolVar(&c.subscribe, "subscribe", false, "subscribe a local webhook receiver to every event and report the delivery lag under load")
	fs.StringVar(&c.paystackSecret, "paystack-secret", os.Getenv("TALLY_PAYSTACK_SECRET_KEY"), "with -url: its TALLY_PAYSTACK_SECRET_KEY, to sign webhooks")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.sweep = []int{c.clients}
	if *sweep != "" {
		c.sweep = nil
		for _, f := range strings.Split(*sweep, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return c, fmt.Errorf("-sweep: %q is not a positive number of clients", f)
			}
			c.sweep = append(c.sweep, n)
		}
	}
	for _, m := range strings.Split(*modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case modeUniform, modeHot, modeWebhook, modeBatch, modeHold:
			c.modes = append(c.modes, m)
		default:
			return c, fmt.Errorf("-mode: unknown mode %q (uniform, hot, webhook, batch or hold)", m)
		}
	}
	switch {
	case c.wallets < 2:
		return c, errors.New("-wallets: at least 2")
	case c.runs < 1 || c.duration <= 0:
		return c, errors.New("-runs and -duration must be positive")
	case c.retries < 0 || c.retries > 0.5:
		return c, errors.New("-retries: a share between 0 and 0.5")
	case c.target != "" && c.adminKey == "":
		return c, errors.New("-url needs -admin-key (or TALLY_ADMIN_KEY)")
	case c.target != "" && slices.Contains(c.modes, modeWebhook) && c.paystackSecret == "":
		return c, errors.New("webhook mode against -url needs -paystack-secret (the server's TALLY_PAYSTACK_SECRET_KEY)")
	}
	return c, nil
}

// bench is `tally bench`: the project's performance goal, measured side by
// side with pgbench on the same machine and the same PostgreSQL server.
func bench(ctx context.Context, args []string) error {
	for _, a := range args {
		if a == "-citus" || a == "--citus" {
			return benchCitus(ctx, args, os.Stdout)
		}
	}
	cfg, err := parseBenchFlags(args, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return runBench(ctx, cfg)
}

// benchReport is everything one tally bench measured.
type benchReport struct {
	Machine  machineInfo     `json:"machine"`
	Started  time.Time       `json:"started"`
	Duration time.Duration   `json:"duration_ns"`
	Wallets  int             `json:"wallets"`
	Results  []benchRow      `json:"results"`
	Medians  []benchRow      `json:"medians"`
	Rebuild  []rebuildResult `json:"rebuild,omitempty"`
}

// benchRow is one (run, mode, clients) measurement with pgbench's figure
// for the same client count and run.
type benchRow struct {
	Run int `json:"run"`
	loadResult
	CommandsPerBatch float64 `json:"commands_per_batch,omitempty"`
	// OptimisticShare is the share of batches appended optimistically;
	// Refused counts optimistic attempts PostgreSQL refused (in-process only).
	OptimisticShare float64 `json:"optimistic_share,omitempty"`
	Refused         int64   `json:"refused,omitempty"`
	PGBenchTPS      float64 `json:"pgbench_tps,omitempty"`
	Ratio           float64 `json:"ratio,omitempty"`
	// Delivery is the webhook delivery lag during the run, with -subscribe.
	Delivery *deliveryLag `json:"delivery,omitempty"`
}

func runBench(ctx context.Context, cfg benchConfig) (err error) {
	out := cfg.stdout
	t, err := startBenchTarget(ctx, &cfg)
	if err != nil {
		return err
	}
	defer t.close()
	defer func() {
		if err != nil && t.logs != nil {
			// The in-process server's logs go with its directory: show their ends.
			t.logs(out)
		}
	}()
	report := benchReport{Machine: describeMachine(), Started: time.Now(), Duration: cfg.duration, Wallets: cfg.wallets}
	fmt.Fprintf(out, "tally bench: %s; %d wallets; %s per run after %s warm-up; modes %s; clients %v; %d run(s)\n",
		report.Machine, cfg.wallets, cfg.duration, cfg.warmup, strings.Join(cfg.modes, ","), cfg.sweep, cfg.runs)
	if cfg.retries > 0 {
		fmt.Fprintf(out, "%.1f%% of the uniform, hot and webhook requests are sent again once answered (-retries)\n", 100*cfg.retries)
	}

	wallets, err := fundWallets(ctx, t.base, cfg)
	if err != nil {
		return err
	}
	var sub *benchSubscriber
	if cfg.subscribe {
		if sub, err = startBenchSubscriber(ctx, t.base, cfg.adminKey); err != nil {
			return err
		}
		defer sub.close()
		fmt.Fprintln(out, "subscribed a local webhook receiver to every event (-subscribe)")
	}
	var pg *pgbench
	if cfg.pgbench && t.databaseURL != "" {
		fmt.Fprintf(out, "initialising pgbench (-i -s %d) in a scratch database of the same server…\n", cfg.pgbenchScale)
		if pg, err = newPGBench(ctx, t.databaseURL, cfg.pgbenchScale); err != nil {
			return err
		}
		defer pg.drop(context.WithoutCancel(ctx), t.databaseURL) //nolint:errcheck // best effort
	} else if cfg.pgbench {
		fmt.Fprintln(out, "pgbench skipped: no -database-url for the target's server")
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tmode\tclients\tops/s\tp50 ms\tp99 ms\tp999 ms\terrors\tcmds/batch\toptimistic\tgo µs/op\tpg µs/op\tload µs/op\tpgbench tps\ttally/pgbench\t")
	tw.Flush()
	runID := strconv.FormatInt(time.Now().Unix()%100000, 10)
	meter := &cpuMeter{databaseURL: t.databaseURL}
	for run := 1; run <= cfg.runs; run++ {
		for _, clients := range cfg.sweep {
			var rows []benchRow
			for _, mode := range cfg.modes {
				// Each run's own id keeps its references and keys apart.
				runName := func(run int) string {
					return fmt.Sprintf("%s%d%d%d", runID, run, slices.Index(cfg.modes, mode), clients)
				}
				spec := loadSpec{
					target: t.base, adminKey: cfg.adminKey, mode: mode, clients: clients,
					warmup: cfg.warmup, duration: cfg.duration, wallets: wallets,
					currency: cfg.currency, secret: cfg.paystackSecret, retries: cfg.retries,
					run: runName(run),
				}
				if run == 1 && clients == cfg.sweep[0] && t.databaseURL != "" {
					// Before a mode's first run, its tables get rows and the
					// planner's statistics of them (see seed).
					seeding := spec
					seeding.duration, seeding.run = spec.warmup, runName(0)
					if err := seed(ctx, seeding, t.databaseURL); err != nil {
						return err
					}
				}
				before := t.stats()
				var watched chan deliveryLag
				stop := make(chan struct{})
				if sub != nil {
					watched = make(chan deliveryLag, 1)
					go func() {
						d, err := sub.watch(ctx, stop)
						if err != nil {
							fmt.Fprintln(out, "  delivery lag:", err)
						}
						watched <- d
					}()
				}
				res, err := runLoadApart(ctx, spec, meter, t.main != nil)
				close(stop)
				if err != nil {
					return err
				}
				row := benchRow{Run: run, loadResult: res}
				if watched != nil {
					d := <-watched
					row.Delivery = &d
					fmt.Fprintf(out, "  webhook delivery, %s at %d clients: max lag %d positions, oldest undelivered ≤ %.1f s, drained %.1f s after the load, %d received\n",
						mode, clients, d.MaxLag, d.MaxAge, d.DrainSeconds, d.Received)
				}
				if after := t.stats(); after.Batches > before.Batches {
					batches := float64(after.Batches - before.Batches)
					row.CommandsPerBatch = float64(after.Commands-before.Commands) / batches
					row.OptimisticShare = float64(after.Optimistic-before.Optimistic) / batches
					row.Refused = after.Refused - before.Refused
				}
				rows = append(rows, row)
			}
			if pg != nil {
				tps, err := pg.run(ctx, clients, cfg.duration)
				if err != nil {
					return err
				}
				for i := range rows {
					rows[i].PGBenchTPS, rows[i].Ratio = tps, rows[i].PerSecond/tps
				}
			}
			for _, r := range rows {
				printRow(tw, r)
			}
			tw.Flush()
			for _, r := range rows {
				if r.FirstErr != "" {
					fmt.Fprintf(out, "  %s at %d clients, first error: %s\n", r.Mode, r.Clients, r.FirstErr)
				}
			}
			report.Results = append(report.Results, rows...)
		}
	}
	pprof.StopCPUProfile()
	if cfg.memProfile != "" {
		if err := writeAllocProfile(cfg.memProfile); err != nil {
			return err
		}
	}
	report.Medians = medians(report.Results)
	if cfg.runs > 1 {
		fmt.Fprintf(out, "\nmedians of %d runs:\n", cfg.runs)
		for _, r := range report.Medians {
			printRow(tw, r)
		}
		tw.Flush()
	}

	if t.databaseURL != "" {
		if err := benchVerify(ctx, t.databaseURL, out); err != nil {
			return err
		}
	}
	if cfg.rebuildEvents > 0 && t.databaseURL != "" {
		rs, err := benchRebuild(ctx, t, cfg, wallets, runID)
		if err != nil {
			return err
		}
		report.Rebuild = rs
	}
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, renderChart(chartTitle(report), chartPanels(report.Medians)), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(out, "chart written to", cfg.out)
	}
	if cfg.jsonOut != "" {
		b, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func printRow(w io.Writer, r benchRow) {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	opt := func(v float64, prec int) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	run := strconv.Itoa(r.Run)
	if r.Run == 0 {
		run = "median"
	}
	us := func(d time.Duration) string { return opt(float64(d)/1e3, 0) }
	share := "-"
	if r.CommandsPerBatch > 0 {
		share = strconv.FormatFloat(100*r.OptimisticShare, 'f', 0, 64) + "%"
	}
	fmt.Fprintf(w, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", run, r.Mode, r.Clients, r.PerSecond,
		ms(r.P50), ms(r.P99), ms(r.P999), r.Errors, opt(r.CommandsPerBatch, 1), share, us(r.CPUServerPerOp), us(r.CPUPostgresPerOp), us(r.CPULoadPerOp),
		opt(r.PGBenchTPS, 0), opt(r.Ratio, 2))
}

// medians reduces the runs of each (mode, clients) to the median of each
// figure, taken separately.
func medians(rows []benchRow) []benchRow {
	type key struct {
		mode    string
		clients int
	}
	groups := map[key][]benchRow{}
	var order []key
	for _, r := range rows {
		k := key{r.Mode, r.Clients}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []benchRow
	for _, k := range order {
		g := groups[k]
		med := func(f func(benchRow) float64) float64 {
			v := make([]float64, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		m := benchRow{loadResult: loadResult{Mode: k.mode, Clients: k.clients}}
		m.PerSecond = med(func(r benchRow) float64 { return r.PerSecond })
		m.P50 = time.Duration(med(func(r benchRow) float64 { return float64(r.P50) }))
		m.P99 = time.Duration(med(func(r benchRow) float64 { return float64(r.P99) }))
		m.P999 = time.Duration(med(func(r benchRow) float64 { return float64(r.P999) }))
		m.Ops = int(med(func(r benchRow) float64 { return float64(r.Ops) }))
		m.Errors = int(med(func(r benchRow) float64 { return float64(r.Errors) }))
		m.CommandsPerBatch = med(func(r benchRow) float64 { return r.CommandsPerBatch })
		m.OptimisticShare = med(func(r benchRow) float64 { return r.OptimisticShare })
		m.CPUServerPerOp = time.Duration(med(func(r benchRow) float64 { return float64(r.CPUServerPerOp) }))
		m.CPULoadPerOp = time.Duration(med(func(r benchRow) float64 { return float64(r.CPULoadPerOp) }))
		m.CPUPostgresPerOp = time.Duration(med(func(r benchRow) float64 { return float64(r.CPUPostgresPerOp) }))
		m.PGBenchTPS = med(func(r benchRow) float64 { return r.PGBenchTPS })
		m.Ratio = med(func(r benchRow) float64 { return r.Ratio })
		out = append(out, m)
	}
	return out
}

// benchRebuild makes sure the journal holds enough events (driving more
// uniform transfers if it does not), then times the replay over the first
// quarter and over all of them, so that memory can be seen not to grow with
// the number of events.
func benchRebuild(ctx context.Context, t *benchTarget, cfg benchConfig, wallets []string, runID string) ([]rebuildResult, error) {
	out := cfg.stdout
	pool, err := pgxpool.New(ctx, t.databaseURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	for i := 0; ; i++ {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE book = $1`, ledger.DefaultBook).Scan(&n); err != nil {
			return nil, err
		}
		if n >= cfg.rebuildEvents {
			break
		}
		fmt.Fprintf(out, "journal holds %d events; adding transfers to reach %d…\n", n, cfg.rebuildEvents)
		if _, err := runLoad(ctx, loadSpec{
			target: t.base, adminKey: cfg.adminKey, mode: modeUniform, clients: 64, duration: 5 * time.Second,
			wallets: wallets, currency: cfg.currency, run: fmt.Sprintf("%s9%d", runID, i),
		}); err != nil {
			return nil, err
		}
	}
	var results []rebuildResult
	for _, m := range []int64{cfg.rebuildEvents / 4, cfg.rebuildEvents} {
		r, err := timeRebuild(ctx, pool, ledger.DefaultBook, m)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "rebuild of %d events (%d postings, %d accounts): replay %.0f rows/s (%.0f events/s, %s), "+
			"floor %.0f rows/s (%s), replay/floor %.2f; live heap +%.1f MiB\n",
			r.Events, r.Postings, r.Accounts, r.ReplayRowsPerS, r.ReplayEventsPS, r.Replay.Round(time.Millisecond),
			r.FloorRowsPerS, r.Floor.Round(time.Millisecond), r.Ratio, float64(r.PeakHeapBytes)/(1<<20))
		results = append(results, r)
	}
	return results, nil
}

// seed runs a mode's load unmeasured (spec: the warm-up's length, a run id
// of its own), then ANALYZE, so that the runs plan from statistics of
// tables that hold rows, as a database in service does. A new database has
// none until autovacuum's first pass, a minute in. Analyzed while empty,
// its tables are trusted empty, and the plans cached then (a scan of every
// hold to update one: hold pairs fell from 2 069/s to 895/s at 16 clients)
// stay until autovacuum analyzes them again.
func seed(ctx context.Context, spec loadSpec, databaseURL string) error {
	if _, err := runLoad(ctx, spec); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, "ANALYZE")
	return err
}
