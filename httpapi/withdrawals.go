package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// WebhookPayout counts webhooks that settled, failed or reversed a withdrawal.
const WebhookPayout = "payout"

type withdrawalRequest struct {
	Account     string             `json:"account"`
	Amount      string             `json:"amount"`
	Currency    string             `json:"currency"`
	Gateway     string             `json:"gateway"`
	Destination destinationRequest `json:"destination"`
	Reason      string             `json:"reason"`
}

type destinationRequest struct {
	BankCode      string `json:"bank_code"`
	AccountNumber string `json:"account_number"`
	AccountName   string `json:"account_name"`
}

type destinationView struct {
	ID            string `json:"id"`
	BankCode      string `json:"bank_code"`
	AccountNumber string `json:"account_number"` // masked: "******6789"
	AccountName   string `json:"account_name"`   // empty once erased
}

type withdrawalView struct {
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	Account          string          `json:"account"`
	Amount           string          `json:"amount"`
	Currency         ledger.Currency `json:"currency"`
	Gateway          string          `json:"gateway"`
	Destination      destinationView `json:"destination"`
	Reason           string          `json:"reason"`
	GatewayReference string          `json:"gateway_reference,omitempty"`
	FailureReason    string          `json:"failure_reason,omitempty"`
	Position         int64           `json:"position"`
	CreatedAt        string          `json:"created_at"`
}

func viewWithdrawal(w ledger.Withdrawal, accountName string) withdrawalView {
	return withdrawalView{
		ID: w.ID, Status: string(w.Status), Account: w.Account, Amount: w.Amount.String(), Currency: w.Amount.Currency(),
		Gateway: w.Gateway, Reason: w.Reason, GatewayReference: w.GatewayReference, FailureReason: w.FailureReason,
		Destination: destinationView{ID: w.DestinationID, BankCode: w.BankCode, AccountNumber: w.MaskedNumber, AccountName: accountName},
		Position:    w.Position, CreatedAt: formatTime(w.CreatedAt),
	}
}

var (
	bankCodePattern      = regexp.MustCompile(`^[A-Za-z0-9_]{1,20}$`)
	accountNumberPattern = regexp.MustCompile(`^[0-9]{6,20}$`)
)

// createWithdrawal pays money out of a wallet to a bank account in two
// recorded steps: withdrawal.requested moves it to payouts:pending before
// the gateway is called, then the gateway's answer is recorded
// (withdrawal.submitted, or withdrawal.failed with the money back and a
// 502). The gateway's webhook settles it. The full account number goes to
// the gateway and the destinations table only, never to the journal, a
// response or a log line.
func (s *Server) createWithdrawal(c echo.Context) error {
	var req withdrawalRequest
	key, body, err := decodePost(c, true, &req)
	if err != nil {
		return err
	}
	var v checker
	v.accountRef("account", req.Account)
	amount := v.money(req.Amount, req.Currency)
	if req.Gateway == "" {
		v.add(ledger.EInvalidRequest, "gateway", "gateway is required: paystack, xendit or sandbox")
	}
	dest := req.Destination
	if !bankCodePattern.MatchString(dest.BankCode) {
		v.add(ledger.EInvalidRequest, "destination.bank_code", "destination.bank_code must be the bank's code (letters, digits or _, at most 20)")
	}
	if !accountNumberPattern.MatchString(dest.AccountNumber) {
		v.add(ledger.EInvalidRequest, "destination.account_number", "destination.account_number must be 6 to 20 digits")
	}
	v.text("destination.account_name", dest.AccountName, true, 100)
	v.text("reason", req.Reason, false, 500)
	if v.err != nil {
		return v.err
	}
	if err := s.visible(c, req.Account); err != nil {
		return err
	}
	gw, err := s.gateways.Get(req.Gateway)
	if err != nil {
		return ledger.Errorf(ledger.EInvalidRequest, "gateway %q is not enabled on this server", req.Gateway).WithField("gateway")
	}
	payouter, ok := gw.(gateways.Payouter)
	if !ok {
		return ledger.Errorf(ledger.EInvalidRequest, "gateway %s does not pay out to bank accounts", gw.Name()).WithField("gateway")
	}
	if !payouter.PaysOut(string(amount.Currency())) {
		return ledger.Errorf(ledger.EInvalidRequest, "gateway %s does not pay out in %s", gw.Name(), amount.Currency()).WithField("currency")
	}

	withdrawalID := ledger.NewID(ledger.PrefixWithdrawal)
	render := func(id string, status int) func(pgjournal.Outcome) pgjournal.Response {
		return renderWithdrawal(id, dest.AccountName, status)
	}
	return s.submitTwoStep(c, key, body, twoStep{
		id: withdrawalID,
		first: ledger.RequestWithdrawal{
			WithdrawalID: withdrawalID, Account: req.Account, Amount: amount, Gateway: gw.Name(),
			DestinationID: ledger.NewID(ledger.PrefixDestination), BankCode: dest.BankCode,
			MaskedNumber: ledger.MaskAccountNumber(dest.AccountNumber), Reason: req.Reason,
		},
		// A resumed request (resumed true) asks the gateway again: the
		// withdrawal id is its idempotency reference, so it pays once.
		then: func(ctx context.Context, id string, resumed bool) (ledger.Command, func(pgjournal.Outcome) pgjournal.Response, error) {
			w, err := s.store.Withdrawal(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			// The bank details are stored once the withdrawal is recorded,
			// so that a refused request leaves nothing behind; a retry
			// (same body, by the Idempotency-Key's fingerprint) stores them
			// if a crash came between.
			if err := s.store.SaveDestination(ctx, pgjournal.Destination{
				Book: w.Book, ID: w.DestinationID, Gateway: w.Gateway, BankCode: dest.BankCode,
				AccountNumber: dest.AccountNumber, AccountName: dest.AccountName, MaskedNumber: w.MaskedNumber,
			}); err != nil {
				return nil, nil, err
			}
			if w.Status != ledger.WithdrawalPending || w.GatewayReference != "" {
				// A retry resuming a payout the gateway already took (or
				// settled): RecordPayoutSubmission records nothing.
				return ledger.RecordPayoutSubmission{WithdrawalID: w.ID, GatewayReference: w.GatewayReference}, render(w.ID, http.StatusCreated), nil
			}
			d, err := s.store.Destination(ctx, w.Book, w.DestinationID)
			if err != nil {
				return nil, nil, err
			}
			if d.ErasedAt != nil && resumed {
				// The attempt that crashed may have reached the gateway
				// before the details were erased: only the gateway can say.
				s.log.Warn("a resumed payout's bank details were erased: it stays pending until the gateway says", "gateway", gw.Name(), "withdrawal", w.ID)
				return ledger.RecordPayoutSubmission{WithdrawalID: w.ID, OutcomeUnknown: true}, render(w.ID, http.StatusAccepted), nil
			}
			if d.ErasedAt != nil {
				refusal := ledger.Errorf(ledger.EInvalidRequest, "the destination's bank details were erased before the payout was made")
				return ledger.FailWithdrawal{WithdrawalID: w.ID, Reason: refusal.Message}, failedWith(refusal, render(w.ID, http.StatusCreated)), nil
			}
			result, gerr := payouter.Payout(ctx, gateways.PayoutRequest{
				WithdrawalID: w.ID, Amount: *w.Amount.Decimal(), Currency: string(w.Amount.Currency()),
				BankCode: d.BankCode, AccountNumber: d.AccountNumber, AccountName: d.AccountName, Reason: w.Reason,
				RecipientCode: d.RecipientCode,
			})
			if result.RecipientCode != "" && result.RecipientCode != d.RecipientCode {
				if err := s.store.SetRecipientCode(ctx, w.Book, d.ID, result.RecipientCode); err != nil {
					s.log.Warn("could not remember the gateway's recipient", "gateway", gw.Name(), "withdrawal", w.ID, "err", err)
				}
			}
			var refusal *ledger.Error
			switch {
			case gateways.OutcomeUnknown(gerr):
				// The gateway may have taken it: the money stays in
				// payouts:pending until its webhook says.
				s.log.Warn("a payout's outcome is unknown: it stays pending until the gateway says", "gateway", gw.Name(), "withdrawal", w.ID, "err", gerr)
				return ledger.RecordPayoutSubmission{WithdrawalID: w.ID, OutcomeUnknown: true}, render(w.ID, http.StatusAccepted), nil
			case gerr != nil:
				s.log.Warn("gateway refused a payout", "gateway", gw.Name(), "withdrawal", w.ID, "err", gerr)
				refusal = ledger.Errorf(ledger.EGatewayError, "%s", gatewayFailure(gw.Name(), "payout", gerr))
			case result.Status == gateways.PayoutStatusFailed:
				s.log.Warn("gateway failed a payout", "gateway", gw.Name(), "withdrawal", w.ID, "message", result.Message)
				refusal = ledger.Errorf(ledger.EGatewayError, "%s refused the payout%s", gw.Name(), prefixed(": ", result.Message))
			}
			if refusal != nil {
				return ledger.FailWithdrawal{WithdrawalID: w.ID, Reason: refusal.Message}, failedWith(refusal, render(w.ID, http.StatusCreated)), nil
			}
			return ledger.RecordPayoutSubmission{WithdrawalID: w.ID, GatewayReference: result.GatewayReference}, render(w.ID, http.StatusCreated), nil
		},
	})
}

// renderWithdrawal answers with the withdrawal as the batch left it; status
// is 201, or 202 when the gateway's answer is unknown and it is still pending.
func renderWithdrawal(id, accountName string, status int) func(pgjournal.Outcome) pgjournal.Response {
	return func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		w, _ := o.State.Withdrawal(id)
		if w.Status != ledger.WithdrawalPending {
			status = http.StatusCreated
		}
		return jsonResponse(status, viewWithdrawal(w, accountName))
	}
}

// accountName is a destination's holder name, or "" once erased.
func (s *Server) accountName(ctx context.Context, w ledger.Withdrawal) (string, error) {
	d, err := s.store.Destination(ctx, w.Book, w.DestinationID)
	if ledger.ErrorCode(err) == ledger.ENotFound {
		return "", nil
	}
	return d.AccountName, err
}

func (s *Server) getWithdrawal(c echo.Context) error {
	id := c.Param("id")
	if !ledger.HasPrefix(id, ledger.PrefixWithdrawal) {
		return notFound("withdrawal", id)
	}
	ctx := c.Request().Context()
	w, err := s.store.Withdrawal(ctx, id)
	if err != nil {
		return err
	}
	if err := s.visibleAny(c, "withdrawal", id, w.Account); err != nil {
		return err
	}
	name, err := s.accountName(ctx, w)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewWithdrawal(w, name))
}

func (s *Server) listWithdrawals(c echo.Context) error {
	q, err := s.listQuery(c, "status")
	if err != nil {
		return err
	}
	status, err := statusParam(c, ledger.WithdrawalPending, ledger.WithdrawalSucceeded, ledger.WithdrawalFailed, ledger.WithdrawalReversed)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := s.store.Withdrawals(ctx, pgjournal.WithdrawalFilter{
		Account: q.account, Status: status, Owner: principal(c).Owner, Period: q.period, After: q.after, Limit: q.limit + 1})
	if err != nil {
		return err
	}
	names := make(map[string]string, len(rows))
	for _, r := range rows {
		if names[r.Item.ID], err = s.accountName(ctx, r.Item); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, pageListed(rows, q.limit, func(w ledger.Withdrawal) withdrawalView { return viewWithdrawal(w, names[w.ID]) }))
}

// EraseDestination erases a withdrawal destination's bank details (an
// operator's answer to a data-erasure request; tally destinations erase) and
// records destination.erased, which carries only the destination's id. It is
// safe to run again: the event is appended once. erased says whether any
// details were left to erase.
func EraseDestination(ctx context.Context, journal *pgjournal.Journal, store *pgjournal.Store, id, reason string) (erased bool, err error) {
	if !ledger.HasPrefix(id, ledger.PrefixDestination) {
		return false, notFound("destination", id)
	}
	book, err := store.BookOfDestination(ctx, id)
	if err != nil {
		return false, err
	}
	if erased, err = store.EraseDestination(ctx, book, id); err != nil {
		return false, err
	}
	resp, err := journal.Submit(ctx, pgjournal.Request{
		Book: book, Command: ledger.EraseDestination{DestinationID: id, Reason: reason},
		Idempotency: &pgjournal.Idempotency{Scope: "operator", Key: "erase-destination:" + id, Fingerprint: "erase-destination:" + id},
		Render: func(o pgjournal.Outcome) pgjournal.Response {
			if o.Err != nil {
				return problemResponse(o.Err)
			}
			return jsonResponse(http.StatusOK, map[string]string{"destination": id})
		},
	})
	if err != nil {
		return erased, err
	}
	if resp.Status != http.StatusOK {
		return erased, fmt.Errorf("recording the erasure: %s", resp.Body)
	}
	return erased, nil
}

// accountNumberField finds "account_number" values in a gateway's payload
// (Paystack's transfer webhooks name the recipient's account).
var accountNumberField = regexp.MustCompile(`("account_number"\s*:\s*")([^"]*)(")`)

// redactAccountNumbers masks every "account_number" value of a payload that
// Tally keeps although it could not parse it (gateway.unmatched): the
// journal never holds a full bank account number.
func redactAccountNumbers(body []byte) []byte {
	return accountNumberField.ReplaceAllFunc(body, func(m []byte) []byte {
		parts := accountNumberField.FindSubmatch(m)
		return append(append(append([]byte{}, parts[1]...), ledger.MaskAccountNumber(string(parts[2]))...), parts[3]...)
	})
}
