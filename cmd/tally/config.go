package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
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
	}
	if err := c.LogLevel.UnmarshalText([]byte(envOr("TALLY_LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("TALLY_LOG_LEVEL: %w (use debug, info, warn or error)", err)
	}
	sandbox := envOr("TALLY_SANDBOX", strconv.FormatBool(c.LocalMode()))
	var err error
	if c.Sandbox, err = strconv.ParseBool(sandbox); err != nil {
		return c, fmt.Errorf("TALLY_SANDBOX must be true or false, not %q", sandbox)
	}
	c.PublicURL = trimURL(envOr("TALLY_PUBLIC_URL", "http://localhost"+portOf(c.HTTPAddr)))
	return c, nil
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
