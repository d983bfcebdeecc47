package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// WebhookApproved labels an approval recorded before a capture (PayPal).
const WebhookApproved = "approved"

// parseWebhook verifies and parses a delivery, bounded by the request's
// context where the gateway verifies by calling its own API (PayPal).
func parseWebhook(ctx context.Context, gw gateways.Gateway, header http.Header, body []byte) (gateways.Notification, error) {
	if p, ok := gw.(gateways.ContextParser); ok {
		return p.ParseWebhookContext(ctx, header, body)
	}
	return gw.ParseWebhook(header, body)
}

// approveAndCapture handles a payer's approval at a gateway that takes the
// money only when Tally captures it (PayPal). The receiver still only
// appends: first the approval is recorded like any verified webhook
// (deposit.approved, once per gateway event id); then the capture is asked
// for, keyed by the deposit (PayPal-Request-Id = deposit id + ":capture"), so
// asking twice - from a redelivery, a retry or another process - never
// captures twice; then the gateway's answer is recorded
// (deposit.capture_answered). The wallet is credited only by the capture's
// own success webhook. If the capture's outcome is unknown, the answer is 503
// so that the gateway delivers the approval again and the capture is retried.
func (s *Server) approveAndCapture(c echo.Context, name string, gw gateways.Capturer, n gateways.Notification) error {
	ctx := c.Request().Context()
	resp, err := s.submitNotification(ctx, name, n, ledger.NotifyPaymentApproved)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		if err := s.capture(ctx, name, gw, n); err != nil {
			return err
		}
	}
	return write(c, resp)
}

// capture captures the approved payment n names, unless its deposit is
// settled or its capture already answered. In one process, concurrent
// deliveries share one call, and later ones find the recorded answer.
func (s *Server) capture(ctx context.Context, name string, gw gateways.Capturer, n gateways.Notification) error {
	_, err, _ := s.captures.Do(name+"\x00"+n.Reference, func() (any, error) {
		dep, err := s.store.Deposit(ctx, n.Reference)
		var le *ledger.Error
		switch {
		case errors.As(err, &le) && le.Code == ledger.ENotFound:
			return nil, nil // recorded as gateway.unmatched
		case err != nil:
			return nil, err
		case dep.Gateway != name || dep.Status != ledger.DepositPending:
			return nil, nil
		case dep.GatewayReference != "" && dep.GatewayReference != n.GatewayReference:
			return nil, nil // the capture's id has replaced the order's: it was answered
		}
		res, err := gw.Capture(ctx, gateways.CaptureRequest{DepositID: dep.ID, GatewayReference: n.GatewayReference})
		var ge *gateways.GatewayError
		switch {
		case errors.As(err, &ge) && !ge.Timeout && (ge.StatusCode == http.StatusBadRequest ||
			ge.StatusCode == http.StatusNotFound || ge.StatusCode == http.StatusUnprocessableEntity):
			// The gateway said no (a declined instrument, an order that
			// cannot be captured): asking again would get the same answer.
			s.log.Warn("gateway refused a capture", "gateway", name, "deposit", dep.ID, "err", err)
			res = gateways.CaptureResult{Status: gateways.CaptureDeclined, Reason: gatewayFailure(name, "capture", err)}
		case err != nil:
			s.log.Warn("capture failed; the gateway will deliver the approval again", "gateway", name, "deposit", dep.ID, "err", err)
			return nil, ledger.Errorf(ledger.EUnavailable, "the approval is recorded but the capture with %s failed (%s); %s will deliver the webhook again",
				name, gatewayFailure(name, "capture", err), name)
		case res.Status == gateways.CaptureAlready:
			return nil, nil
		}
		_, err = s.journal.Submit(ctx, pgjournal.Request{
			Book:    dep.Book,
			Command: ledger.RecordCapture{DepositID: dep.ID, CaptureID: res.CaptureID, Status: string(res.Status), Reason: res.Reason},
			Render: func(o pgjournal.Outcome) pgjournal.Response {
				if o.Err != nil {
					return problemResponse(o.Err)
				}
				return jsonResponse(http.StatusOK, received)
			},
		})
		return nil, submitError(err)
	})
	return err
}
