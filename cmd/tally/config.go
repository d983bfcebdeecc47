package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything tally reads from its environment.
type Config struct {
	DatabaseURL string // empty: local mode
	DataDir     string
	HTTPAddr    string
	AdminKey    string
	LogLevel    slog.Level
	// PublicURL is where clients and payers reach Tally; checkout pages of
	// the sandbox gateway live under it.
	PublicURL string
	// Sandbox enables the sandbox gateway; on by default in local mode.
	Sandbox bool

	// Hardening; docs/operations.md gives the defaults and the reasons.
	RateLimit       float64       // requests per second per API key; 0: unlimited
	RateBurst       int           // bucket size per API key
	RequestTimeout  time.Duration // bounds each request, database work included
	ReadTimeout     time.Duration // http.Server: reading a whole request
	WriteTimeout    time.Duration // http.Server: from the end of the request headers to the end of the response
	IdleTimeout     time.Duration // http.Server: keep-alive connections
	ShutdownTimeout time.Duration // how long shutdown waits for requests in flight

	// ReadDatabaseURL, if set, is a streaming replica of DatabaseURL that
	// answers GET requests (docs/scale-out.md).
	ReadDatabaseURL string
	// Citus makes the migrations distribute the schema by book on a Citus
	// coordinator (TALLY_CITUS).
	Citus bool
	// LocalCluster, in local mode, starts "replica" (a primary and a
	// streaming standby) or "citus" (a coordinator and two workers) instead
	// of one server: tally serve --local-cluster.
	LocalCluster string

	migrateOnly bool
}

// LocalMode reports whether tally runs its own PostgreSQL.
func (c Config) LocalMode() bool { return c.DatabaseURL == "" }

func configFromEnv() (Config, error) {
	c := Config{
		DatabaseURL: os.Getenv("TALLY_DATABASE_URL"),
		DataDir:     envOr("TALLY_DATA_DIR", ".tally"),
		HTTPAddr:    envOr("TALLY_HTTP_ADDR", ":8080"),
		AdminKey:    os.Getenv("TALLY_ADMIN_KEY"),

		ReadDatabaseURL: os.Getenv("TALLY_DATABASE_READ_URL"),
	}
	if err := c.LogLevel.UnmarshalText([]byte(envOr("TALLY_LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("TALLY_LOG_LEVEL: %w (use debug, info, warn or error)", err)
	}
	sandbox := envOr("TALLY_SANDBOX", strconv.FormatBool(c.LocalMode()))
	var err error
	if c.Sandbox, err = strconv.ParseBool(sandbox); err != nil {
		return c, fmt.Errorf("TALLY_SANDBOX must be true or false, not %q", sandbox)
	}
	if c.Citus, err = strconv.ParseBool(envOr("TALLY_CITUS", "false")); err != nil {
		return c, fmt.Errorf("TALLY_CITUS must be true or false, not %q", os.Getenv("TALLY_CITUS"))
	}
	c.PublicURL = trimURL(envOr("TALLY_PUBLIC_URL", "http://localhost"+portOf(c.HTTPAddr)))
	if c.RateLimit, err = envFloat("TALLY_RATE_LIMIT", 100); err != nil {
		return c, err
	}
	if c.RateBurst, err = envInt("TALLY_RATE_BURST", 200); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"TALLY_REQUEST_TIMEOUT", &c.RequestTimeout, 10 * time.Second},
		{"TALLY_HTTP_READ_TIMEOUT", &c.ReadTimeout, 30 * time.Second},
		{"TALLY_HTTP_WRITE_TIMEOUT", &c.WriteTimeout, 30 * time.Second},
		{"TALLY_HTTP_IDLE_TIMEOUT", &c.IdleTimeout, 2 * time.Minute},
		{"TALLY_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 20 * time.Second},
	} {
		if *d.dst, err = envDuration(d.name, d.def); err != nil {
			return c, err
		}
	}
	return c, c.check()
}

// check refuses settings that contradict each other.
func (c Config) check() error {
	if c.ReadDatabaseURL != "" && c.LocalMode() {
		return fmt.Errorf("TALLY_DATABASE_READ_URL is a replica of TALLY_DATABASE_URL: set both, or neither for local mode")
	}
	if c.RateLimit < 0 || c.RateBurst < 1 {
		return fmt.Errorf("TALLY_RATE_LIMIT must be ≥ 0 (0: unlimited) and TALLY_RATE_BURST ≥ 1")
	}
	// A request must be able to answer its own 503 before the server cuts
	// the connection, or the client sees a reset instead of a retryable error.
	if c.WriteTimeout <= c.RequestTimeout {
		return fmt.Errorf("TALLY_HTTP_WRITE_TIMEOUT (%s) must be longer than TALLY_REQUEST_TIMEOUT (%s)", c.WriteTimeout, c.RequestTimeout)
	}
	return nil
}

func envFloat(name string, def float64) (float64, error) {
	v := envOr(name, "")
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", name, v)
	}
	return f, nil
}

func envInt(name string, def int) (int, error) {
	v := envOr(name, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", name, v)
	}
	return n, nil
}

func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := envOr(name, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as \"10s\"", name, v)
	}
	return d, nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// portOf returns ":8080" for ":8080" or "0.0.0.0:8080".
func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i:]
	}
	return ""
}
