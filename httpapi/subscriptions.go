package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/projections/sinks"
)

// subscriptionRoutes registers webhook subscriptions (events out); every
// route needs admin. Like keys, they are configuration, not journal events,
// and a creation is not idempotent: a retry makes a second subscription
// (with its own secret), which can be deleted.
func (s *Server) subscriptionRoutes(v1 func(method, path string, h echo.HandlerFunc, scope Scope)) {
	v1("POST", "/subscriptions", s.createSubscription, ScopeAdmin)
	v1("GET", "/subscriptions", s.listSubscriptions, ScopeAdmin)
	v1("GET", "/subscriptions/:id", s.getSubscription, ScopeAdmin)
	v1("DELETE", "/subscriptions/:id", s.deleteSubscription, ScopeAdmin)
	v1("GET", "/subscriptions/:id/deliveries", s.listDeliveries, ScopeAdmin)
	v1("POST", "/subscriptions/:id/replay", s.replaySubscription, ScopeAdmin)
}

type subscriptionRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Book        string   `json:"book"`
	Owner       string   `json:"owner"`
	Description string   `json:"description"`
}

// subscriptionView is a subscription as the API shows it; Secret only in
// the answer to its creation.
type subscriptionView struct {
	ID          string   `json:"id"`
	Secret      string   `json:"secret,omitempty"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Book        *string  `json:"book"`
	Owner       *string  `json:"owner"`
	Description string   `json:"description"`
	Status      string   `json:"status"`
	CreatedAt   string   `json:"created_at"`
}

func viewSubscription(sub sinks.Subscription) subscriptionView {
	return subscriptionView{
		ID: sub.ID, URL: sub.URL, Events: sub.Events, Book: optional(sub.Book), Owner: optional(sub.Owner),
		Description: sub.Description, Status: sub.Status, CreatedAt: formatTime(sub.CreatedAt),
	}
}

type deliveryView struct {
	ID             string  `json:"id"`
	SubscriptionID string  `json:"subscription_id"`
	EventID        string  `json:"event_id"`
	Book           string  `json:"book"`
	Position       int64   `json:"position"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	CreatedAt      string  `json:"created_at"`
	DeliveredAt    *string `json:"delivered_at"`
}

func viewDelivery(d sinks.Delivery) deliveryView {
	v := deliveryView{
		ID: d.ID, SubscriptionID: d.SubscriptionID, EventID: d.EventID, Book: d.Book, Position: d.Position,
		Status: d.Status, Attempts: d.Attempts, LastError: optional(d.LastError), CreatedAt: formatTime(d.CreatedAt),
	}
	if d.LastStatusCode != 0 {
		v.LastStatusCode = &d.LastStatusCode
	}
	if d.NextAttemptAt != nil {
		v.NextAttemptAt = optionalTime(*d.NextAttemptAt)
	}
	if d.DeliveredAt != nil {
		v.DeliveredAt = optionalTime(*d.DeliveredAt)
	}
	return v
}

func (s *Server) createSubscription(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var req subscriptionRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	sub, err := s.subscriptions.Create(c.Request().Context(), sinks.NewSubscription{
		URL: req.URL, Events: req.Events, Book: req.Book, Owner: req.Owner, Description: req.Description,
	})
	if err != nil {
		return err
	}
	s.log.Info("subscription created", "request_id", requestID(c), "key_id", principal(c).KeyID, "subscription", sub.ID)
	v := viewSubscription(sub)
	v.Secret = sub.Secret
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) listSubscriptions(c echo.Context) error {
	q, err := idListQuery(c)
	if err != nil {
		return err
	}
	subs, err := s.subscriptions.List(c.Request().Context(), q.after, q.period, q.limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(subs, q.limit, viewSubscription, func(s sinks.Subscription) string { return s.ID }))
}

func (s *Server) getSubscription(c echo.Context) error {
	sub, err := s.subscriptions.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewSubscription(sub))
}

func (s *Server) deleteSubscription(c echo.Context) error {
	if err := s.subscriptions.Delete(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	s.log.Info("subscription deleted", "request_id", requestID(c), "key_id", principal(c).KeyID, "subscription", c.Param("id"))
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listDeliveries(c echo.Context) error {
	q, err := idListQuery(c, "status")
	if err != nil {
		return err
	}
	ds, err := s.subscriptions.Deliveries(c.Request().Context(), c.Param("id"), c.QueryParam("status"), q.after, q.period, q.limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(ds, q.limit, viewDelivery, func(d sinks.Delivery) string { return d.ID }))
}

type replayRequest struct {
	FromPosition int64  `json:"from_position"`
	Book         string `json:"book"`
}

type replayView struct {
	SubscriptionID string `json:"subscription_id"`
	Book           string `json:"book"`
	FromPosition   int64  `json:"from_position"`
	Queued         int    `json:"queued"`
}

func (s *Server) replaySubscription(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var req replayRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	book, n, err := s.subscriptions.Replay(c.Request().Context(), c.Param("id"), req.Book, req.FromPosition)
	if err != nil {
		return err
	}
	s.log.Info("subscription replay", "request_id", requestID(c), "key_id", principal(c).KeyID, "subscription", c.Param("id"), "book", book, "queued", n)
	return c.JSON(http.StatusAccepted, replayView{SubscriptionID: c.Param("id"), Book: book, FromPosition: req.FromPosition, Queued: n})
}
