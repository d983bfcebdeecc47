// Package httpapi is Tally's HTTP API (Echo v4): routes, authentication,
// idempotency, problem+json errors and the embedded OpenAPI document. It is
// thin: decode, authorize, hand a command to the journal, encode.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
)

// Config wires the API to the ledger.
type Config struct {
	Journal  *pgjournal.Journal
	Store    *pgjournal.Store
	AdminKey string
	Logger   *slog.Logger
	// Ready reports whether the service can take traffic (database reachable,
	// migrations applied); /readyz answers 503 with its error otherwise.
	Ready func(ctx context.Context) error
	// Projections serve verify and statements (see auditRoutes).
	Projections *projections.Set
}

// Server is the HTTP API.
type Server struct {
	echo     *echo.Echo
	journal  *pgjournal.Journal
	store    *pgjournal.Store
	auth     *authenticator
	inflight *inflight
	log      *slog.Logger
	ready    func(ctx context.Context) error
}

// New builds the API and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		echo:     echo.New(),
		journal:  cfg.Journal,
		store:    cfg.Store,
		auth:     &authenticator{adminKey: cfg.AdminKey},
		inflight: newInflight(),
		log:      cfg.Logger,
		ready:    cfg.Ready,
	}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.requestLog)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)

	// Authentication is per route, not on a /v1 group: Echo answers a group
	// with a catch-all that would turn 405s into 404s.
	v1 := func(method, path string, h echo.HandlerFunc, scope Scope) {
		e.Add(method, "/v1"+path, h, s.authenticate, require(scope))
	}
	v1("POST", "/accounts", s.openAccount, ScopeAccountsWrite)
	v1("GET", "/accounts", s.listAccounts, ScopeAccountsRead)
	v1("GET", "/accounts/:id", s.getAccount, ScopeAccountsRead)
	v1("GET", "/accounts/:id/balance", s.getBalance, ScopeAccountsRead)
	v1("GET", "/accounts/:id/entries", s.listEntries, ScopeAccountsRead)
	v1("POST", "/accounts/:id/freeze", s.changeStatus(ledger.Freeze), ScopeAdmin)
	v1("POST", "/accounts/:id/unfreeze", s.changeStatus(ledger.Unfreeze), ScopeAdmin)
	v1("POST", "/accounts/:id/close", s.changeStatus(ledger.Close), ScopeAdmin)
	v1("POST", "/transfers", s.createTransfer, ScopeTransfersWrite)
	v1("GET", "/transfers", s.listTransfers, ScopeAccountsRead)
	v1("GET", "/transfers/:id", s.getTransfer, ScopeAccountsRead)
	v1("POST", "/adjustments", s.createAdjustment, ScopeAdmin)
	v1("GET", "/events", s.listEvents, ScopeEventsRead)
	s.auditRoutes(v1, cfg.Projections)
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

// requestLog logs one line per request with a request id; it never logs
// headers or bodies, so keys and secrets stay out of logs.
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
		s.log.Info("request", "request_id", id, "method", c.Request().Method, "route", c.Path(),
			"status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds())
		return nil
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get("request_id").(string)
	return id
}
