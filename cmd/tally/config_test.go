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
		if c.RateLimit != 0 || c.RateBurst != 0 || c.UnauthRateLimit != DefaultUnauthRateLimit || c.RequestTimeout != 10*time.Second || c.WriteTimeout != 30*time.Second ||
			c.ReadTimeout != 30*time.Second || c.IdleTimeout != 2*time.Minute || c.ShutdownTimeout != 20*time.Second {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("settings are read", func(t *testing.T) {
		t.Setenv("TALLY_RATE_LIMIT", "0")
		t.Setenv("TALLY_UNAUTH_RATE_LIMIT", "0")
		t.Setenv("TALLY_RATE_BURST", "5")
		t.Setenv("TALLY_REQUEST_TIMEOUT", "2s")
		t.Setenv("TALLY_HTTP_WRITE_TIMEOUT", "3s")
		c, err := configFromEnv()
		if err != nil || c.RateLimit != 0 || c.RateBurst != 5 || c.UnauthRateLimit != 0 || c.RequestTimeout != 2*time.Second || c.WriteTimeout != 3*time.Second {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("webhook deliveries are kept 30 days, failed ones 90, unless set", func(t *testing.T) {
		c, err := configFromEnv()
		if err != nil || c.WebhookRetention != 30*24*time.Hour || c.WebhookFailedRetention != 90*24*time.Hour {
			t.Fatalf("%v %v %v", c.WebhookRetention, c.WebhookFailedRetention, err)
		}
		t.Setenv("TALLY_WEBHOOK_RETENTION", "168h")
		t.Setenv("TALLY_WEBHOOK_FAILED_RETENTION", "720h")
		c, err = configFromEnv()
		if err != nil || c.WebhookRetention != 7*24*time.Hour || c.WebhookFailedRetention != 30*24*time.Hour {
			t.Fatalf("%v %v %v", c.WebhookRetention, c.WebhookFailedRetention, err)
		}
	})
	t.Run("trusted proxies are addresses or CIDRs", func(t *testing.T) {
		t.Setenv("TALLY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::1")
		c, err := configFromEnv()
		if err != nil || len(c.TrustedProxies) != 3 || c.TrustedProxies[1].String() != "192.0.2.7/32" || c.TrustedProxies[2].String() != "2001:db8::1/128" {
			t.Fatalf("%v %v", c.TrustedProxies, err)
		}
	})
	refused := []struct{ name, variable, value, want string }{
		{"a rate must be a number", "TALLY_RATE_LIMIT", "fast", "TALLY_RATE_LIMIT"},
		{"a rate may not be negative", "TALLY_RATE_LIMIT", "-1", "TALLY_RATE_LIMIT"},
		{"a burst may not be negative", "TALLY_RATE_BURST", "-1", "TALLY_RATE_BURST"},
		{"an address's rate may not be negative", "TALLY_UNAUTH_RATE_LIMIT", "-1", "TALLY_UNAUTH_RATE_LIMIT"},
		{"trusted proxies must be addresses or CIDRs", "TALLY_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local", "TALLY_TRUSTED_PROXIES"},
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
