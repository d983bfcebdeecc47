// Package httpapi is Tally's HTTP API (Echo v4): routes, authentication,
// idempotency, problem+json errors and the embedded OpenAPI document. It is
// thin: decode, authorize, hand a command to the journal, encode.
package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/projections/sinks"
	"golang.org/x/sync/singleflight"
)

// Config wires the API to the ledger.
type Config struct {
	Journal  *pgjournal.Journal
	Store    *pgjournal.Store
	AdminKey string
	// Gateways are the enabled payment gateways, by name.
	Gateways gateways.Set
	// Sandbox, when set, serves the sandbox gateway's checkout pages under /sandbox/.
	Sandbox http.Handler
	Logger  *slog.Logger
	// Ready reports whether the service can take traffic (database reachable,
	// migrations applied); /readyz answers 503 with its error otherwise.
	Ready func(ctx context.Context) error
	// Keys stores API keys; nil: only AdminKey authenticates and there are no key routes.
	Keys *pgjournal.Keys
	// Metrics are served at /metrics; nil: New makes its own.
	Metrics *Metrics
	// RateLimit is the sustained requests per second of each key bound to
	// an owner, and RateBurst its bucket size (0: twice RateLimit);
	// RateLimit 0 means unlimited. Keys without an owner, the admin key
	// among them, are never limited.
	RateLimit float64
	RateBurst int
	// UnauthRateLimit is how many failed authentication attempts per second
	// each client address may make, sustained, and UnauthRateBurst its bucket
	// size (0: twice UnauthRateLimit); UnauthRateLimit 0 means unlimited.
	// Past it, requests from that address answer 429 without a key lookup
	// (the admin key excepted). See docs/auth.md.
	UnauthRateLimit float64
	UnauthRateBurst int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client, for the failed-authentication limit; empty: the client is the
	// TCP peer and forwarding headers are ignored.
	TrustedProxies []*net.IPNet
	// RequestTimeout bounds each request, database work included; a request
	// past it answers 503 unavailable. Zero: 10s.
	RequestTimeout time.Duration
	// Projections serve verify and statements (see auditRoutes).
	Projections *projections.Set
	// AdjustmentApproval makes POST /v1/adjustments propose rather than
	// post: a different admin key must approve (TALLY_ADJUSTMENT_APPROVAL=required).
	AdjustmentApproval bool
	// Sessions, with Projections, serves the finance console at /console
	// (see consolemount.go); nil: no console.
	Sessions *pgjournal.Sessions
	// JWT, when set, accepts end-users' JWTs as owner-bound principals (jwt.go).
	JWT *JWTVerifier
	// Version is shown on the landing page (GET /); may be empty.
	Version string
	// InProgressLease is how long a two-step request holds its
	// Idempotency-Key without renewing it. Zero: DefaultInProgressLease.
	InProgressLease time.Duration
	// Subscriptions stores webhook subscriptions; nil: no subscription routes.
	Subscriptions *sinks.Subscriptions
}

// DefaultRequestTimeout is the request timeout when Config leaves it unset.
const DefaultRequestTimeout = 10 * time.Second

// Server is the HTTP API.
type Server struct {
	echo     *echo.Echo
	journal  *pgjournal.Journal
	store    *pgjournal.Store
	auth     *authenticator
	inflight *inflight
	lease    time.Duration
	gateways gateways.Set
	captures singleflight.Group // one capture call per approved payment at a time (capture.go)
	log      *slog.Logger
	ready    func(ctx context.Context) error

	metrics        *Metrics
	limiter        *limiter // per owner-bound key
	unauthLimiter  *limiter // failed authentications per client address
	approval       bool     // adjustments need a second admin (see proposals.go)
	console        bool     // the finance console is mounted
	requestTimeout time.Duration
	routeScopes    map[string]Scope // "METHOD /v1/path" → the scope it needs
	routes         map[string]bool  // "METHOD /path" of every route, for metric labels
	version        string           // for the landing page
	subscriptions  *sinks.Subscriptions
}

// New builds the API and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.InProgressLease <= 0 {
		cfg.InProgressLease = DefaultInProgressLease
	}
	s := &Server{
		lease:    cfg.InProgressLease,
		echo:     echo.New(),
		journal:  cfg.Journal,
		store:    cfg.Store,
		auth:     &authenticator{adminKey: cfg.AdminKey, keys: cfg.Keys, jwt: cfg.JWT},
		inflight: newInflight(),
		gateways: cfg.Gateways,
		log:      cfg.Logger,
		ready:    cfg.Ready,

		metrics:        cfg.Metrics,
		limiter:        newLimiter(cfg.RateLimit, cfg.RateBurst),
		unauthLimiter:  newLimiter(cfg.UnauthRateLimit, cfg.UnauthRateBurst),
		requestTimeout: cfg.RequestTimeout,
		routeScopes:    map[string]Scope{},
		approval:       cfg.AdjustmentApproval,
		version:        cfg.Version,
		subscriptions:  cfg.Subscriptions,
	}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if len(cfg.TrustedProxies) > 0 {
		// Only the listed proxies: Echo would trust private ranges by default.
		trust := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range cfg.TrustedProxies {
			trust = append(trust, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(trust...)
	}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.requestLog, s.harden, s.readRouting)

	e.GET("/", s.landing)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)
	// Unauthenticated, as Prometheus scrapes expect; see docs/operations.md.
	e.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))

	// Authentication is per route, not on a /v1 group: Echo answers a group
	// with a catch-all that would turn 405s into 404s.
	v1 := func(method, path string, h echo.HandlerFunc, scope Scope) {
		s.routeScopes[method+" /v1"+path] = scope
		e.Add(method, "/v1"+path, h, s.authenticate, s.rateLimit, require(scope))
	}
	v1("POST", "/accounts", s.openAccount, ScopeAccountsWrite)
	v1("GET", "/accounts", s.listAccounts, ScopeAccountsRead)
	v1("GET", "/accounts/:id", s.getAccount, ScopeAccountsRead)
	v1("GET", "/accounts/:id/balance", s.getBalance, ScopeAccountsRead)
	v1("GET", "/accounts/:id/entries", s.listEntries, ScopeAccountsRead)
	v1("POST", "/accounts/:id/freeze", s.changeStatus(ledger.Freeze), ScopeAdmin)
	v1("POST", "/accounts/:id/unfreeze", s.changeStatus(ledger.Unfreeze), ScopeAdmin)
	v1("POST", "/accounts/:id/close", s.changeStatus(ledger.Close), ScopeAdmin)
	v1("PATCH", "/accounts/:id", s.patchAccount, ScopeAdmin)
	v1("POST", "/transfers", s.createTransfer, ScopeTransfersWrite)
	v1("GET", "/transfers", s.listTransfers, ScopeAccountsRead)
	v1("GET", "/transfers/:id", s.getTransfer, ScopeAccountsRead)
	v1("POST", "/adjustments", s.createAdjustment, ScopeAdmin)
	v1("GET", "/adjustments/proposals", s.listProposals, ScopeAdmin)
	v1("GET", "/adjustments/proposals/:id", s.getProposal, ScopeAdmin)
	v1("POST", "/adjustments/proposals/:id/approve", s.decideProposal(false), ScopeAdmin)
	v1("POST", "/adjustments/proposals/:id/reject", s.decideProposal(true), ScopeAdmin)
	v1("GET", "/events", s.listEvents, ScopeEventsRead)
	v1("POST", "/deposits", s.createDeposit, ScopeDepositsWrite)
	v1("GET", "/deposits", s.listDeposits, ScopeAccountsRead)
	v1("GET", "/deposits/:id", s.getDeposit, ScopeAccountsRead)
	v1("POST", "/refunds", s.createRefund, ScopeRefundsWrite)
	v1("GET", "/refunds", s.listRefunds, ScopeAccountsRead)
	v1("GET", "/refunds/:id", s.getRefund, ScopeAccountsRead)
	s.holdRoutes(v1)
	v1("POST", "/withdrawals", s.createWithdrawal, ScopeWithdrawalsWrite)
	v1("GET", "/withdrawals", s.listWithdrawals, ScopeAccountsRead)
	v1("GET", "/withdrawals/:id", s.getWithdrawal, ScopeAccountsRead)
	if cfg.Keys != nil {
		s.keyRoutes(v1)
	}
	if cfg.Subscriptions != nil {
		s.subscriptionRoutes(v1)
	}

	// Webhooks are authenticated by the gateway's signature, not an API key.
	e.POST("/v1/webhooks/:gateway", s.receiveWebhook)
	if cfg.Sandbox != nil {
		pages := echo.WrapHandler(cfg.Sandbox)
		e.GET("/sandbox/checkout/:reference", pages)
		e.POST("/sandbox/checkout/:reference/pay", pages)
		e.POST("/sandbox/checkout/:reference/decline", pages)
	}

	s.auditRoutes(v1, cfg.Projections)
	s.mountConsole(cfg)

	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Method+" "+r.Path] = true
	}
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Routes lists every registered method and path (for the OpenAPI drift test).
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": "database unreachable or migrations not applied"})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// requestLog logs one line per request with a request id and the calling
// key's id, and counts it in the HTTP metrics. It never logs headers, bodies
// or query strings, so keys and secrets stay out of logs. Probes and scrapes
// log at debug level, so that they do not drown the requests that matter.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		c.Set("request_id", id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		method, route, status := c.Request().Method, s.routeLabel(c), c.Response().Status
		s.metrics.observeHTTP(route, method, status, elapsed)
		level := slog.LevelInfo
		if route == "/healthz" || route == "/readyz" || route == "/metrics" {
			level = slog.LevelDebug
		}
		ctx := c.Request().Context()
		if !s.log.Enabled(ctx, level) {
			return nil
		}
		// Attrs, not key-value pairs: one line per request, without boxing each value.
		attrs := [6]slog.Attr{slog.String("request_id", id), slog.String("method", method), slog.String("route", route),
			slog.Int("status", status), slog.Int64("duration_ms", elapsed.Milliseconds())}
		n := 5
		if p, ok := c.Get("principal").(*Principal); ok {
			attrs[n] = slog.String("key_id", p.KeyID)
			n++
		}
		s.log.LogAttrs(ctx, level, "request", attrs[:n]...)
		return nil
	}
}

// routeLabel is the route pattern the request matched ("/v1/accounts/:id"),
// or "unmatched", so that metric labels stay few whatever paths clients send.
func (s *Server) routeLabel(c echo.Context) string {
	if p := c.Path(); s.routes[c.Request().Method+" "+p] {
		return p
	}
	return "unmatched"
}

func requestID(c echo.Context) string {
	id, _ := c.Get("request_id").(string)
	return id
}
