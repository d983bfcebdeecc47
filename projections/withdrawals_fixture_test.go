package projections_test

import "github.com/tallyledger/tally/ledger"

// withdrawalWork runs withdrawals through the sequencer as the HTTP API and
// the webhooks would: one settled, one refused, one failed by its webhook,
// one reversed after its success, and one left pending with an unknown outcome.
func (f *fixture) withdrawalWork(book, wallet, cur string) {
	f.t.Helper()
	must := func(what string, cmd ledger.Command) {
		f.t.Helper()
		if got := f.submit(book, cmd); got != "ok" {
			f.t.Fatalf("%s: %s", what, got)
		}
	}
	request := func(amount string) string {
		id := ledger.NewID(ledger.PrefixWithdrawal)
		must("withdraw "+amount, ledger.RequestWithdrawal{WithdrawalID: id, Account: wallet, Amount: ledger.MustMoney(amount, cur),
			Gateway: "paystack", DestinationID: ledger.NewID(ledger.PrefixDestination), BankCode: "058", MaskedNumber: "******6789"})
		return id
	}
	notify := func(id string, kind ledger.NotificationKind, amount string) {
		must(string(kind), ledger.GatewayNotification{Gateway: "paystack", Kind: kind, EventID: "ev-" + id + string(kind),
			WithdrawalID: id, GatewayReference: "TRF_" + id, Amount: amount, Currency: cur})
	}
	settled := request("3.00")
	must("submitted", ledger.RecordPayoutSubmission{WithdrawalID: settled, GatewayReference: "TRF_" + settled})
	notify(settled, ledger.NotifyPayoutSucceeded, "3.00")
	must("refused", ledger.FailWithdrawal{WithdrawalID: request("1.00"), Reason: "refused"})
	notify(request("1.25"), ledger.NotifyPayoutFailed, "1.25")
	reversed := request("0.75")
	notify(reversed, ledger.NotifyPayoutSucceeded, "0.75")
	notify(reversed, ledger.NotifyPayoutReversed, "0.75")
	must("unknown outcome", ledger.RecordPayoutSubmission{WithdrawalID: request("0.50"), OutcomeUnknown: true})
}
