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

var (
	_ gateways.Payouter     = (*Gateway)(nil)
	_ gateways.PayoutFinder = (*Gateway)(nil)
)

// PaysOut implements gateways.Payouter: the sandbox pays out in every currency.
func (g *Gateway) PaysOut(string) bool { return true }

// Payout accepts every payout and, PayoutDelay later, reports its outcome by a signed
// payout.succeeded webhook — or payout.failed when the account number ends in
// FailingAccountSuffix. Close waits for these webhooks. Asking again for a withdrawal it knows
// answers with the payout it made.
func (g *Gateway) Payout(_ context.Context, req gateways.PayoutRequest) (gateways.PayoutResult, error) {
	id := randomID("sbxpo_")
	typ, message, final := typePayoutSucceeded, "", gateways.PayoutStatusSucceeded
	if strings.HasSuffix(req.AccountNumber, FailingAccountSuffix) {
		typ, message, final = typePayoutFailed, "the bank rejected the account (sandbox: the number ends in "+FailingAccountSuffix+")", gateways.PayoutStatusFailed
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
	if made, ok := g.payouts[req.WithdrawalID]; ok {
		return gateways.PayoutResult{GatewayReference: made.GatewayReference, Status: made.Status, Message: made.Message}, nil
	}
	if g.payouts == nil {
		g.payouts = map[string]gateways.PayoutFound{}
	}
	g.payouts[req.WithdrawalID] = gateways.PayoutFound{GatewayReference: id, Status: gateways.PayoutStatusPending, Amount: req.Amount, Currency: req.Currency}
	g.pending.Add(1)
	go func() {
		defer g.pending.Done()
		time.Sleep(PayoutDelay)
		g.mu.Lock()
		made := g.payouts[req.WithdrawalID]
		made.Status, made.Message = final, message
		g.payouts[req.WithdrawalID] = made
		g.mu.Unlock()
		g.deliverWithRetry(p)
	}()
	return gateways.PayoutResult{GatewayReference: id, Status: gateways.PayoutStatusPending}, nil
}

// FindPayout implements gateways.PayoutFinder from the payouts this sandbox made. It keeps them
// in memory only: after a restart it knows none, and answers not found.
func (g *Gateway) FindPayout(_ context.Context, q gateways.PayoutQuery) (gateways.PayoutFound, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	made, ok := g.payouts[q.WithdrawalID]
	return made, ok, nil
}
