package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
)

func (h *harness) refund(body map[string]any, key string) reply {
	h.t.Helper()
	return h.do("POST", "/v1/refunds", body, "Idempotency-Key", key)
}

func TestTransferRefundsNeverExceedTheOriginal(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "USD"), h.open("b", "USD")
	h.fund(a, "100", "USD")
	tr := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "100", "currency": "USD"}, "Idempotency-Key", "t"), 201).str(t, "id")

	r := h.must(h.refund(map[string]any{"transfer": tr, "amount": "30.00", "reason": "partial"}, "r1"), 201).json(t)
	if r["status"] != "succeeded" || r["amount"] != "30.00" || r["transfer"] != tr {
		t.Fatalf("refund = %v", r)
	}
	rest := h.must(h.refund(map[string]any{"transfer": tr}, "r2"), 201).json(t)
	if rest["amount"] != "70.00" {
		t.Fatalf("the rest = %v", rest)
	}
	more := h.must(h.refund(map[string]any{"transfer": tr, "amount": "0.01"}, "r3"), 422)
	if more.str(t, "code") != "refund_exceeds_original" {
		t.Fatalf("%s", more.body)
	}
	if h.balance(a) != "100.00" || h.balance(b) != "0.00" {
		t.Fatalf("balances a=%s b=%s", h.balance(a), h.balance(b))
	}
	got := h.must(h.do("GET", "/v1/transfers/"+tr, nil), 200).json(t)
	if got["refunded_amount"] != "100.00" {
		t.Fatalf("transfer = %v", got)
	}
	list := h.must(h.do("GET", "/v1/refunds?transfer="+tr, nil), 200).json(t)["data"].([]any)
	if len(list) != 2 {
		t.Fatalf("refunds of the transfer = %v", list)
	}
	h.checkJournal("main")
}

func TestConcurrentRefundsStayWithinTheOriginal(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "500", "NGN")
	h.fund(b, "1000", "NGN") // the recipient can cover more than the transfer
	tr := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "500", "currency": "NGN"}, "Idempotency-Key", "t"), 201).str(t, "id")
	var wg sync.WaitGroup
	codes := make([]string, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.refund(map[string]any{"transfer": tr, "amount": "100.00"}, fmt.Sprint("c", i))
			codes[i] = fmt.Sprint(r.status)
			if r.status != 201 {
				codes[i] = r.str(t, "code")
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count["201"] != 5 || count["refund_exceeds_original"] != 5 {
		t.Fatalf("outcomes %v, want 5 refunds and 5 refund_exceeds_original", count)
	}
	if got := h.must(h.do("GET", "/v1/transfers/"+tr, nil), 200).str(t, "refunded_amount"); got != "500.00" {
		t.Fatalf("refunded %s", got)
	}
	h.checkJournal("main")
}

func TestTransferRefundRules(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "USD"), h.open("b", "USD")
	h.fund(a, "10", "USD")
	tr := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "10", "currency": "USD"}, "Idempotency-Key", "t"), 201).str(t, "id")
	// b spends it, so it cannot be sent back.
	c := h.open("c", "USD")
	h.must(h.do("POST", "/v1/transfers", map[string]any{"from": b, "to": c, "amount": "9", "currency": "USD"}, "Idempotency-Key", "t2"), 201)
	before := h.eventCount()
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"the recipient must hold the refund", map[string]any{"transfer": tr, "amount": "5"}, 422, "insufficient_funds"},
		{"a refund needs deposit or transfer", map[string]any{"amount": "5"}, 400, "invalid_request"},
		{"not both", map[string]any{"transfer": tr, "deposit": "dep_01J00000000000000000000000"}, 400, "invalid_request"},
		{"too many decimals", map[string]any{"transfer": tr, "amount": "1.001"}, 400, "invalid_amount"},
		{"a JSON-number amount", map[string]any{"transfer": tr, "amount": 1}, 400, "invalid_amount"},
		{"an unknown transfer", map[string]any{"transfer": "tr_01J00000000000000000000000"}, 404, "not_found"},
		{"an unknown deposit", map[string]any{"deposit": "dep_01J00000000000000000000000"}, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.refund(tc.body, "rule-"+tc.name)
			if r.status != tc.status || r.str(t, "code") != tc.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if h.eventCount() != before {
		t.Fatal("a refused refund appended events")
	}
}

// paystackRefundEvent is a Paystack refund webhook for one of our deposits,
// naming the refund by the id Paystack's refund API answered with (as
// recent refund events do); an empty id leaves it out, as older events do.
func paystackRefundEvent(t *testing.T, event, reference, refundID string, kobo int64) []byte {
	t.Helper()
	data := map[string]any{
		"status":                map[string]string{"refund.processed": "processed", "refund.failed": "failed"}[event],
		"transaction_reference": reference, "refund_reference": "TRF_" + refundID, "amount": fmt.Sprint(kobo), "currency": "NGN",
		"processor": "mpgs_zen", "integration": 412829, "domain": "test",
	}
	if refundID != "" {
		data["id"] = refundID
	}
	b, err := json.Marshal(map[string]any{"event": event, "data": data})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func paidPaystackDeposit(t *testing.T, h *harness, account, amount string, kobo int64) map[string]any {
	t.Helper()
	dep := h.deposit(account, amount, "NGN", "paystack")
	body := paystackCharge(t, dep["reference"].(string), kobo, "NGN", nil)
	h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
	return dep
}

func TestDepositRefundLifecycle(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")

	t.Run("a refund of a pending deposit is not refundable", func(t *testing.T) {
		dep := h.deposit(a, "1.00", "NGN", "paystack")
		r := h.must(h.refund(map[string]any{"deposit": dep["id"]}, "pending-dep"), 422)
		if r.str(t, "code") != "not_refundable" {
			t.Fatalf("%s", r.body)
		}
	})

	dep := paidPaystackDeposit(t, h, a, "50.00", 5000)
	ref := dep["reference"].(string)

	t.Run("pending, then the processed webhook settles it", func(t *testing.T) {
		r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "20.00", "reason": "customer asked"}, "dr1"), 201).json(t)
		if r["status"] != "pending" {
			t.Fatalf("refund = %v", r)
		}
		if got := h.balance(a); got != "30.00" {
			t.Fatalf("wallet after the request: %s (the money is held in refunds:pending)", got)
		}
		processed := paystackRefundEvent(t, "refund.processed", ref, r["gateway_refund_id"].(string), 2000)
		for range 2 { // a duplicate counts once
			h.must(h.webhook("paystack", processed, paystackSign(processed)...), 200)
		}
		got := h.must(h.do("GET", "/v1/refunds/"+r["id"].(string), nil), 200).json(t)
		if got["status"] != "succeeded" || got["gateway_refund_id"] != r["gateway_refund_id"] {
			t.Fatalf("refund = %v", got)
		}
		if got := h.balance(a); got != "30.00" {
			t.Fatalf("wallet after the refund: %s", got)
		}
	})

	t.Run("a failed refund gives the money back", func(t *testing.T) {
		r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "dr2"), 201).json(t)
		failed := paystackRefundEvent(t, "refund.failed", ref, r["gateway_refund_id"].(string), 1000)
		h.must(h.webhook("paystack", failed, paystackSign(failed)...), 200)
		got := h.must(h.do("GET", "/v1/refunds/"+r["id"].(string), nil), 200).json(t)
		if got["status"] != "failed" || h.balance(a) != "30.00" {
			t.Fatalf("refund = %v, wallet %s", got, h.balance(a))
		}
		d := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
		if d["refunded_amount"] != "20.00" {
			t.Fatalf("deposit refunded_amount = %v, want 20.00 (the failed one does not count)", d["refunded_amount"])
		}
	})

	t.Run("the rest, then one more is refused", func(t *testing.T) {
		h.must(h.refund(map[string]any{"deposit": dep["id"]}, "dr3"), 201)
		r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "0.01"}, "dr4"), 422)
		if r.str(t, "code") != "refund_exceeds_original" {
			t.Fatalf("%s", r.body)
		}
	})

	t.Run("a dashboard refund larger than the balance is recorded", func(t *testing.T) {
		other := paidPaystackDeposit(t, h, a, "40.00", 4000)
		h.must(h.do("POST", "/v1/adjustments", map[string]any{"account": a, "direction": "debit", "amount": "40.00", "currency": "NGN", "reason": "spent"}, "Idempotency-Key", "spend"), 201)
		before := ledger.MustMoney(h.balance(a), "NGN")
		dash := paystackRefundEvent(t, "refund.processed", other["reference"].(string), "dashboard-9", 4000)
		h.must(h.webhook("paystack", dash, paystackSign(dash)...), 200)
		h.must(h.webhook("paystack", dash, paystackSign(dash)...), 200)
		after := ledger.MustMoney(h.balance(a), "NGN")
		if got := before.Sub(after).String(); got != "40.00" {
			t.Fatalf("the dashboard refund took %s, want 40.00", got)
		}
		if after.Sign() >= 0 {
			t.Fatalf("wallet is %s; the test wants it below zero", after)
		}
		list := h.must(h.do("GET", "/v1/refunds?deposit="+other["id"].(string), nil), 200).json(t)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["gateway_initiated"] != true {
			t.Fatalf("refunds = %v", list)
		}
		// The audit reports the wallet the dashboard refund took below zero.
		report := h.must(h.do("GET", "/v1/audit/verify", nil), 200).json(t)
		negative, _ := report["negative_wallets"].([]any)
		if len(negative) != 1 || negative[0].(map[string]any)["account"] != a {
			t.Fatalf("negative_wallets = %v", report["negative_wallets"])
		}
	})
}

func TestConcurrentDepositRefunds(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	dep := paidPaystackDeposit(t, h, a, "100.00", 10000)
	var wg sync.WaitGroup
	codes := make([]string, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.refund(map[string]any{"deposit": dep["id"], "amount": "20.00"}, fmt.Sprint("d", i))
			codes[i] = fmt.Sprint(r.status)
			if r.status != 201 {
				codes[i] = r.str(t, "code")
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count["201"] != 5 || count["refund_exceeds_original"] != 5 {
		t.Fatalf("outcomes %v", count)
	}
	if got := h.balance(a); got != "0.00" {
		t.Fatalf("wallet %s", got)
	}
	h.checkJournal("main")
}

// Stripe announces one refund several times (refund.created, refund.updated,
// charge.refunded); it counts once.
func TestStripeRefundEventsCountOnce(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "USD")
	dep := h.deposit(a, "20.00", "USD", "stripe")
	ref := dep["reference"].(string)
	paid := stripeEvent(t, "evt_paid", "payment_intent.succeeded", map[string]any{
		"id": "pi_fake", "object": "payment_intent", "amount": 2000, "amount_received": 2000, "currency": "usd",
		"status": "succeeded", "metadata": map[string]any{"tally_reference": ref},
	})
	h.must(h.webhook("stripe", paid, stripeSign(paid, time.Now())...), 200)

	r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "stripe-refund"), 201).json(t)
	refundID := r["id"].(string)
	gatewayID := r["gateway_refund_id"].(string)
	refund := func(status string) map[string]any {
		return map[string]any{"id": gatewayID, "object": "refund", "amount": 1000, "currency": "usd", "payment_intent": "pi_fake",
			"status": status, "created": time.Now().Unix(), "metadata": map[string]any{"tally_refund": refundID, "tally_reference": ref}}
	}
	events := [][]byte{
		stripeEvent(t, "evt_r1", "refund.created", refund("pending")),
		stripeEvent(t, "evt_r2", "refund.updated", refund("succeeded")),
		stripeEvent(t, "evt_r3", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge", "amount": 2000, "amount_refunded": 1000,
			"currency": "usd", "payment_intent": "pi_fake", "refunds": map[string]any{"object": "list", "data": []any{refund("succeeded")}}}),
		stripeEvent(t, "evt_r2", "refund.updated", refund("succeeded")),
	}
	for _, e := range events {
		h.must(h.webhook("stripe", e, stripeSign(e, time.Now())...), 200)
	}
	got := h.must(h.do("GET", "/v1/refunds/"+refundID, nil), 200).json(t)
	if got["status"] != "succeeded" {
		t.Fatalf("refund = %v", got)
	}
	if h.balance(a) != "10.00" {
		t.Fatalf("wallet %s, want 10.00", h.balance(a))
	}
	list := h.must(h.do("GET", "/v1/refunds?deposit="+dep["id"].(string), nil), 200).json(t)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("refunds = %v (a Stripe event was counted as a second refund)", list)
	}
	d := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
	if d["refunded_amount"] != "10.00" {
		t.Fatalf("deposit = %v", d)
	}
	h.checkJournal("main")
}

func paidStripeDeposit(t *testing.T, h *harness, account string) (map[string]any, string) {
	t.Helper()
	dep := h.deposit(account, "20.00", "USD", "stripe")
	ref := dep["reference"].(string)
	paid := stripeEvent(t, "evt_paid_"+ref, "payment_intent.succeeded", map[string]any{
		"id": "pi_fake", "object": "payment_intent", "amount": 2000, "amount_received": 2000, "currency": "usd",
		"status": "succeeded", "metadata": map[string]any{"tally_reference": ref},
	})
	h.must(h.webhook("stripe", paid, stripeSign(paid, time.Now())...), 200)
	return dep, ref
}

func stripeRefundObject(id, status string, metadata map[string]any) map[string]any {
	return map[string]any{"id": id, "object": "refund", "amount": 1000, "currency": "usd", "payment_intent": "pi_fake",
		"status": status, "created": time.Now().Unix(), "metadata": metadata}
}

func TestGatewayAnswersToRefunds(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "USD")
	dep, ref := paidStripeDeposit(t, h, a)

	t.Run("a refund the gateway refuses is a 502 and the money comes back", func(t *testing.T) {
		fake.refuseRefunds.Store(true)
		defer fake.refuseRefunds.Store(false)
		r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "refused"), 502)
		if r.str(t, "code") != "gateway_error" || !strings.Contains(r.str(t, "detail"), "refused the refund") {
			t.Fatalf("%s", r.body)
		}
		list := h.must(h.do("GET", "/v1/refunds?deposit="+dep["id"].(string), nil), 200).json(t)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["status"] != "failed" || h.balance(a) != "20.00" {
			t.Fatalf("refunds %v, wallet %s", list, h.balance(a))
		}
	})

	t.Run("a refund the gateway settles at once succeeds at once", func(t *testing.T) {
		fake.refundStatus.Store("succeeded")
		defer fake.refundStatus.Store("pending")
		r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "instant"), 201).json(t)
		if r["status"] != "succeeded" || h.balance(a) != "10.00" {
			t.Fatalf("refund %v, wallet %s", r, h.balance(a))
		}
	})

	t.Run("a dashboard refund of the same amount does not settle our pending one", func(t *testing.T) {
		h.fund(a, "10", "USD") // so that the dashboard refund keeps the wallet at zero
		ours := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "ours"), 201).json(t)
		dash := stripeEvent(t, "evt_dash", "refund.updated", stripeRefundObject("re_dashboard", "succeeded", map[string]any{"tally_reference": ref}))
		h.must(h.webhook("stripe", dash, stripeSign(dash, time.Now())...), 200)
		got := h.must(h.do("GET", "/v1/refunds/"+ours["id"].(string), nil), 200).json(t)
		if got["status"] != "pending" {
			t.Fatalf("our refund = %v; a refund without our id is not ours", got)
		}
		list := h.must(h.do("GET", "/v1/refunds?deposit="+dep["id"].(string), nil), 200).json(t)["data"].([]any)
		if last := list[len(list)-1].(map[string]any); last["gateway_initiated"] != true {
			t.Fatalf("refunds = %v", list)
		}
	})
	h.checkJournal("main")
}

// A refund whose gateway call timed out may have been carried out: it stays
// pending with its money held in refunds:pending (202), so the wallet cannot
// spend it; the late success webhook settles it once, without taking the
// money a second time.
func TestRefundWithAnUnknownOutcomeStaysPending(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*fakeGateways)
	}{
		{"a timed-out call", func(f *fakeGateways) { f.stall.Store(true) }},
		{"a 5xx answer", func(f *fakeGateways) { f.refundServerError.Store(true) }},
	} {
		t.Run(tc.name+" keeps the refund pending and its money held", func(t *testing.T) {
			fake := newFakeGateways(t)
			h := newHarness(t, withGateways(t, fake))
			a := h.open("payer", "USD")
			dep, ref := paidStripeDeposit(t, h, a)
			tc.setup(fake)
			r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "slow"), 202).json(t)
			fake.stall.Store(false)
			fake.refundServerError.Store(false)
			refundID := r["id"].(string)
			if r["status"] != "pending" || h.balance(a) != "10.00" {
				t.Fatalf("refund %v, wallet %s: the money must stay held", r, h.balance(a))
			}
			// The held money cannot be spent meanwhile.
			other := h.open("other", "USD")
			spend := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": other, "amount": "20.00", "currency": "USD"}, "Idempotency-Key", "spend"), 422)
			if spend.str(t, "code") != "insufficient_funds" {
				t.Fatalf("%s", spend.body)
			}
			late := stripeEvent(t, "evt_late", "refund.updated", stripeRefundObject("re_late", "succeeded", map[string]any{"tally_refund": refundID, "tally_reference": ref}))
			for range 2 {
				h.must(h.webhook("stripe", late, stripeSign(late, time.Now())...), 200)
			}
			got := h.must(h.do("GET", "/v1/refunds/"+refundID, nil), 200).json(t)
			if got["status"] != "succeeded" || got["gateway_refund_id"] != "re_late" || h.balance(a) != "10.00" {
				t.Fatalf("refund %v, wallet %s", got, h.balance(a))
			}
			d := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
			if d["refunded_amount"] != "10.00" {
				t.Fatalf("deposit = %v", d)
			}
			h.checkJournal("main")
		})
	}
}

func TestDashboardRefundOfAnUncreditedDeposit(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("payer", "NGN")
	dep := h.deposit(a, "40.00", "NGN", "paystack")
	wrong := paystackCharge(t, dep["reference"].(string), 3000, "NGN", nil) // flags it
	h.must(h.webhook("paystack", wrong, paystackSign(wrong)...), 200)
	dash := paystackRefundEvent(t, "refund.processed", dep["reference"].(string), "dash-1", 3000)
	h.must(h.webhook("paystack", dash, paystackSign(dash)...), 200)
	if got := h.balance(a); got != "0.00" {
		t.Fatalf("wallet %s: a refund of money never credited must not touch it", got)
	}
	events := h.must(h.do("GET", "/v1/events?type=gateway.unmatched", nil), 200).json(t)["data"].([]any)
	if len(events) != 1 {
		t.Fatalf("unmatched = %v", events)
	}
}
