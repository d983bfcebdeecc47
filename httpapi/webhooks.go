package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// receiveWebhook is the webhook pipeline: verify the signature over the raw
// bytes, parse, then hand the normalized notification to the ledger, which
// matches it to a deposit and decides. Each gateway event id is answered once
// (later deliveries get the stored answer) and each payment credits once.
func (s *Server) receiveWebhook(c echo.Context) error {
	name := c.Param("gateway")
	gw, err := s.gateways.Get(name)
	if err != nil {
		return ledger.Errorf(ledger.ENotFound, "gateway %q is not enabled on this server", name)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxBodyBytes+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || len(body) > MaxBodyBytes {
		return ledger.Errorf(ledger.EBodyTooLarge, "webhook bodies are limited to 1 MiB")
	}
	if err != nil {
		return ledger.Errorf(ledger.EInvalidRequest, "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return ledger.Errorf(ledger.EBodyTooLarge, "webhook bodies are limited to 1 MiB")
	}
	n, err := parseWebhook(c.Request().Context(), gw, c.Request().Header, body)
	switch {
	case errors.Is(err, gateways.ErrVerificationUnavailable):
		// Not verified, so not recorded: 503 makes the gateway deliver it again.
		s.log.Warn("webhook not verified: the gateway's verification API failed", "gateway", name, "err", err)
		s.metrics.WebhookEvent(name, WebhookError)
		return ledger.Errorf(ledger.EUnavailable, "the webhook could not be verified with %s right now; nothing was recorded and %s will deliver it again", name, name)
	case errors.Is(err, gateways.ErrInvalidSignature):
		s.log.Warn("webhook refused", "gateway", name, "err", err)
		s.metrics.WebhookEvent(name, WebhookInvalidSignature)
		return ledger.Errorf(ledger.EInvalidSignature, "the webhook signature is missing, wrong or stale")
	case err != nil:
		// Verified but unreadable: keep it, so that nothing verified is dropped.
		s.log.Warn("webhook unreadable", "gateway", name, "err", err)
		sum := sha256.Sum256(body)
		n = gateways.Notification{Gateway: name, EventID: "unreadable:" + hex.EncodeToString(sum[:]), Raw: redactAccountNumbers(body)}
		return s.applyNotification(c, name, n, ledger.NotifyUnreadable)
	case n.Kind == gateways.Ignored:
		s.metrics.WebhookEvent(name, WebhookIgnored)
		return c.JSON(http.StatusOK, received)
	}
	if n.EventID == "" {
		sum := sha256.Sum256(body)
		n.EventID = "sha256:" + hex.EncodeToString(sum[:])
	}
	if capturer, ok := gw.(gateways.Capturer); ok && n.Kind == gateways.PaymentApproved {
		return s.approveAndCapture(c, name, capturer, n)
	}
	return s.applyNotification(c, name, n, ledger.NotificationKind(n.Kind))
}

// echoesRefundIDs reports whether the gateway echoes Tally's refund id on
// refunds Tally asked for (see gateways.RefundIDEchoer).
func (s *Server) echoesRefundIDs(name string) bool {
	gw, err := s.gateways.Get(name)
	if err != nil {
		return false
	}
	e, ok := gw.(gateways.RefundIDEchoer)
	return ok && e.EchoesRefundID()
}

var received = map[string]bool{"received": true}

func (s *Server) applyNotification(c echo.Context, name string, n gateways.Notification, kind ledger.NotificationKind) error {
	resp, err := s.submitNotification(c.Request().Context(), name, n, kind)
	if err != nil {
		return err
	}
	return write(c, resp)
}

// submitNotification hands a verified notification to the ledger, keyed by
// the gateway's event id, and returns the answer to send the gateway.
func (s *Server) submitNotification(ctx context.Context, name string, n gateways.Notification, kind ledger.NotificationKind) (pgjournal.Response, error) {
	cmd := ledger.GatewayNotification{
		Gateway: name, Kind: kind, EventID: n.EventID, EventType: n.EventType, Reference: n.Reference,
		GatewayReference: n.GatewayReference, Currency: n.Currency, Account: n.Account, Message: n.Message,
		RefundID: n.RefundID, RefundReference: n.RefundReference, Payload: string(n.Raw),
		RefundIDsEchoed: s.echoesRefundIDs(name),
		WithdrawalID:    ledger.NormalizeWithdrawalID(n.WithdrawalID),
	}
	if kind != ledger.NotifyUnreadable {
		cmd.Amount = n.Amount.Text('f')
	}
	// PostgreSQL cannot store NUL in text or jsonb; a verified payload that
	// carries one is still recorded, with U+FFFD in its place.
	for _, f := range []*string{&cmd.EventID, &cmd.EventType, &cmd.Reference, &cmd.GatewayReference, &cmd.Currency,
		&cmd.Account, &cmd.Message, &cmd.RefundID, &cmd.RefundReference, &cmd.Payload} {
		*f = strings.ReplaceAll(*f, "\x00", "\uFFFD")
	}
	// The gateway's event id is the idempotency key: a redelivery is answered
	// from the record without being decided again. The fingerprint is the id
	// too, so a redelivery is never mistaken for a different request.
	scope := "webhook:" + name
	outcome := WebhookDuplicate // unless the decision appends something
	req := pgjournal.Request{
		Command:     cmd,
		Idempotency: &pgjournal.Idempotency{Scope: scope, Key: cmd.EventID, Fingerprint: scope + ":" + cmd.EventID},
		Render: func(o pgjournal.Outcome) pgjournal.Response {
			if o.Err != nil {
				return problemResponse(o.Err)
			}
			for _, e := range o.Events {
				if kind, ok := webhookOutcomes[e.Type]; ok {
					outcome = kind
				}
			}
			return jsonResponse(http.StatusOK, received)
		},
	}
	// The notification goes to the book of the deposit or withdrawal it is
	// about. In a database with the default book alone that is the default
	// book, checked by the append itself (SoleBook), which saves a lookup
	// per notification; otherwise the book is looked up first.
	req.Book, req.SoleBook = ledger.DefaultBook, true
	resp, err := s.journal.Submit(ctx, req)
	if errors.Is(err, pgjournal.ErrOtherBooks) {
		if req.Book, err = s.notificationBook(ctx, name, cmd); err == nil {
			req.SoleBook = false
			resp, err = s.journal.Submit(ctx, req)
		}
	}
	if err != nil {
		s.metrics.WebhookEvent(name, WebhookError)
		return pgjournal.Response{}, submitError(err)
	}
	s.metrics.WebhookEvent(name, outcome)
	return resp, nil
}

// notificationBook looks up the book of the deposit or withdrawal a
// notification is about: the default book if none is found.
func (s *Server) notificationBook(ctx context.Context, name string, cmd ledger.GatewayNotification) (string, error) {
	var book string
	var err error
	if cmd.WithdrawalID != "" {
		book, err = s.store.BookOfWithdrawal(ctx, cmd.WithdrawalID)
	} else {
		book, err = s.store.BookOfDeposit(ctx, cmd.Reference, name, cmd.GatewayReference, cmd.Account)
	}
	if err != nil || book != "" {
		return book, err
	}
	return ledger.DefaultBook, nil
}

// webhookOutcomes names, for the metrics, what a notification's events did.
var webhookOutcomes = map[ledger.EventType]string{
	ledger.DepositSucceededEvent: WebhookCredited,
	ledger.DepositFlaggedEvent:   WebhookFlagged,
	ledger.DepositApprovedEvent:  WebhookApproved,
	ledger.DepositFailedEvent:    WebhookFailed,
	ledger.DepositExpiredEvent:   WebhookFailed,
	ledger.GatewayUnmatched:      WebhookUnmatched,
	ledger.RefundSucceededEvent:  WebhookRefund,
	ledger.RefundFailedEvent:     WebhookRefund,

	ledger.WithdrawalSucceededEvent: WebhookPayout,
	ledger.WithdrawalFailedEvent:    WebhookPayout,
	ledger.WithdrawalReversedEvent:  WebhookPayout,
}
