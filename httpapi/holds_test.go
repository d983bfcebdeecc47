package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/schema/testdb"
)

// key is an Idempotency-Key header pair, fresh each call.
func key() []string { return []string{"Idempotency-Key", ledger.NewID("k")} }

func (h *harness) account(id string) map[string]any {
	h.t.Helper()
	return h.must(h.do("GET", "/v1/accounts/"+id, nil), 200).json(h.t)
}

func (h *harness) hold(from, to, amount string, extra ...string) map[string]any {
	h.t.Helper()
	body := map[string]any{"from": from, "to": to, "amount": amount, "currency": "NGN"}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	return h.must(h.do("POST", "/v1/holds", body, key()...), 201).json(h.t)
}

func TestOverdraftLimits(t *testing.T) {
	h := newHarness(t)
	a := h.must(h.do("POST", "/v1/accounts", map[string]any{"owner": "shop", "currency": "NGN", "overdraft_limit": "50"}), 201).json(t)
	if a["overdraft_limit"] != "50.00" || a["held"] != "0.00" {
		t.Fatalf("account = %v", a)
	}
	id, b := a["id"].(string), h.open("u", "NGN")
	t.Run("a wallet may be taken down to minus its limit, not a minor unit further", func(t *testing.T) {
		h.must(h.do("POST", "/v1/transfers", map[string]any{"from": id, "to": b, "amount": "50.00", "currency": "NGN"}, key()...), 201)
		before := h.eventCount()
		r := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": id, "to": b, "amount": "0.01", "currency": "NGN"}, key()...), 422)
		if r.str(t, "code") != "insufficient_funds" || h.eventCount() != before {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("PATCH by admin records account.limit_changed", func(t *testing.T) {
		r := h.must(h.do("PATCH", "/v1/accounts/"+id, map[string]any{"overdraft_limit": "80.00"}), 200).json(t)
		if r["overdraft_limit"] != "80.00" || r["balance"] != "-50.00" {
			t.Fatalf("%v", r)
		}
		events := h.must(h.do("GET", "/v1/events?type=account.limit_changed", nil), 200).json(t)["data"].([]any)
		if len(events) != 1 {
			t.Fatalf("events = %v", events)
		}
		h.must(h.do("POST", "/v1/transfers", map[string]any{"from": id, "to": b, "amount": "30.00", "currency": "NGN"}, key()...), 201)
	})
	t.Run("only admin keys set limits", func(t *testing.T) {
		k := h.key("shop", "accounts:read", "accounts:write", "transfers:write")
		r := h.must(h.do("PATCH", "/v1/accounts/"+id, map[string]any{"overdraft_limit": "100"}, as(k)...), 403)
		if r.str(t, "code") != "forbidden" {
			t.Fatalf("%s", r.body)
		}
		r = h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN", "overdraft_limit": "1"}, as(k)...), 403)
		if r.str(t, "code") != "forbidden" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("a limit with more digits than the currency is 400", func(t *testing.T) {
		r := h.must(h.do("PATCH", "/v1/accounts/"+id, map[string]any{"overdraft_limit": "1.001"}), 400)
		if r.str(t, "code") != "invalid_amount" {
			t.Fatalf("%s", r.body)
		}
	})
	h.checkJournal("main")
}

func TestHoldThenCapture(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("buyer", "NGN"), h.open("seller", "NGN")
	h.fund(a, "100", "NGN")
	hd := h.hold(a, b, "40.00", "description", "order 1")
	if hd["status"] != "pending" || hd["captured_amount"] != "0.00" || hd["description"] != "order 1" {
		t.Fatalf("hold = %v", hd)
	}
	id := hd["id"].(string)
	t.Run("creating a hold lowers balance and raises held at once", func(t *testing.T) {
		acc := h.account(a)
		if acc["balance"] != "60.00" || acc["held"] != "40.00" {
			t.Fatalf("account = %v", acc)
		}
	})
	t.Run("held money cannot be spent twice", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "60.01", "currency": "NGN"}, key()...), 422)
		if r.str(t, "code") != "insufficient_funds" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("a wallet with a pending hold cannot close", func(t *testing.T) {
		h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "60.00", "currency": "NGN"}, key()...), 201)
		r := h.must(h.do("POST", "/v1/accounts/"+a+"/close", nil), 422)
		if r.str(t, "code") != "balance_not_zero" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("a partial capture pays the recipient and returns the rest", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/holds/"+id+"/capture", map[string]any{"amount": "25"}, key()...), 200).json(t)
		if r["status"] != "captured" || r["captured_amount"] != "25.00" || r["position"] != hd["position"] {
			t.Fatalf("capture = %v", r)
		}
		if acc := h.account(a); acc["balance"] != "15.00" || acc["held"] != "0.00" {
			t.Fatalf("sender = %v", acc)
		}
		if got := h.balance(b); got != "85.00" {
			t.Fatalf("recipient %s", got)
		}
	})
	t.Run("capture and void of a captured hold are hold_not_pending", func(t *testing.T) {
		for _, action := range []string{"capture", "void"} {
			r := h.must(h.do("POST", "/v1/holds/"+id+"/"+action, nil, key()...), 422)
			if r.str(t, "code") != "hold_not_pending" {
				t.Fatalf("%s: %s", action, r.body)
			}
		}
	})
	t.Run("a captured hold is refundable like a transfer", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/refunds", map[string]any{"hold": id, "amount": "5.00"}, key()...), 201).json(t)
		if r["hold"] != id || r["status"] != "succeeded" || r["amount"] != "5.00" {
			t.Fatalf("refund = %v", r)
		}
		got := h.must(h.do("GET", "/v1/refunds/"+r["id"].(string), nil), 200).json(t)
		if got["hold"] != id {
			t.Fatalf("GET refund = %v", got)
		}
		bad := h.must(h.do("POST", "/v1/refunds", map[string]any{"hold": id, "amount": "20.01"}, key()...), 422)
		if bad.str(t, "code") != "refund_exceeds_original" {
			t.Fatalf("%s", bad.body)
		}
		if got := h.must(h.do("GET", "/v1/holds/"+id, nil), 200).json(t); got["refunded_amount"] != "5.00" {
			t.Fatalf("hold = %v", got)
		}
	})
	t.Run("capturing more than the hold is capture_exceeds_hold", func(t *testing.T) {
		h.fund(a, "10", "NGN")
		other := h.hold(a, b, "10.00")["id"].(string)
		r := h.must(h.do("POST", "/v1/holds/"+other+"/capture", map[string]any{"amount": "10.01"}, key()...), 422)
		if r.str(t, "code") != "capture_exceeds_hold" {
			t.Fatalf("%s", r.body)
		}
		h.must(h.do("POST", "/v1/holds/"+other+"/void", nil, key()...), 200)
	})
	t.Run("lists filter by status and refuse unknown parameters", func(t *testing.T) {
		list := h.must(h.do("GET", "/v1/holds?status=voided&account="+a, nil), 200).json(t)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["status"] != "voided" {
			t.Fatalf("voided = %v", list)
		}
		r := h.must(h.do("GET", "/v1/holds?stauts=pending", nil), 400)
		if r.str(t, "code") != "invalid_request" {
			t.Fatalf("%s", r.body)
		}
		h.must(h.do("GET", "/v1/holds?status=paid", nil), 400)
	})
	t.Run("expires_in over 720h is 400 and appends nothing", func(t *testing.T) {
		before := h.eventCount()
		r := h.must(h.do("POST", "/v1/holds", map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN", "expires_in": "721h"}, key()...), 400)
		if r.str(t, "code") != "invalid_request" || h.eventCount() != before {
			t.Fatalf("%s", r.body)
		}
	})
	h.checkJournal("main")
}

// Every refusal a transfer gives, a hold, a transaction leg and a batch
// item give with the same code, and none of them appends anything.
func TestRefusalsAreTheSameForEveryWrite(t *testing.T) {
	h := newHarness(t)
	a, b, usd := h.open("a", "NGN"), h.open("b", "NGN"), h.open("c", "USD")
	frozen, closed := h.open("f", "NGN"), h.open("x", "NGN")
	h.fund(a, "10", "NGN")
	h.must(h.do("POST", "/v1/accounts/"+frozen+"/freeze", nil), 200)
	h.must(h.do("POST", "/v1/accounts/"+closed+"/close", nil), 200)
	cases := []struct {
		name, from, to, amount, currency, code string
		status                                 int
	}{
		{"insufficient funds", a, b, "10.01", "NGN", "insufficient_funds", 422},
		{"same account", a, a, "1", "NGN", "same_account", 422},
		{"currency mismatch", a, usd, "1", "NGN", "currency_mismatch", 422},
		{"frozen recipient", a, frozen, "1", "NGN", "account_frozen", 422},
		{"closed recipient", a, closed, "1", "NGN", "account_closed", 422},
		{"unknown recipient", a, "acc_01M812RN1CDNWRCNTW829KV612", "1", "NGN", "not_found", 404},
		{"too many decimals", a, b, "1.001", "NGN", "invalid_amount", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"from": tc.from, "to": tc.to, "amount": tc.amount, "currency": tc.currency}
			before := h.eventCount()
			for _, path := range []string{"/v1/transfers", "/v1/holds"} {
				r := h.must(h.do("POST", path, body, key()...), tc.status)
				if r.str(t, "code") != tc.code {
					t.Fatalf("%s: %s", path, r.body)
				}
			}
			r := h.must(h.do("POST", "/v1/transactions", map[string]any{"legs": []any{
				map[string]any{"from": a, "to": b, "amount": "0.01", "currency": "NGN"}, body}}, key()...), tc.status)
			if r.str(t, "code") != tc.code {
				t.Fatalf("transaction: %s", r.body)
			}
			if errs, _ := r.json(t)["errors"].([]any); len(errs) == 0 || errs[0].(map[string]any)["field"].(string)[:7] != "legs[1]" {
				t.Fatalf("transaction errors: %s", r.body)
			}
			for _, typ := range []string{"transfer", "hold"} {
				res := h.must(h.do("POST", "/v1/batch", map[string]any{"items": []any{
					map[string]any{"type": typ, "idempotency_key": ledger.NewID("k"), "body": body}}}, key()...), 200).json(t)
				item := res["results"].([]any)[0].(map[string]any)
				if int(item["status"].(float64)) != tc.status || item["body"].(map[string]any)["code"] != tc.code {
					t.Fatalf("batch %s item: %v", typ, item)
				}
			}
			if h.eventCount() != before {
				t.Fatal("a refused request appended to the journal")
			}
		})
	}
}

func TestConcurrentCaptureAndVoidOneWins(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "100", "NGN")
	id := h.hold(a, b, "100")["id"].(string)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	codes := make([]string, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := "capture"
			if i%2 == 1 {
				action = "void"
			}
			r := h.do("POST", "/v1/holds/"+id+"/"+action, nil, key()...)
			statuses[i] = r.status
			if r.status != 200 {
				codes[i] = r.str(t, "code")
			}
		}()
	}
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch {
		case s == 200:
			won++
		case s != 422 || codes[i] != "hold_not_pending":
			t.Fatalf("request %d: %d %s", i, s, codes[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d of 20 capture/void requests won, want exactly 1 (%v)", won, statuses)
	}
	if acc := h.account(a); acc["held"] != "0.00" {
		t.Fatalf("held after = %v", acc)
	}
	h.checkJournal("main")
}

// Expiry is the service's own: the expirer appends hold.expired through
// the sequencer, and a new process's expirer catches up with holds that
// expired while none was running.
func TestHoldsExpireAlsoAfterARestart(t *testing.T) {
	url := testdb.New(t)
	first := newHarnessAt(t, url)
	a, b := first.open("a", "NGN"), first.open("b", "NGN")
	first.fund(a, "10", "NGN")
	id := first.hold(a, b, "10", "expires_in", "1s")["id"].(string)
	first.srv.Close() // the first process stops; no expirer ran
	time.Sleep(1100 * time.Millisecond)

	h := newHarnessAt(t, url)
	r := h.must(h.do("POST", "/v1/holds/"+id+"/capture", nil, key()...), 422)
	if r.str(t, "code") != "hold_expired" {
		t.Fatalf("capture past expires_at: %s", r.body)
	}
	x := &pgjournal.Expirer{Journal: h.api.journal, Store: h.store, Interval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for h.must(h.do("GET", "/v1/holds/"+id, nil), 200).str(t, "status") != "expired" {
		if time.Now().After(deadline) {
			t.Fatal("the expirer did not expire the hold")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if acc := h.account(a); acc["balance"] != "10.00" || acc["held"] != "0.00" {
		t.Fatalf("sender after expiry = %v", acc)
	}
	if n, err := x.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("a second pass found %d holds (%v)", n, err)
	}
	r = h.must(h.do("POST", "/v1/holds/"+id+"/void", nil, key()...), 422)
	if r.str(t, "code") != "hold_not_pending" {
		t.Fatalf("void after expiry: %s", r.body)
	}
	events := h.must(h.do("GET", "/v1/events?type=hold.expired", nil), 200).json(t)["data"].([]any)
	if len(events) != 1 {
		t.Fatalf("hold.expired events = %d, want 1", len(events))
	}
	h.checkJournal("main")
}

func TestTransactions(t *testing.T) {
	h := newHarness(t)
	buyer, seller, fees := h.open("buyer", "NGN"), h.open("seller", "NGN"), h.open("fees", "NGN")
	ua, ub := h.open("buyer", "USD"), h.open("treasury", "USD")
	h.fund(buyer, "100", "NGN")
	h.fund(ua, "10", "USD")
	leg := func(from, to, amount, cur string) map[string]any {
		return map[string]any{"from": from, "to": to, "amount": amount, "currency": cur}
	}
	var txn map[string]any
	t.Run("a marketplace sale in several currencies is one event", func(t *testing.T) {
		before := h.eventCount()
		txn = h.must(h.do("POST", "/v1/transactions", map[string]any{"legs": []any{
			leg(buyer, seller, "95", "NGN"), leg(buyer, fees, "5", "NGN"), leg(ua, ub, "2.50", "USD")}, "description": "order 7"}, key()...), 201).json(t)
		if h.eventCount() != before+1 || len(txn["legs"].([]any)) != 3 || txn["status"] != "completed" {
			t.Fatalf("txn = %v", txn)
		}
		if h.balance(buyer) != "0.00" || h.balance(seller) != "95.00" || h.balance(ub) != "2.50" {
			t.Fatal("balances did not move as the legs say")
		}
		got := h.must(h.do("GET", "/v1/transactions/"+txn["id"].(string), nil), 200).json(t)
		if got["description"] != "order 7" || got["position"] != txn["position"] {
			t.Fatalf("GET = %v", got)
		}
		list := h.must(h.do("GET", "/v1/transactions?account="+fees, nil), 200).json(t)["data"].([]any)
		if len(list) != 1 {
			t.Fatalf("list = %v", list)
		}
	})
	t.Run("funds are checked on the net change", func(t *testing.T) {
		h.must(h.do("POST", "/v1/transactions", map[string]any{"legs": []any{
			leg(seller, buyer, "200", "NGN"), leg(buyer, seller, "60", "NGN")}}, key()...), 422)
		h.must(h.do("POST", "/v1/transactions", map[string]any{"legs": []any{
			leg(seller, buyer, "95", "NGN"), leg(buyer, seller, "40", "NGN")}}, key()...), 201)
	})
	t.Run("a bad leg names itself", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/transactions", map[string]any{"legs": []any{
			leg(buyer, seller, "1", "NGN"), leg(buyer, seller, "1", "NGN"), leg(buyer, seller, "1", "XYZ")}}, key()...), 400)
		if r.str(t, "code") != "unknown_currency" || r.json(t)["errors"].([]any)[0].(map[string]any)["field"] != "legs[2].currency" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("over 64 legs is 400", func(t *testing.T) {
		legs := make([]any, 65)
		for i := range legs {
			legs[i] = leg(buyer, seller, "0.01", "NGN")
		}
		h.must(h.do("POST", "/v1/transactions", map[string]any{"legs": legs}, key()...), 400)
	})
	t.Run("a transaction is reversed once", func(t *testing.T) {
		id := txn["id"].(string)
		h.fund(seller, "55", "NGN") // the reversal takes the sale back from the seller
		rev := h.must(h.do("POST", "/v1/transactions/"+id+"/reverse", nil, key()...), 201).json(t)
		if rev["reverses"] != id {
			t.Fatalf("reversal = %v", rev)
		}
		if got := h.must(h.do("GET", "/v1/transactions/"+id, nil), 200).json(t); got["reversed_by"] != rev["id"] {
			t.Fatalf("original = %v", got)
		}
		r := h.must(h.do("POST", "/v1/transactions/"+id+"/reverse", nil, key()...), 422)
		if r.str(t, "code") != "not_refundable" {
			t.Fatalf("%s", r.body)
		}
	})
	h.checkJournal("main")
}

func TestBatches(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "100", "NGN")
	transfer := func(k, amount string) map[string]any {
		return map[string]any{"type": "transfer", "idempotency_key": k, "body": map[string]any{"from": a, "to": b, "amount": amount, "currency": "NGN"}}
	}
	t.Run("items are decided in order, each on its own", func(t *testing.T) {
		body := map[string]any{"items": []any{transfer("t1", "60"), transfer("t2", "60"), transfer("t3", "40")}}
		batchKey := key()
		res := h.must(h.do("POST", "/v1/batch", body, batchKey...), 200)
		results := res.json(t)["results"].([]any)
		want := []float64{201, 422, 201}
		for i, r := range results {
			if r.(map[string]any)["status"] != want[i] {
				t.Fatalf("results = %v", results)
			}
		}
		again := h.must(h.do("POST", "/v1/batch", body, batchKey...), 200)
		if string(again.body) != string(res.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry: %s", again.body)
		}
		// An item's key is its endpoint's: the same transfer alone replays.
		alone := h.must(h.do("POST", "/v1/transfers", transfer("t1", "60")["body"], "Idempotency-Key", "t1"), 201)
		if alone.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("an item's key did not replay at its endpoint")
		}
		if h.balance(a) != "0.00" {
			t.Fatalf("balance %s", h.balance(a))
		}
	})
	t.Run("an atomic batch with one bad item moves nothing", func(t *testing.T) {
		h.fund(a, "50", "NGN")
		before := h.eventCount()
		r := h.must(h.do("POST", "/v1/batch", map[string]any{"atomic": true, "items": []any{
			transfer("u1", "10"), transfer("u2", "41"), transfer("u3", "1")}}, key()...), 422).json(t)
		results := r["results"].([]any)
		if r["code"] != "batch_failed" || results[1].(map[string]any)["status"] != 422.0 ||
			results[1].(map[string]any)["body"].(map[string]any)["code"] != "insufficient_funds" ||
			results[0].(map[string]any)["status"] != 424.0 || results[2].(map[string]any)["status"] != 424.0 {
			t.Fatalf("%v", r)
		}
		if h.eventCount() != before || h.balance(a) != "50.00" {
			t.Fatal("an atomic batch that failed moved money")
		}
		// Its items' keys were not used: they can go again.
		h.must(h.do("POST", "/v1/batch", map[string]any{"atomic": true, "items": []any{transfer("u1", "10"), transfer("u2", "40")}}, key()...), 200)
		if h.balance(a) != "0.00" {
			t.Fatalf("balance %s", h.balance(a))
		}
	})
	t.Run("every write type goes in a batch", func(t *testing.T) {
		res := h.must(h.do("POST", "/v1/batch", map[string]any{"items": []any{
			map[string]any{"type": "adjustment", "idempotency_key": "v1", "body": map[string]any{"account": a, "direction": "credit", "amount": "30", "currency": "NGN", "reason": "float"}},
			map[string]any{"type": "hold", "idempotency_key": "v2", "body": map[string]any{"from": a, "to": b, "amount": "10", "currency": "NGN"}},
			map[string]any{"type": "transaction", "idempotency_key": "v3", "body": map[string]any{"legs": []any{map[string]any{"from": a, "to": b, "amount": "5", "currency": "NGN"}}}},
		}}, key()...), 200).json(t)["results"].([]any)
		for _, r := range res {
			if r.(map[string]any)["status"] != 201.0 {
				t.Fatalf("results = %v", res)
			}
		}
		hold := res[1].(map[string]any)["body"].(map[string]any)["id"].(string)
		hold2 := h.hold(a, b, "5")["id"].(string)
		res = h.must(h.do("POST", "/v1/batch", map[string]any{"items": []any{
			map[string]any{"type": "capture", "idempotency_key": "v4", "hold": hold, "body": map[string]any{"amount": "4"}},
			map[string]any{"type": "void", "idempotency_key": "v5", "hold": hold2},
			map[string]any{"type": "void", "idempotency_key": "v6", "hold": hold},
		}}, key()...), 200).json(t)["results"].([]any)
		if res[0].(map[string]any)["status"] != 200.0 || res[1].(map[string]any)["status"] != 200.0 ||
			res[2].(map[string]any)["body"].(map[string]any)["code"] != "hold_not_pending" {
			t.Fatalf("results = %v", res)
		}
	})
	t.Run("over 1000 items is 400", func(t *testing.T) {
		items := make([]any, MaxBatchItems+1)
		for i := range items {
			items[i] = transfer(fmt.Sprint("o", i), "0.01")
		}
		h.must(h.do("POST", "/v1/batch", map[string]any{"items": items}, key()...), 400)
	})
	h.checkJournal("main")
}

// A batch is the fast path: its items are one command group, appended in
// one transaction however many they are.
func TestBatchIsOneAppend(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "1000", "NGN")
	items := make([]any, 100)
	for i := range items {
		items[i] = map[string]any{"type": "transfer", "idempotency_key": fmt.Sprint("i", i), "body": map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN"}}
	}
	before := h.api.journal.Stats()
	h.must(h.do("POST", "/v1/batch", map[string]any{"items": items}, key()...), 200)
	after := h.api.journal.Stats()
	if after.Batches-before.Batches != 1 {
		t.Fatalf("100 transfers took %d append transactions, want 1", after.Batches-before.Batches)
	}
	if h.balance(b) != "100.00" {
		t.Fatalf("recipient %s", h.balance(b))
	}
	h.checkJournal("main")
}

func TestBatchItemsNeedTheirScopes(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "10", "NGN")
	k := h.key("", "transfers:write")
	res := h.must(h.do("POST", "/v1/batch", map[string]any{"items": []any{
		map[string]any{"type": "transfer", "idempotency_key": "s1", "body": map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN"}},
		map[string]any{"type": "adjustment", "idempotency_key": "s2", "body": map[string]any{"account": a, "direction": "credit", "amount": "1", "currency": "NGN", "reason": "x"}},
		map[string]any{"type": "hold", "idempotency_key": "s3", "body": map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN"}},
	}}, as(k, key()...)...), 200).json(t)["results"].([]any)
	if res[0].(map[string]any)["status"] != 201.0 || res[1].(map[string]any)["status"] != float64(http.StatusForbidden) || res[2].(map[string]any)["status"] != 403.0 {
		t.Fatalf("results = %v", res)
	}
}

func TestHoldsAreSeenOnlyByTheirOwners(t *testing.T) {
	h := newHarness(t)
	scopes := []string{"accounts:read", "accounts:write", "holds:write", "transfers:write"}
	alice, bob, carol := h.key("alice", scopes...), h.key("bob", scopes...), h.key("carol", scopes...)
	a := h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN"}, as(alice)...), 201).str(t, "id")
	b := h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN"}, as(bob)...), 201).str(t, "id")
	h.fund(a, "50", "NGN")
	h.fund(b, "50", "NGN")
	body := func(from, to string) map[string]any {
		return map[string]any{"from": from, "to": to, "amount": "10", "currency": "NGN"}
	}
	t.Run("a key holds only its owner's money", func(t *testing.T) {
		h.must(h.do("POST", "/v1/holds", body(b, a), as(alice, key()...)...), 404)
	})
	id := h.must(h.do("POST", "/v1/holds", body(a, b), as(alice, key()...)...), 201).str(t, "id")
	other := h.must(h.do("POST", "/v1/holds", body(a, b), as(alice, key()...)...), 201).str(t, "id")
	t.Run("another owner's key sees nothing of the hold", func(t *testing.T) {
		h.must(h.do("GET", "/v1/holds/"+id, nil, as(carol)...), 404)
		h.must(h.do("POST", "/v1/holds/"+id+"/void", nil, as(carol, key()...)...), 404)
		if list := h.must(h.do("GET", "/v1/holds", nil, as(carol)...), 200).json(t)["data"].([]any); len(list) != 0 {
			t.Fatalf("carol lists %v", list)
		}
	})
	t.Run("the recipient's owner may capture, the sender's may void", func(t *testing.T) {
		h.must(h.do("POST", "/v1/holds/"+id+"/capture", nil, as(bob, key()...)...), 200)
		h.must(h.do("POST", "/v1/holds/"+other+"/void", nil, as(alice, key()...)...), 200)
	})
	if got := h.balance(b); got != "60.00" {
		t.Fatalf("bob holds %s", got)
	}
}

func TestBatchRefusesMalformedItems(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "10", "NGN")
	good := map[string]any{"type": "transfer", "idempotency_key": "m1", "body": map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN"}}
	cases := []struct {
		name  string
		item  map[string]any
		code  string
		field string
	}{
		{"an unknown type", map[string]any{"type": "refund", "idempotency_key": "m2", "body": map[string]any{}}, "invalid_request", "items[1].type"},
		{"no idempotency_key", map[string]any{"type": "transfer", "body": good["body"]}, "idempotency_key_missing", "items[1].idempotency_key"},
		{"a key that is not printable ASCII", map[string]any{"type": "transfer", "idempotency_key": "k\u00e9y", "body": good["body"]}, "invalid_request", "items[1].idempotency_key"},
		{"a capture without its hold", map[string]any{"type": "capture", "idempotency_key": "m3"}, "invalid_request", "items[1].hold"},
		{"a malformed body", map[string]any{"type": "transfer", "idempotency_key": "m4", "body": map[string]any{"from": a, "to": b, "amount": 1, "currency": "NGN"}}, "invalid_amount", "amount"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is answered 400 in its result, the others go on", func(t *testing.T) {
			good["idempotency_key"] = ledger.NewID("k")
			res := h.must(h.do("POST", "/v1/batch", map[string]any{"items": []any{good, tc.item}}, key()...), 200).json(t)["results"].([]any)
			bad := res[1].(map[string]any)
			body := bad["body"].(map[string]any)
			if res[0].(map[string]any)["status"] != 201.0 || bad["status"] != 400.0 || body["code"] != tc.code ||
				body["errors"].([]any)[0].(map[string]any)["field"] != tc.field {
				t.Fatalf("results = %v", res)
			}
		})
		t.Run(tc.name+" fails an atomic batch before anything is decided", func(t *testing.T) {
			before := h.eventCount()
			good["idempotency_key"] = ledger.NewID("k")
			r := h.must(h.do("POST", "/v1/batch", map[string]any{"atomic": true, "items": []any{good, tc.item}}, key()...), 422).json(t)
			if r["code"] != "batch_failed" || h.eventCount() != before {
				t.Fatalf("%v", r)
			}
		})
	}
}
