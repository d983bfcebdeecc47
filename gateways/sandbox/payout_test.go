package sandbox

import (
	"context"
	"testing"

	"github.com/tallyledger/tally/gateways"
)

// The sandbox remembers the payouts it made: FindPayout sees one pending, then settled as its
// webhook says, and a withdrawal it never paid is not found. Asking twice pays once.
func TestFindPayout(t *testing.T) {
	g, _ := newSandbox(t, &webhookSink{})
	ctx := context.Background()
	for _, tc := range []struct {
		name, withdrawal, account string
		want                      gateways.PayoutStatus
	}{
		{"a payout is found, then succeeded", "wd_ok", "0123456789", gateways.PayoutStatusSucceeded},
		{"a payout to a rejected account is found, then failed", "wd_no", "1234560000", gateways.PayoutStatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := gateways.PayoutRequest{WithdrawalID: tc.withdrawal, Amount: dec(t, "25.00"), Currency: "NGN", BankCode: "058", AccountNumber: tc.account, AccountName: "Ada"}
			res, err := g.Payout(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			again, err := g.Payout(ctx, req)
			if err != nil || again.GatewayReference != res.GatewayReference {
				t.Fatalf("asked twice: %+v then %+v (%v)", res, again, err)
			}
			found, ok, err := g.FindPayout(ctx, gateways.PayoutQuery{WithdrawalID: tc.withdrawal})
			if err != nil || !ok || found.Status != gateways.PayoutStatusPending || found.GatewayReference != res.GatewayReference ||
				found.Amount.Text('f') != "25.00" || found.Currency != "NGN" {
				t.Fatalf("before the webhook: %+v %v %v", found, ok, err)
			}
		})
	}
	g.Close() // waits for the webhooks
	for id, want := range map[string]gateways.PayoutStatus{"wd_ok": gateways.PayoutStatusSucceeded, "wd_no": gateways.PayoutStatusFailed} {
		if found, ok, err := g.FindPayout(ctx, gateways.PayoutQuery{WithdrawalID: id}); err != nil || !ok || found.Status != want {
			t.Fatalf("%s after the webhook: %+v %v %v, want %s", id, found, ok, err, want)
		}
	}
	if _, ok, err := g.FindPayout(ctx, gateways.PayoutQuery{WithdrawalID: "wd_never"}); ok || err != nil {
		t.Fatalf("a payout never made: found %v, %v", ok, err)
	}
}
