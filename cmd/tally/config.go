package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Config is everything tally reads from its environment.
type Config struct {
	DatabaseURL string // empty: local mode
	DataDir     string
	HTTPAddr    string
	AdminKey    string
	LogLevel    slog.Level

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
	return c, nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
