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

type refundRequest struct {
	Deposit  string `json:"deposit"`
	Transfer string `json:"transfer"`
	Hold     string `json:"hold"`
	Amount   string `json:"amount"`
	Reason   string `json:"reason"`
}

type refundView struct {
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	Deposit          string          `json:"deposit,omitempty"`
	Transfer         string          `json:"transfer,omitempty"`
	Hold             string          `json:"hold,omitempty"`
	Amount           string          `json:"amount"`
	Currency         ledger.Currency `json:"currency"`
	Reason           string          `json:"reason"`
	GatewayRefundID  string          `json:"gateway_refund_id,omitempty"`
	GatewayInitiated bool            `json:"gateway_initiated,omitempty"`
	CreatedAt        string          `json:"created_at"`
}

func viewRefund(r ledger.Refund) refundView {
	return refundView{
		ID: r.ID, Status: string(r.Status), Deposit: r.DepositID, Transfer: r.TransferID, Hold: r.HoldID, Amount: r.Amount.String(),
		Currency: r.Amount.Currency(), Reason: r.Reason, GatewayRefundID: r.GatewayRefundID,
		GatewayInitiated: r.GatewayInitiated, CreatedAt: formatTime(r.CreatedAt),
	}
}

// createRefund refunds a transfer at once (recipient → sender), or a deposit
// through its gateway in two recorded steps: refund.requested moves the
// money from the wallet to refunds:pending before the gateway is called, and
// the gateway's answer is recorded after; its webhook settles the refund.
func (s *Server) createRefund(c echo.Context) error {
	var req refundRequest
	key, body, err := decodePost(c, true, &req)
	if err != nil {
		return err
	}
	var v checker
	switch {
	case countSet(req.Deposit, req.Transfer, req.Hold) != 1:
		v.add(ledger.EInvalidRequest, "deposit", "give exactly one of deposit, transfer and hold")
	case req.Deposit != "" && !ledger.HasPrefix(req.Deposit, ledger.PrefixDeposit):
		v.add(ledger.EInvalidRequest, "deposit", "deposit must be a deposit id (dep_…)")
	case req.Transfer != "" && !ledger.HasPrefix(req.Transfer, ledger.PrefixTransfer):
		v.add(ledger.EInvalidRequest, "transfer", "transfer must be a transfer id (tr_…)")
	}
	v.text("reason", req.Reason, false, 500)
	if v.err != nil {
		return v.err
	}
	ctx := c.Request().Context()
	refundID := ledger.NewID(ledger.PrefixRefund)
	if req.Hold != "" {
		return s.refundHold(c, key, body, refundID, req)
	}
	if req.Transfer != "" {
		t, err := s.store.Transfer(ctx, req.Transfer)
		if err != nil {
			return err
		}
		// The money leaves the recipient: only its owner may send it back.
		if err := s.visibleAny(c, "transfer", t.ID, t.To); err != nil {
			return err
		}
		if err := checkRefundAmount(req.Amount, t.Amount.Currency()); err != nil {
			return err
		}
		cmd := ledger.RefundTransfer{RefundID: refundID, TransferID: t.ID, Amount: req.Amount, Reason: req.Reason}
		return s.submit(c, key, body, pgjournal.Request{Command: cmd, Book: t.Book, Render: renderRefund(refundID)})
	}
	dep, err := s.store.Deposit(ctx, req.Deposit)
	if err != nil {
		return err
	}
	if err := s.visibleAny(c, "deposit", dep.ID, dep.Account); err != nil {
		return err
	}
	if err := checkRefundAmount(req.Amount, dep.Amount.Currency()); err != nil {
		return err
	}
	gw, err := s.gateways.Get(dep.Gateway)
	if err != nil {
		return ledger.Errorf(ledger.ENotRefundable, "the deposit's gateway %s is not enabled on this server, so it cannot refund", dep.Gateway)
	}
	return s.refundDeposit(c, key, body, gw, dep, ledger.RequestDepositRefund{RefundID: refundID, DepositID: dep.ID, Amount: req.Amount, Reason: req.Reason})
}

func checkRefundAmount(amount string, cur ledger.Currency) error {
	if amount == "" {
		return nil
	}
	_, err := ledger.ParseMoney(amount, string(cur))
	return err
}

func renderRefund(refundID string) func(pgjournal.Outcome) pgjournal.Response {
	return func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		r, _ := o.State.Refund(refundID)
		return jsonResponse(http.StatusCreated, viewRefund(r))
	}
}

func (s *Server) refundDeposit(c echo.Context, key string, body []byte, gw gateways.Gateway, dep pgjournal.DepositView, cmd ledger.RequestDepositRefund) error {
	return s.submitTwoStep(c, key, body, twoStep{
		book: dep.Book, first: cmd, id: cmd.RefundID,
		then: func(ctx context.Context, id string, resumed bool) (ledger.Command, func(pgjournal.Outcome) pgjournal.Response, error) {
			r, err := s.store.Refund(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			if r.Status != ledger.RefundStatusPending || r.GatewayRefundID != "" {
				// A retry resuming a refund the gateway already took (or
				// settled): asking again could refund twice.
				return ledger.RecordRefundSubmission{RefundID: r.ID, DepositID: dep.ID, GatewayRefundID: r.GatewayRefundID}, renderRefund(r.ID), nil
			}
			req := gateways.RefundRequest{
				RefundID: r.ID, IdempotencyKey: gateways.RefundIdempotencyKey(r.ID), DepositReference: dep.Reference,
				GatewayReference: dep.GatewayReference, Amount: *r.Amount.Decimal(), Currency: string(r.Amount.Currency()), Reason: r.Reason,
			}
			if finder, ok := gw.(gateways.RefundFinder); ok && resumed {
				// An earlier attempt may have reached the gateway before its
				// process died: ask before asking again.
				found, known, ferr := finder.FindRefund(ctx, refundQuery(r, dep))
				switch {
				case ferr != nil && !errors.Is(ferr, gateways.ErrUnsupported):
					s.log.Warn("could not ask the gateway whether a refund exists", "gateway", gw.Name(), "refund", r.ID, "err", ferr)
					return ledger.RecordRefundSubmission{RefundID: r.ID, DepositID: dep.ID, OutcomeUnknown: true}, renderRefundAccepted(r.ID), nil
				case known:
					return s.refundAnswer(gw, r, dep, found, nil)
				}
			}
			result, gerr := gw.Refund(ctx, req)
			return s.refundAnswer(gw, r, dep, result, gerr)
		},
	})
}

// refundAnswer turns the gateway's answer to a refund request into the
// command that records it. Only a refusal fails the refund; when the answer
// is unknown (no answer, a 5xx) it stays pending with its money held, and
// the gateway's webhook or the reconciler settles it.
func (s *Server) refundAnswer(gw gateways.Gateway, r ledger.Refund, dep pgjournal.DepositView, result gateways.RefundResult, gerr error) (ledger.Command, func(pgjournal.Outcome) pgjournal.Response, error) {
	var refusal *ledger.Error
	switch {
	case errors.Is(gerr, gateways.ErrUnsupported):
		refusal = ledger.Errorf(ledger.ENotRefundable, "the gateway cannot refund this payment through its API: %v", gerr)
	case gateways.OutcomeUnknown(gerr):
		s.log.Warn("a refund's outcome is unknown: it stays pending until the gateway says", "gateway", gw.Name(), "refund", r.ID, "err", gerr)
		return ledger.RecordRefundSubmission{RefundID: r.ID, DepositID: dep.ID, OutcomeUnknown: true}, renderRefundAccepted(r.ID), nil
	case gerr != nil:
		s.log.Warn("gateway refused a refund", "gateway", gw.Name(), "refund", r.ID, "err", gerr)
		refusal = ledger.Errorf(ledger.EGatewayError, "%s", gatewayFailure(gw.Name(), "refund", gerr))
	case result.Status == gateways.RefundStatusFailed:
		refusal = ledger.Errorf(ledger.EGatewayError, "%s refused the refund", gw.Name())
	}
	if refusal != nil {
		return ledger.FailRefund{RefundID: r.ID, DepositID: dep.ID, Reason: refusal.Message}, failedWith(refusal, renderRefund(r.ID)), nil
	}
	return ledger.RecordRefundSubmission{RefundID: r.ID, DepositID: dep.ID, GatewayRefundID: result.GatewayRefundID, Succeeded: result.Status == gateways.RefundStatusSucceeded},
		renderRefund(r.ID), nil
}

func refundQuery(r ledger.Refund, dep pgjournal.DepositView) gateways.RefundQuery {
	return gateways.RefundQuery{RefundID: r.ID, GatewayRefundID: r.GatewayRefundID, DepositReference: dep.Reference,
		GatewayReference: dep.GatewayReference, Currency: string(r.Amount.Currency())}
}

// renderRefundAccepted answers a refund whose gateway call got no answer:
// 202 Accepted, the refund pending (unless the gateway settled it meanwhile).
func renderRefundAccepted(refundID string) func(pgjournal.Outcome) pgjournal.Response {
	return func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		r, _ := o.State.Refund(refundID)
		status := http.StatusAccepted
		if r.Status != ledger.RefundStatusPending {
			status = http.StatusCreated
		}
		return jsonResponse(status, viewRefund(r))
	}
}

func (s *Server) getRefund(c echo.Context) error {
	id := c.Param("id")
	if !ledger.HasPrefix(id, ledger.PrefixRefund) {
		return ledger.Errorf(ledger.ENotFound, "refund %s not found", id)
	}
	r, err := s.store.Refund(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.visibleAny(c, "refund", id, r.Account); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRefund(r))
}

func (s *Server) listRefunds(c echo.Context) error {
	if err := checkQuery(c, "deposit", "transfer", "status"); err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f := pgjournal.RefundFilter{Deposit: c.QueryParam("deposit"), Transfer: c.QueryParam("transfer"), Owner: principal(c).Owner, Limit: limit + 1}
	if f.Status, err = statusParam(c, ledger.RefundStatusPending, ledger.RefundStatusSucceeded, ledger.RefundStatusFailed); err != nil {
		return err
	}
	if f.Period, err = period(c); err != nil {
		return err
	}
	if f.Deposit != "" && !ledger.HasPrefix(f.Deposit, ledger.PrefixDeposit) {
		return ledger.Errorf(ledger.EInvalidRequest, "deposit must be a deposit id (dep_…)").WithField("deposit")
	}
	if f.Transfer != "" && !ledger.HasPrefix(f.Transfer, ledger.PrefixTransfer) {
		return ledger.Errorf(ledger.EInvalidRequest, "transfer must be a transfer id (tr_…)").WithField("transfer")
	}
	if f.After, err = listCursor(c); err != nil {
		return err
	}
	rs, err := s.store.Refunds(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(rs, limit, viewRefund))
}
