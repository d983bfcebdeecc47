package gateways

import (
	"context"

	"github.com/cockroachdb/apd/v3"
)

// Payout notification kinds: what a gateway's webhook says about a payout Tally asked for.
const (
	PayoutSucceeded Kind = "payout.succeeded"
	PayoutFailed    Kind = "payout.failed"
	// PayoutReversed is a payout the bank sent back, usually after it had succeeded.
	PayoutReversed Kind = "payout.reversed"
)

// Payouter is implemented by gateways that pay money out to bank accounts (withdrawals).
type Payouter interface {
	// PaysOut reports whether the gateway pays out in currency, so that a withdrawal it cannot
	// pay is refused before anything is recorded.
	PaysOut(currency string) bool

	// Payout asks the gateway to pay req.Amount to the bank account. WithdrawalID is the
	// gateway's idempotency reference: asking twice for one withdrawal pays once, and a gateway
	// that answers "this reference exists" is answered with the existing payout, not an error.
	// The outcome arrives later by webhook; PayoutResult.Status says what the gateway answered
	// right away. Returns a *GatewayError when the gateway fails, refuses or times out.
	Payout(ctx context.Context, req PayoutRequest) (PayoutResult, error)
}

// PayoutRequest asks for one withdrawal to be paid to a bank account. It carries the full
// account number: never log it.
type PayoutRequest struct {
	WithdrawalID  string      // ours, "wd_…"
	Amount        apd.Decimal // major units, exact
	Currency      string      // ISO 4217, upper case
	BankCode      string
	AccountNumber string
	AccountName   string
	Reason        string
	// RecipientCode is the gateway's id for this bank account from an earlier payout, if any
	// (Paystack's transfer recipient); the gateway creates one when it is empty.
	RecipientCode string
}

// PayoutStatus is a gateway's immediate answer to a payout request.
type PayoutStatus string

// Payout statuses. Gateways usually answer pending and settle the payout by webhook.
const (
	PayoutStatusPending   PayoutStatus = "pending"
	PayoutStatusSucceeded PayoutStatus = "succeeded"
	PayoutStatusFailed    PayoutStatus = "failed"
)

// PayoutResult is a gateway's answer to Payout.
type PayoutResult struct {
	GatewayReference string // the gateway's id for the payout
	Status           PayoutStatus
	// Message explains a failed status (Paystack's OTP requirement, say).
	Message string
	// RecipientCode is the gateway's id for the bank account, to reuse next time.
	RecipientCode string
}

// PayoutStatusReversed is a payout the gateway made and the bank sent back; only FindPayout
// reports it.
const PayoutStatusReversed PayoutStatus = "reversed"

// PayoutQuery names a payout Tally asked for, to look it up at the gateway.
type PayoutQuery struct {
	WithdrawalID     string // ours, "wd_…": the payout's idempotency reference at the gateway
	GatewayReference string // the gateway's id, when its payout API answered
	Currency         string
}

// PayoutFound is where a payout stands at its gateway.
type PayoutFound struct {
	GatewayReference string
	// Status is final only when succeeded, failed or reversed; anything still moving is pending.
	Status  PayoutStatus
	Message string // why it failed or was reversed
	// Amount and Currency are what the gateway says it pays, so a mismatch is never settled.
	Amount   apd.Decimal
	Currency string
}

// PayoutFinder is implemented by gateways that can say where a payout stands, so that Tally can
// settle a withdrawal whose gateway call had no answer and whose webhook never came.
type PayoutFinder interface {
	// FindPayout looks the payout up by our withdrawal id (its reference at the gateway). found
	// false means the gateway answered that it has no payout with that reference. Returns a
	// *GatewayError when the gateway cannot be asked, and an error wrapping ErrUnsupported when
	// it cannot look this payout up (then nothing is known).
	FindPayout(ctx context.Context, q PayoutQuery) (payout PayoutFound, found bool, err error)
}
