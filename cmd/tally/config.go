package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tallyledger/tally/httpapi"
)

// The default limit on failed authentications per client address: enough
// for a client with a mistyped key to see its 401s, too few for a flood of
// guessed keys to keep the database busy.
const (
	DefaultUnauthRateLimit = 10
	DefaultUnauthRateBurst = 50
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
	// AdjustmentApproval makes POST /v1/adjustments propose, for a second
	// admin to approve (TALLY_ADJUSTMENT_APPROVAL=required; default optional).
	AdjustmentApproval bool

	// Hardening; docs/operations.md gives the defaults and the reasons.
	RateLimit       float64       // requests per second per owner-bound API key; 0 (the default): unlimited
	RateBurst       int           // bucket size per owner-bound API key; 0: twice RateLimit
	UnauthRateLimit float64       // failed authentications per second per client address; 0: unlimited
	UnauthRateBurst int           // bucket size per client address; 0: twice UnauthRateLimit
	TrustedProxies  []*net.IPNet  // reverse proxies whose X-Forwarded-For names the client
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

	// HoldExpiryInterval is how often the expirer looks for holds past their time.
	HoldExpiryInterval time.Duration
	// Money safety; docs/reliability.md says what they do.
	IdempotencyLease  time.Duration // a two-step request's hold on its Idempotency-Key without renewal
	ReconcileInterval time.Duration // how often pending refunds and withdrawals are checked with their gateways; 0: never
	// JWT enables end-user tokens (TALLY_JWT_*); nil: API keys only.
	JWT *httpapi.JWTConfig

	// Events out (docs/events-out.md).
	NATSURL             string // TALLY_NATS_URL: publish the journal to NATS JetStream
	KafkaBrokers        string // TALLY_KAFKA_BROKERS: publish the journal to Kafka
	WebhookAllowPrivate bool   // TALLY_WEBHOOK_ALLOW_PRIVATE: webhooks may reach private addresses
	// TALLY_WEBHOOK_RETENTION, TALLY_WEBHOOK_FAILED_RETENTION: how long
	// succeeded and failed webhook deliveries are kept.
	WebhookRetention, WebhookFailedRetention time.Duration

	migrateOnly  bool
	existingOnly bool // local mode: use the cluster in DataDir, never create one
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
	switch approval := envOr("TALLY_ADJUSTMENT_APPROVAL", "optional"); approval {
	case "required", "optional":
		c.AdjustmentApproval = approval == "required"
	default:
		return c, fmt.Errorf("TALLY_ADJUSTMENT_APPROVAL must be required or optional, not %q", approval)
	}
	c.NATSURL, c.KafkaBrokers = envOr("TALLY_NATS_URL", ""), envOr("TALLY_KAFKA_BROKERS", "")
	allowPrivate := envOr("TALLY_WEBHOOK_ALLOW_PRIVATE", strconv.FormatBool(c.LocalMode()))
	if c.WebhookAllowPrivate, err = strconv.ParseBool(allowPrivate); err != nil {
		return c, fmt.Errorf("TALLY_WEBHOOK_ALLOW_PRIVATE must be true or false, not %q", allowPrivate)
	}
	c.PublicURL = trimURL(envOr("TALLY_PUBLIC_URL", "http://localhost"+portOf(c.HTTPAddr)))
	if c.RateLimit, err = envFloat("TALLY_RATE_LIMIT", 0); err != nil {
		return c, err
	}
	if c.RateBurst, err = envInt("TALLY_RATE_BURST", 0); err != nil {
		return c, err
	}
	if c.UnauthRateLimit, err = envFloat("TALLY_UNAUTH_RATE_LIMIT", DefaultUnauthRateLimit); err != nil {
		return c, err
	}
	if c.UnauthRateBurst, err = envInt("TALLY_UNAUTH_RATE_BURST", DefaultUnauthRateBurst); err != nil {
		return c, err
	}
	if c.TrustedProxies, err = envCIDRs("TALLY_TRUSTED_PROXIES"); err != nil {
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
		{"TALLY_HOLD_EXPIRY_INTERVAL", &c.HoldExpiryInterval, 10 * time.Second},
		{"TALLY_IDEMPOTENCY_LEASE", &c.IdempotencyLease, 30 * time.Second},
		{"TALLY_RECONCILE_INTERVAL", &c.ReconcileInterval, time.Minute},
		{"TALLY_WEBHOOK_RETENTION", &c.WebhookRetention, 30 * 24 * time.Hour},
		{"TALLY_WEBHOOK_FAILED_RETENTION", &c.WebhookFailedRetention, 90 * 24 * time.Hour},
	} {
		if *d.dst, err = envDuration(d.name, d.def); err != nil {
			return c, err
		}
	}
	if c.JWT, err = jwtFromEnv(); err != nil {
		return c, err
	}
	return c, c.check()
}

// check refuses settings that contradict each other.
func (c Config) check() error {
	if c.ReadDatabaseURL != "" && c.LocalMode() {
		return fmt.Errorf("TALLY_DATABASE_READ_URL is a replica of TALLY_DATABASE_URL: set both, or neither for local mode")
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		return fmt.Errorf("TALLY_RATE_LIMIT and TALLY_RATE_BURST must be ≥ 0 (a limit of 0: unlimited; a burst of 0: twice the limit)")
	}
	if c.UnauthRateLimit < 0 || c.UnauthRateBurst < 0 {
		return fmt.Errorf("TALLY_UNAUTH_RATE_LIMIT and TALLY_UNAUTH_RATE_BURST must be ≥ 0 (a limit of 0: unlimited; a burst of 0: twice the limit)")
	}
	// A request must be able to answer its own 503 before the server cuts
	// the connection, or the client sees a reset instead of a retryable error.
	if c.WriteTimeout <= c.RequestTimeout {
		return fmt.Errorf("TALLY_HTTP_WRITE_TIMEOUT (%s) must be longer than TALLY_REQUEST_TIMEOUT (%s)", c.WriteTimeout, c.RequestTimeout)
	}
	return nil
}

// MinAdminKeyLength is the shortest TALLY_ADMIN_KEY served outside local mode.
const MinAdminKeyLength = 32

// exampleAdminKeys are keys printed in the docs and the Makefile: anyone
// can read them, so they are refused outside local mode.
var exampleAdminKeys = map[string]bool{"dev-admin-key": true}

// checkAdminKey refuses a missing admin key, and outside local mode (where
// the key guards a shared database) a short or documented one, saying how
// to make a good one.
func (c Config) checkAdminKey() error {
	const howTo = "make one with `openssl rand -hex 32` and keep it in your secret store"
	switch {
	case c.AdminKey == "":
		return errors.New("TALLY_ADMIN_KEY is not set: set it to a long random secret (make run sets a development key); " + howTo)
	case c.LocalMode():
		return nil
	case exampleAdminKeys[c.AdminKey]:
		return fmt.Errorf("TALLY_ADMIN_KEY is %q, the development key from the docs, and TALLY_DATABASE_URL is set: "+
			"outside local mode anyone who read the docs would hold every scope; %s", c.AdminKey, howTo)
	case len(c.AdminKey) < MinAdminKeyLength:
		return fmt.Errorf("TALLY_ADMIN_KEY has %d characters and TALLY_DATABASE_URL is set: outside local mode it must have at least %d, "+
			"so that it cannot be guessed; %s", len(c.AdminKey), MinAdminKeyLength, howTo)
	}
	return nil
}

// envCIDRs reads a comma-separated list of CIDRs ("10.0.0.0/8") or single
// addresses.
func envCIDRs(name string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range strings.Split(envOr(name, ""), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an address or a CIDR such as 10.0.0.0/8", name, s)
		}
		out = append(out, n)
	}
	return out, nil
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
