package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// gatewayTimeout bounds a call to a gateway's API, whatever the client does:
// its answer must be recorded even if the client has gone.
const gatewayTimeout = 20 * time.Second

type depositRequest struct {
	Account     string `json:"account"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	Gateway     string `json:"gateway"`
	Email       string `json:"email"`
	CallbackURL string `json:"callback_url"`
}

type depositView struct {
	ID               string          `json:"id"`
	Reference        string          `json:"reference,omitempty"`
	Status           string          `json:"status"`
	Gateway          string          `json:"gateway"`
	Account          string          `json:"account"`
	Amount           string          `json:"amount"`
	Currency         ledger.Currency `json:"currency"`
	CheckoutURL      *string         `json:"checkout_url"`
	GatewayReference *string         `json:"gateway_reference"`
	RefundedAmount   string          `json:"refunded_amount"`
	Unsolicited      bool            `json:"unsolicited,omitempty"`
	ReceivedAmount   string          `json:"received_amount,omitempty"`
	ReceivedCurrency string          `json:"received_currency,omitempty"`
	Reason           string          `json:"reason,omitempty"`
	CreatedAt        string          `json:"created_at"`
}

func viewDeposit(d pgjournal.DepositView) depositView {
	v := depositView{
		ID: d.ID, Reference: d.Reference, Status: string(d.Status), Gateway: d.Gateway, Account: d.Account,
		Amount: d.Amount.String(), Currency: d.Amount.Currency(), RefundedAmount: d.RefundedAmount.String(),
		Unsolicited: d.Unsolicited, ReceivedAmount: d.ReceivedAmount, ReceivedCurrency: d.ReceivedCurrency,
		Reason: d.Reason, CreatedAt: formatTime(d.CreatedAt),
	}
	if d.CheckoutURL != "" {
		v.CheckoutURL = &d.CheckoutURL
	}
	if d.GatewayReference != "" {
		v.GatewayReference = &d.GatewayReference
	}
	return v
}

// createDeposit opens a top-up through a gateway in two recorded steps:
// deposit.initiated is appended before the gateway is called, and the
// gateway's answer (deposit.checkout_opened, or deposit.failed and a 502) is
// appended after. The Idempotency-Key's record stays "in progress" between
// the two, so a retry after a crash resumes the deposit instead of opening a
// second one.
func (s *Server) createDeposit(c echo.Context) error {
	var req depositRequest
	key, body, err := decodePost(c, true, &req)
	if err != nil {
		return err
	}
	var v checker
	v.accountRef("account", req.Account)
	amount := v.money(req.Amount, req.Currency)
	if req.Gateway == "" {
		v.add(ledger.EInvalidRequest, "gateway", "gateway is required: paystack, stripe, xendit or sandbox")
	}
	if req.Email != "" {
		if _, err := mail.ParseAddress(req.Email); err != nil || len(req.Email) > 254 {
			v.add(ledger.EInvalidRequest, "email", "email is not a valid address")
		}
	}
	if req.CallbackURL != "" {
		if u, err := url.Parse(req.CallbackURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(req.CallbackURL) > 2048 {
			v.add(ledger.EInvalidRequest, "callback_url", "callback_url must be an absolute http(s) URL")
		}
	}
	if v.err != nil {
		return v.err
	}
	if err := s.visible(c, req.Account); err != nil {
		return err
	}
	// Both steps go to the wallet's book: the second names no account, so
	// the journal could not find the book from it.
	wallet, err := s.store.Account(c.Request().Context(), req.Account)
	if err != nil {
		return err
	}
	gw, err := s.gateways.Get(req.Gateway)
	if err != nil {
		return ledger.Errorf(ledger.EInvalidRequest, "gateway %q is not enabled on this server", req.Gateway).WithField("gateway")
	}

	depositID := ledger.NewID(ledger.PrefixDeposit)
	return s.submitTwoStep(c, key, body, twoStep{
		id: depositID, book: wallet.Book,
		first: ledger.InitiateDeposit{
			DepositID: depositID, Reference: ledger.NewDepositReference(depositID), Account: wallet.ID,
			Amount: amount, Gateway: gw.Name(), Email: req.Email, CallbackURL: req.CallbackURL,
		},
		then: func(ctx context.Context, id string, _ bool) (ledger.Command, func(pgjournal.Outcome) pgjournal.Response, error) {
			dep, err := s.store.Deposit(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			// A retry resuming a deposit that already has its checkout (or
			// was settled by a webhook meanwhile) does not ask the gateway
			// again; RecordCheckout then records nothing.
			var checkout gateways.Checkout
			var gerr error
			if dep.Status == ledger.DepositPending && dep.CheckoutURL == "" {
				checkout, gerr = gw.OpenCheckout(ctx, gateways.CheckoutRequest{
					Reference: dep.Reference, DepositID: dep.ID, Account: dep.Account, Amount: *dep.Amount.Decimal(),
					Currency: string(dep.Amount.Currency()), Email: req.Email, CallbackURL: req.CallbackURL,
				})
			}
			if gerr != nil {
				s.log.Warn("gateway refused a checkout", "gateway", gw.Name(), "deposit", dep.ID, "err", gerr)
				refusal := ledger.Errorf(ledger.EGatewayError, "%s", gatewayFailure(gw.Name(), "checkout", gerr))
				return ledger.FailDeposit{DepositID: dep.ID, Reason: refusal.Message}, failedWith(refusal, renderDeposit(dep.ID)), nil
			}
			return ledger.RecordCheckout{DepositID: dep.ID, CheckoutURL: checkout.URL, GatewayReference: checkout.GatewayReference},
				renderDeposit(dep.ID), nil
		},
	})
}

// failedWith renders the outcome of recording a gateway's refusal: the
// refusal itself — unless a webhook settled the deposit or refund meanwhile,
// so that recording the failure changed nothing: then it renders what
// stands, with settled, rather than store a 502 for something that succeeded.
func failedWith(refusal *ledger.Error, settled func(pgjournal.Outcome) pgjournal.Response) func(pgjournal.Outcome) pgjournal.Response {
	return func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err == nil && len(o.Events) == 0 {
			return settled(o)
		}
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		return problemResponse(refusal)
	}
}

func renderDeposit(id string) func(pgjournal.Outcome) pgjournal.Response {
	return func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		d, _ := o.State.Deposit(id)
		return jsonResponse(http.StatusCreated, viewDeposit(pgjournal.DepositView{Deposit: d}))
	}
}

// gatewayFailure is the client-safe account of a failed gateway call: the
// gateway's own message, never our credentials or request.
func gatewayFailure(name, op string, err error) string {
	var ge *gateways.GatewayError
	switch {
	case errors.As(err, &ge) && ge.StatusCode == 0:
		return fmt.Sprintf("%s could not be reached or did not answer in time", name)
	case errors.As(err, &ge):
		return fmt.Sprintf("%s refused the %s (HTTP %d%s)", name, op, ge.StatusCode, prefixed(": ", ge.Message))
	case errors.Is(err, gateways.ErrUnsupported):
		return fmt.Sprintf("%s cannot take this %s: %v", name, op, err)
	}
	return fmt.Sprintf("%s could not complete the %s", name, op)
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func (s *Server) getDeposit(c echo.Context) error {
	id := c.Param("id")
	if !ledger.HasPrefix(id, ledger.PrefixDeposit) {
		return ledger.Errorf(ledger.ENotFound, "deposit %s not found", id)
	}
	d, err := s.store.Deposit(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.visibleAny(c, "deposit", id, d.Account); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewDeposit(d))
}

func (s *Server) listDeposits(c echo.Context) error {
	q, err := s.listQuery(c, "status")
	if err != nil {
		return err
	}
	status, err := statusParam(c, ledger.DepositPending, ledger.DepositSucceeded, ledger.DepositFailed, ledger.DepositExpired, ledger.DepositFlagged)
	if err != nil {
		return err
	}
	// An owner-bound key lists those of its owner's accounts.
	rows, err := s.store.Deposits(c.Request().Context(), pgjournal.DepositFilter{
		Account: q.account, Owner: principal(c).Owner, Status: status, Period: q.period, After: q.after, Limit: q.limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(rows, q.limit, viewDeposit))
}

// submitError maps a journal failure to what the client sees.
func submitError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ledger.Errorf(ledger.EUnavailable, "the ledger did not answer in time; retry with the same Idempotency-Key")
	}
	return err
}
