package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	t.Run("defaults are sane", func(t *testing.T) {
		c, err := configFromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if c.RateLimit != 100 || c.RateBurst != 200 || c.RequestTimeout != 10*time.Second || c.WriteTimeout != 30*time.Second ||
			c.ReadTimeout != 30*time.Second || c.IdleTimeout != 2*time.Minute || c.ShutdownTimeout != 20*time.Second {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("settings are read", func(t *testing.T) {
		t.Setenv("TALLY_RATE_LIMIT", "0")
		t.Setenv("TALLY_RATE_BURST", "5")
		t.Setenv("TALLY_REQUEST_TIMEOUT", "2s")
		t.Setenv("TALLY_HTTP_WRITE_TIMEOUT", "3s")
		c, err := configFromEnv()
		if err != nil || c.RateLimit != 0 || c.RateBurst != 5 || c.RequestTimeout != 2*time.Second || c.WriteTimeout != 3*time.Second {
			t.Fatalf("%+v %v", c, err)
		}
	})
	refused := []struct{ name, variable, value, want string }{
		{"a rate must be a number", "TALLY_RATE_LIMIT", "fast", "TALLY_RATE_LIMIT"},
		{"a rate may not be negative", "TALLY_RATE_LIMIT", "-1", "TALLY_RATE_LIMIT"},
		{"a burst must be at least 1", "TALLY_RATE_BURST", "0", "TALLY_RATE_BURST"},
		{"a timeout must be a duration", "TALLY_REQUEST_TIMEOUT", "10", "TALLY_REQUEST_TIMEOUT"},
		{"a timeout must be positive", "TALLY_SHUTDOWN_TIMEOUT", "-1s", "TALLY_SHUTDOWN_TIMEOUT"},
		{"the write timeout must outlast the request timeout", "TALLY_REQUEST_TIMEOUT", "1m", "TALLY_HTTP_WRITE_TIMEOUT"},
		{"a read replica needs a primary (no local mode)", "TALLY_DATABASE_READ_URL", "postgres://replica/tally", "TALLY_DATABASE_READ_URL"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.variable, c.value)
			if _, err := configFromEnv(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
