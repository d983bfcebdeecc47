package sandbox

import (
	"context"
	"strings"
	"time"

	"github.com/tallyledger/tally/gateways"
)

// PayoutDelay is how long after a payout request the sandbox reports its outcome, as a real
// gateway settles a bank transfer some time after accepting it.
const PayoutDelay = 500 * time.Millisecond

// FailingAccountSuffix makes a sandbox payout fail: account numbers ending in it are "rejected
// by the bank", so the failure path (money back to the wallet) can be tried.
const FailingAccountSuffix = "0000"

var _ gateways.Payouter = (*Gateway)(nil)

// PaysOut implements gateways.Payouter: the sandbox pays out in every currency.
func (g *Gateway) PaysOut(string) bool { return true }

// Payout accepts every payout and, PayoutDelay later, reports its outcome by a signed
// payout.succeeded webhook — or payout.failed when the account number ends in
// FailingAccountSuffix. Close waits for these webhooks.
func (g *Gateway) Payout(_ context.Context, req gateways.PayoutRequest) (gateways.PayoutResult, error) {
	id := randomID("sbxpo_")
	typ, message := typePayoutSucceeded, ""
	if strings.HasSuffix(req.AccountNumber, FailingAccountSuffix) {
		typ, message = typePayoutFailed, "the bank rejected the account (sandbox: the number ends in "+FailingAccountSuffix+")"
	}
	p := payload{
		ID:      randomID("sbxevt_"),
		Type:    typ,
		Created: g.now().Unix(),
		Data: payloadData{
			Reference:        req.WithdrawalID,
			GatewayReference: id,
			Amount:           gateways.FormatAmount(&req.Amount),
			Currency:         req.Currency,
			Message:          message,
		},
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return gateways.PayoutResult{}, &gateways.GatewayError{Gateway: Name, Op: "payout", Message: "the sandbox is shut down"}
	}
	g.pending.Add(1)
	go func() {
		defer g.pending.Done()
		time.Sleep(PayoutDelay)
		g.deliverWithRetry(p)
	}()
	return gateways.PayoutResult{GatewayReference: id, Status: gateways.PayoutStatusPending}, nil
}
