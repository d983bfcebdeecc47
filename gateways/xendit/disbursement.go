package xendit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tallyledger/tally/gateways"
)

// Payouts go through Xendit Disbursements: POST /disbursements with our withdrawal id as
// external_id and as X-IDEMPOTENCY-KEY, so asking twice pays once. Xendit answers a reused key
// with DUPLICATE_TRANSACTION_ERROR, which means the disbursement exists; its callback
// (COMPLETED or FAILED, authenticated by the callback token) settles the withdrawal.

var (
	_ gateways.Payouter     = (*Gateway)(nil)
	_ gateways.PayoutFinder = (*Gateway)(nil)
)

// disbursementNotFound is Xendit's error code (with a 404) for an external_id no disbursement has.
const disbursementNotFound = "DIRECT_DISBURSEMENT_NOT_FOUND_ERROR"

// IdempotencyHeader carries the idempotency key of a disbursement.
const IdempotencyHeader = "X-IDEMPOTENCY-KEY"

type disbursementRequest struct {
	ExternalID        string      `json:"external_id"`
	Amount            json.Number `json:"amount"`
	BankCode          string      `json:"bank_code"`
	AccountHolderName string      `json:"account_holder_name"`
	AccountNumber     string      `json:"account_number"`
	Description       string      `json:"description"`
}

type disbursementResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// disbursementCurrency is the one currency of Xendit's Disbursements API (Indonesian banks).
const disbursementCurrency = "IDR"

// PaysOut implements gateways.Payouter: Xendit disburses IDR only.
func (g *Gateway) PaysOut(currency string) bool { return currency == disbursementCurrency }

// Payout pays a withdrawal out by Xendit Disbursement (IDR only).
func (g *Gateway) Payout(ctx context.Context, req gateways.PayoutRequest) (gateways.PayoutResult, error) {
	if req.Currency != disbursementCurrency {
		return gateways.PayoutResult{}, fmt.Errorf("%s: disbursements in %s: %w", Name, req.Currency, gateways.ErrUnsupported)
	}
	amt, err := payable(&req.Amount, req.Currency)
	if err != nil {
		return gateways.PayoutResult{}, err
	}
	description := "Tally withdrawal " + req.WithdrawalID
	if req.Reason != "" {
		description = req.Reason
	}
	body := disbursementRequest{
		ExternalID: req.WithdrawalID, Amount: amt, BankCode: req.BankCode,
		AccountHolderName: req.AccountName, AccountNumber: req.AccountNumber, Description: description,
	}
	header := http.Header{IdempotencyHeader: {req.WithdrawalID}}
	var resp disbursementResponse
	err = g.api.Post(ctx, "disbursement", "/disbursements", header, body, &resp)
	var ge *gateways.GatewayError
	if errors.As(err, &ge) && ge.Code == "DUPLICATE_TRANSACTION_ERROR" {
		// An earlier attempt (perhaps in a process that crashed) made it;
		// its callback names it by external_id.
		return gateways.PayoutResult{Status: gateways.PayoutStatusPending}, nil
	}
	if err != nil {
		return gateways.PayoutResult{}, err
	}
	status := gateways.PayoutStatusPending
	switch resp.Status {
	case "COMPLETED":
		status = gateways.PayoutStatusSucceeded
	case "FAILED":
		status = gateways.PayoutStatusFailed
	}
	return gateways.PayoutResult{GatewayReference: resp.ID, Status: status}, nil
}

// disbursement is a disbursement as GET /disbursements?external_id= lists it.
type disbursement struct {
	ID          string      `json:"id"`
	ExternalID  string      `json:"external_id"`
	Status      string      `json:"status"`
	Amount      json.Number `json:"amount"`
	FailureCode string      `json:"failure_code"`
}

// FindPayout implements gateways.PayoutFinder: it lists the disbursements whose external_id is
// our withdrawal id (GET /disbursements?external_id=…); Xendit's 404
// DIRECT_DISBURSEMENT_NOT_FOUND_ERROR says there is none. COMPLETED settles the payout, FAILED
// fails it; PENDING is still moving. More than one disbursement for one withdrawal is not
// guessed between: it is an error, and the payout stays pending.
func (g *Gateway) FindPayout(ctx context.Context, q gateways.PayoutQuery) (gateways.PayoutFound, bool, error) {
	if q.Currency != "" && q.Currency != disbursementCurrency {
		return gateways.PayoutFound{}, false, fmt.Errorf("%s: disbursements in %s: %w", Name, q.Currency, gateways.ErrUnsupported)
	}
	var list []disbursement
	err := g.api.Get(ctx, "find disbursement", "/disbursements?external_id="+url.QueryEscape(q.WithdrawalID), &list)
	var ge *gateways.GatewayError
	if errors.As(err, &ge) && ge.StatusCode == http.StatusNotFound && ge.Code == disbursementNotFound {
		return gateways.PayoutFound{}, false, nil
	}
	if err != nil {
		return gateways.PayoutFound{}, false, err
	}
	var ours []disbursement
	for _, d := range list {
		if d.ExternalID == q.WithdrawalID {
			ours = append(ours, d)
		}
	}
	switch {
	case len(ours) == 0:
		return gateways.PayoutFound{}, false, nil
	case len(ours) > 1:
		return gateways.PayoutFound{}, false, &gateways.GatewayError{Gateway: Name, Op: "find disbursement", StatusCode: http.StatusOK,
			Err: fmt.Errorf("%d disbursements have external_id %s", len(ours), q.WithdrawalID)}
	}
	d := ours[0]
	amount, err := gateways.ParseAmount(d.Amount.String())
	if err != nil {
		return gateways.PayoutFound{}, false, &gateways.GatewayError{Gateway: Name, Op: "find disbursement", StatusCode: http.StatusOK, Err: err}
	}
	found := gateways.PayoutFound{GatewayReference: d.ID, Status: gateways.PayoutStatusPending, Amount: amount, Currency: disbursementCurrency}
	switch d.Status {
	case "COMPLETED":
		found.Status = gateways.PayoutStatusSucceeded
	case "FAILED":
		found.Status, found.Message = gateways.PayoutStatusFailed, d.FailureCode
	}
	return found, true, nil
}

// disbursementCallback is a disbursement's status callback. It names no currency: it is IDR.
type disbursementCallback struct {
	ID          string      `json:"id"`
	ExternalID  string      `json:"external_id"`
	Status      string      `json:"status"`
	Amount      json.Number `json:"amount"`
	FailureCode string      `json:"failure_code"`
}

// isDisbursement tells a disbursement callback from an invoice's: it names a bank account
// holder and our withdrawal id.
func isDisbursement(body []byte) bool {
	var probe struct {
		ExternalID string          `json:"external_id"`
		Holder     json.RawMessage `json:"account_holder_name"`
	}
	return decode(body, &probe) == nil && probe.Holder != nil && strings.HasPrefix(strings.ToLower(probe.ExternalID), "wd_")
}

func parseDisbursement(n gateways.Notification, body []byte) (gateways.Notification, error) {
	var cb disbursementCallback
	if err := decode(body, &cb); err != nil {
		return gateways.Notification{}, malformed(err)
	}
	if cb.ID == "" {
		return gateways.Notification{}, malformed(errors.New("disbursement callback without an id"))
	}
	n.Raw = nil // it names the account holder
	n.EventType = "disbursement." + cb.Status
	n.EventID = cb.ID + ":" + cb.Status
	switch cb.Status {
	case "COMPLETED":
		n.Kind = gateways.PayoutSucceeded
	case "FAILED":
		n.Kind, n.Message = gateways.PayoutFailed, cb.FailureCode
	default:
		return n, nil
	}
	d, err := gateways.ParseAmount(cb.Amount.String())
	if err != nil {
		return gateways.Notification{}, malformed(err)
	}
	n.WithdrawalID, n.GatewayReference, n.Amount, n.Currency = cb.ExternalID, cb.ID, d, disbursementCurrency
	return n, nil
}
