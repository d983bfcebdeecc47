package httpapi

import (
	"testing"
)

// TestRefundsHonourOverdraftLimits shows over HTTP that every kind of refund
// debits its wallet under the funds rule of a transfer: down to minus the
// overdraft limit, not a minor unit further, refused as a transfer is
// (422 insufficient_funds on amount) and leaving the journal unchanged.
func TestRefundsHonourOverdraftLimits(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	payer, shop, other := h.open("payer", "NGN"), h.open("shop", "NGN"), h.open("other", "NGN")
	h.must(h.do("PATCH", "/v1/accounts/"+shop, map[string]any{"overdraft_limit": "50.00"}), 200)
	h.fund(payer, "200", "NGN")
	transfer := func(from, to, amount string, status int) reply {
		t.Helper()
		return h.must(h.do("POST", "/v1/transfers", map[string]any{"from": from, "to": to, "amount": amount, "currency": "NGN"}, key()...), status)
	}
	refused := func(t *testing.T, r reply) {
		t.Helper()
		body := r.json(t)
		errs, _ := body["errors"].([]any)
		if body["code"] != "insufficient_funds" || len(errs) != 1 || errs[0].(map[string]any)["field"] != "amount" {
			t.Fatalf("%s, want insufficient_funds on amount", r.body)
		}
	}

	tr := transfer(payer, shop, "30.00", 201).str(t, "id")
	transfer(shop, other, "20.00", 201) // shop: 10.00
	t.Run("a transfer refund may take the recipient down to minus its limit", func(t *testing.T) {
		r := h.must(h.refund(map[string]any{"transfer": tr, "amount": "30.00"}, key()[1]), 201).json(t)
		if r["status"] != "succeeded" || h.balance(shop) != "-20.00" {
			t.Fatalf("refund = %v, shop %s", r, h.balance(shop))
		}
	})

	hold := h.hold(payer, shop, "40.00")["id"].(string)
	h.must(h.do("POST", "/v1/holds/"+hold+"/capture", nil, key()...), 200) // shop: 20.00
	transfer(shop, other, "60.00", 201)                                    // shop: -40.00
	t.Run("a hold refund one minor unit past the limit is refused as a transfer is", func(t *testing.T) {
		before := h.eventCount()
		refused(t, h.must(h.refund(map[string]any{"hold": hold, "amount": "10.01"}, key()[1]), 422))
		refused(t, transfer(shop, other, "10.01", 422))
		if h.eventCount() != before {
			t.Fatal("a refused refund appended events")
		}
	})
	t.Run("a hold refund down to exactly minus the limit is paid", func(t *testing.T) {
		h.must(h.refund(map[string]any{"hold": hold, "amount": "10.00"}, key()[1]), 201)
		if got := h.balance(shop); got != "-50.00" {
			t.Fatalf("shop %s", got)
		}
	})

	wallet := h.open("merchant", "NGN")
	h.must(h.do("PATCH", "/v1/accounts/"+wallet, map[string]any{"overdraft_limit": "30.00"}), 200)
	dep := paidPaystackDeposit(t, h, wallet, "50.00", 5000)
	transfer(wallet, other, "70.00", 201) // wallet: -20.00
	t.Run("a deposit refund may take the wallet down to minus its limit", func(t *testing.T) {
		r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, key()[1]), 201).json(t)
		if r["status"] != "pending" || h.balance(wallet) != "-30.00" {
			t.Fatalf("refund = %v, wallet %s", r, h.balance(wallet))
		}
	})
	t.Run("a deposit refund past the limit is refused as a transfer is", func(t *testing.T) {
		before := h.eventCount()
		refused(t, h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "0.01"}, key()[1]), 422))
		refused(t, transfer(wallet, other, "0.01", 422))
		if h.eventCount() != before {
			t.Fatal("a refused refund appended events")
		}
	})
	h.checkJournal("main")
}
