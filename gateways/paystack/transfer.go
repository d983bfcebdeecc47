package paystack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tallyledger/tally/gateways"
)

// Payouts go through Paystack Transfers: a transfer recipient (the bank account, created once
// and reused through its recipient_code), then POST /transfer with our withdrawal id as its
// reference. Paystack refuses a second transfer with a reference it has seen, so a retry after
// a crash cannot pay twice; that refusal means "it exists", and the transfer is looked up.

var (
	_ gateways.Payouter     = (*Gateway)(nil)
	_ gateways.PayoutFinder = (*Gateway)(nil)
)

// recipientTypes is Paystack's recipient type per currency: NUBAN accounts in Nigeria, GhIPSS
// in Ghana, BASA in South Africa.
var recipientTypes = map[string]string{"NGN": "nuban", "GHS": "ghipss", "ZAR": "basa"}

// ErrOTPRequired explains a transfer Paystack holds for an OTP: the integration has OTP for
// transfers turned on, which an API cannot answer. See docs/gateways.md.
var ErrOTPRequired = errors.New("transfers need an OTP at Paystack: turn off the OTP requirement for transfers in the Paystack dashboard (Settings → Preferences) so Tally can pay out")

type recipientRequest struct {
	Type          string `json:"type"`
	Name          string `json:"name"`
	AccountNumber string `json:"account_number"`
	BankCode      string `json:"bank_code"`
	Currency      string `json:"currency"`
}

type recipientData struct {
	RecipientCode string `json:"recipient_code"`
}

type transferRequest struct {
	Source    string `json:"source"`
	Amount    int64  `json:"amount"` // minor units
	Recipient string `json:"recipient"`
	Reference string `json:"reference"`
	Reason    string `json:"reason,omitempty"`
	Currency  string `json:"currency"`
}

type transferData struct {
	Status       string     `json:"status"`
	TransferCode string     `json:"transfer_code"`
	Reference    string     `json:"reference"`
	Amount       numberText `json:"amount"` // minor units
	Currency     string     `json:"currency"`
}

// PaysOut implements gateways.Payouter: Paystack transfers to NGN, GHS and ZAR bank accounts.
func (g *Gateway) PaysOut(currency string) bool {
	_, ok := recipientTypes[currency]
	return ok
}

// TransferReference is the reference of our withdrawal's transfer: the withdrawal id in lower
// case, as Paystack takes lower-case letters, digits, "_" and "-" only.
func TransferReference(withdrawalID string) string { return strings.ToLower(withdrawalID) }

// Payout pays a withdrawal out by Paystack Transfer. A transfer answered "otp" fails with
// ErrOTPRequired's explanation (the money goes back to the wallet); one whose reference exists
// already is looked up instead of failing.
func (g *Gateway) Payout(ctx context.Context, req gateways.PayoutRequest) (gateways.PayoutResult, error) {
	exp, ok := Exponent(req.Currency)
	typ, typeKnown := recipientTypes[req.Currency]
	if !ok || !typeKnown {
		return gateways.PayoutResult{}, fmt.Errorf("%s: transfers in %s: %w", Name, req.Currency, gateways.ErrUnsupported)
	}
	minor, err := gateways.MinorUnits(&req.Amount, exp)
	if err != nil {
		return gateways.PayoutResult{}, fmt.Errorf("%s: %w", Name, err)
	}
	recipient := req.RecipientCode
	if recipient == "" {
		var resp apiResponse[recipientData]
		body := recipientRequest{Type: typ, Name: req.AccountName, AccountNumber: req.AccountNumber, BankCode: req.BankCode, Currency: req.Currency}
		if err := g.api.Post(ctx, "create transfer recipient", "/transferrecipient", nil, body, &resp); err != nil {
			return gateways.PayoutResult{}, beforeTransfer(err)
		}
		if !resp.Status || resp.Data.RecipientCode == "" {
			return gateways.PayoutResult{}, &gateways.GatewayError{Gateway: Name, Op: "create transfer recipient", StatusCode: http.StatusOK, Message: resp.Message, NothingSent: true}
		}
		recipient = resp.Data.RecipientCode
	}
	reference := TransferReference(req.WithdrawalID)
	var resp apiResponse[transferData]
	err = g.api.Post(ctx, "transfer", "/transfer", nil, transferRequest{
		Source: "balance", Amount: minor, Recipient: recipient, Reference: reference, Reason: req.Reason, Currency: req.Currency,
	}, &resp)
	var ge *gateways.GatewayError
	if errors.As(err, &ge) && ge.Code == "duplicate_transfer_reference" {
		// An earlier attempt (perhaps in a process that crashed) made it.
		data, err := g.verifyTransfer(ctx, reference)
		if err != nil {
			// The transfer exists but cannot be read now (Paystack's reads
			// may lag): its outcome is unknown, never a refusal.
			return gateways.PayoutResult{RecipientCode: recipient}, &gateways.GatewayError{Gateway: Name, Op: "transfer", Code: ge.Code, Err: err}
		}
		return transferResult(data, recipient), nil
	}
	if err != nil {
		return gateways.PayoutResult{RecipientCode: recipient}, err
	}
	if !resp.Status {
		return gateways.PayoutResult{RecipientCode: recipient}, &gateways.GatewayError{Gateway: Name, Op: "transfer", StatusCode: http.StatusOK, Message: resp.Message}
	}
	return transferResult(resp.Data, recipient), nil
}

// beforeTransfer marks the failure of a step before POST /transfer: no money can have moved.
func beforeTransfer(err error) error {
	var ge *gateways.GatewayError
	if errors.As(err, &ge) {
		ge.NothingSent = true
	}
	return err
}

// verifyTransfer reads our transfer by its reference (GET /transfer/verify/{reference}).
func (g *Gateway) verifyTransfer(ctx context.Context, reference string) (transferData, error) {
	var resp apiResponse[transferData]
	if err := g.api.Get(ctx, "verify transfer", "/transfer/verify/"+url.PathEscape(reference), &resp); err != nil {
		return transferData{}, err
	}
	if !resp.Status {
		return transferData{}, &gateways.GatewayError{Gateway: Name, Op: "verify transfer", StatusCode: http.StatusOK, Message: resp.Message}
	}
	return resp.Data, nil
}

// FindPayout implements gateways.PayoutFinder: it verifies our transfer by its reference (GET
// /transfer/verify/{reference}); Paystack's 404 says no transfer has it. Only Paystack's
// conclusive statuses settle: success; failed, abandoned, rejected and blocked (the transfer
// will not be processed); reversed (the bank sent it back). Every other status (pending,
// received, otp, queued) is still moving.
func (g *Gateway) FindPayout(ctx context.Context, q gateways.PayoutQuery) (gateways.PayoutFound, bool, error) {
	data, err := g.verifyTransfer(ctx, TransferReference(q.WithdrawalID))
	var ge *gateways.GatewayError
	if errors.As(err, &ge) && ge.StatusCode == http.StatusNotFound {
		return gateways.PayoutFound{}, false, nil
	}
	if err != nil {
		return gateways.PayoutFound{}, false, err
	}
	found := gateways.PayoutFound{GatewayReference: data.TransferCode, Status: gateways.PayoutStatusPending}
	switch data.Status {
	case "success":
		found.Status = gateways.PayoutStatusSucceeded
	case "failed", "abandoned", "rejected", "blocked":
		found.Status, found.Message = gateways.PayoutStatusFailed, "the transfer is "+data.Status
	case "reversed":
		found.Status, found.Message = gateways.PayoutStatusReversed, "the transfer is reversed"
	}
	if found.Currency, err = gateways.NormalizeCurrency(data.Currency); err != nil {
		return gateways.PayoutFound{}, false, &gateways.GatewayError{Gateway: Name, Op: "verify transfer", StatusCode: http.StatusOK, Err: err}
	}
	exp, ok := Exponent(found.Currency)
	if !ok {
		return gateways.PayoutFound{}, false, &gateways.GatewayError{Gateway: Name, Op: "verify transfer", StatusCode: http.StatusOK,
			Err: fmt.Errorf("currency %s has no known Paystack subunit", found.Currency)}
	}
	if found.Amount, err = gateways.ParseMinorUnits(string(data.Amount), exp); err != nil {
		return gateways.PayoutFound{}, false, &gateways.GatewayError{Gateway: Name, Op: "verify transfer", StatusCode: http.StatusOK, Err: err}
	}
	return found, true, nil
}

// transferResult is what a transfer's status means: failed, reversed and otp (a transfer that
// waits for an OTP nobody will send) fail the payout; everything else is on its way, and only
// the webhook settles it.
func transferResult(d transferData, recipient string) gateways.PayoutResult {
	r := gateways.PayoutResult{GatewayReference: d.TransferCode, Status: gateways.PayoutStatusPending, RecipientCode: recipient}
	switch d.Status {
	case "success":
		r.Status = gateways.PayoutStatusSucceeded
	case "failed", "reversed", "abandoned", "rejected":
		r.Status, r.Message = gateways.PayoutStatusFailed, "the transfer is "+d.Status
	case "otp":
		r.Status, r.Message = gateways.PayoutStatusFailed, ErrOTPRequired.Error()
	}
	return r
}
