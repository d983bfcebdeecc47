package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/paystack"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/schema/testdb"
)

// paystackRefunds is a fake Paystack that keeps the refunds it is asked
// for, lists them (GET /refund?transaction=…) and fetches them
// (GET /refund/{id}) in Paystack's shapes; hold makes refund calls wait
// after Paystack has taken the refund, as a slow answer does.
type paystackRefunds struct {
	srv *httptest.Server

	mu      sync.Mutex
	refunds []map[string]any // in Paystack's shape
	posts   int              // POST /refund calls
	hold    chan struct{}    // when set, POST /refund answers once it is closed
	taken   chan struct{}    // receives once per POST /refund taken
}

func newPaystackRefunds(t *testing.T) *paystackRefunds {
	f := &paystackRefunds{taken: make(chan struct{}, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/transaction/initialize":
			fmt.Fprintf(w, `{"status":true,"message":"Authorization URL created","data":{"authorization_url":"https://checkout.paystack.com/x","access_code":"ac_x","reference":%q}}`, req["reference"])
		case r.Method == http.MethodPost && r.URL.Path == "/refund":
			f.mu.Lock()
			f.posts++
			refund := map[string]any{"id": 3018284 + len(f.refunds), "status": "pending", "amount": req["amount"], "currency": "NGN",
				"transaction": 1004723697, "merchant_note": req["merchant_note"], "integration": 412829, "domain": "test"}
			f.refunds = append(f.refunds, refund)
			hold := f.hold
			f.mu.Unlock()
			f.taken <- struct{}{}
			if hold != nil {
				select {
				case <-hold:
				case <-r.Context().Done():
					return
				}
			}
			b, _ := json.Marshal(map[string]any{"status": true, "message": "Refund has been queued for processing", "data": refund})
			w.Write(b)
		case r.Method == http.MethodGet && r.URL.Path == "/refund":
			f.mu.Lock()
			b, _ := json.Marshal(map[string]any{"status": true, "message": "Refunds retrieved", "data": f.refunds,
				"meta": map[string]any{"total": len(f.refunds), "perPage": 100, "page": 1}})
			f.mu.Unlock()
			w.Write(b)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/refund/"):
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, refund := range f.refunds {
				if fmt.Sprint(refund["id"]) == strings.TrimPrefix(r.URL.Path, "/refund/") {
					b, _ := json.Marshal(map[string]any{"status": true, "message": "Refund retrieved", "data": refund})
					w.Write(b)
					return
				}
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"status":false,"message":"Refund not found"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"status":false,"message":"not found"}`)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// setStatus makes Paystack report the refund with id as status.
func (f *paystackRefunds) setStatus(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.refunds {
		if fmt.Sprint(r["id"]) == id {
			r["status"] = status
		}
	}
}

func (f *paystackRefunds) postCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

func withPaystackRefunds(t *testing.T, f *paystackRefunds) func(*Config) {
	return func(cfg *Config) {
		ps, err := paystack.New(paystack.Config{SecretKey: paystackSecret, BaseURL: f.srv.URL, HTTPClient: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Gateways = gateways.Set{"paystack": ps}
		cfg.InProgressLease = time.Second
	}
}

// Two processes on one database: a retry that reaches the second while the
// first is still calling Paystack gets 409, and Paystack is asked once.
func TestRefundKeyInFlightAcrossProcesses(t *testing.T) {
	fake := newPaystackRefunds(t)
	url := testdb.New(t)
	first := newHarnessAt(t, url, withPaystackRefunds(t, fake))
	second := newHarnessAt(t, url, withPaystackRefunds(t, fake))
	a := first.open("payer", "NGN")
	dep := paidPaystackDeposit(t, first, a, "50.00", 5000)

	fake.mu.Lock()
	fake.hold = make(chan struct{})
	fake.mu.Unlock()
	body := map[string]any{"deposit": dep["id"], "amount": "20.00"}
	done := make(chan reply, 1)
	go func() { done <- first.refund(body, "one-refund") }()
	<-fake.taken // the first process is inside Paystack's refund call

	for range 3 { // longer than the lease: the first process keeps renewing it
		busy := second.refund(body, "one-refund")
		if busy.status != 409 || busy.str(t, "code") != "idempotency_key_in_use" {
			t.Fatalf("retry on the second process while the first runs: %d %s", busy.status, busy.body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(fake.hold)
	created := <-done
	if created.status != 201 || created.str(t, "status") != "pending" {
		t.Fatalf("first: %d %s", created.status, created.body)
	}
	again := second.must(second.refund(body, "one-refund"), 201)
	if string(again.body) != string(created.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the retry after the first finished: %s", again.body)
	}
	if n := fake.postCount(); n != 1 {
		t.Fatalf("Paystack was asked %d times for one refund", n)
	}
	if got := first.balance(a); got != "30.00" {
		t.Fatalf("wallet %s", got)
	}
	first.checkJournal("main")
}

// Paystack refund webhooks name the refund by the id its refund API
// answered; two pending refunds of one amount each get their own outcome,
// whatever the order, and an event naming neither id is not guessed.
func TestPaystackRefundsOfOneAmountMatchByID(t *testing.T) {
	fake := newPaystackRefunds(t)
	h := newHarness(t, withPaystackRefunds(t, fake))
	a := h.open("payer", "NGN")
	dep := paidPaystackDeposit(t, h, a, "50.00", 5000)
	ref := dep["reference"].(string)
	first := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "first"), 201).json(t)
	second := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "second"), 201).json(t)
	if first["gateway_refund_id"] == second["gateway_refund_id"] || first["gateway_refund_id"] == nil {
		t.Fatalf("gateway refund ids %v and %v", first["gateway_refund_id"], second["gateway_refund_id"])
	}
	status := func(r map[string]any) string {
		return h.must(h.do("GET", "/v1/refunds/"+r["id"].(string), nil), 200).str(t, "status")
	}

	t.Run("an event naming neither refund settles neither", func(t *testing.T) {
		anonymous := paystackRefundEvent(t, "refund.processed", ref, "", 1000)
		h.must(h.webhook("paystack", anonymous, paystackSign(anonymous)...), 200)
		if status(first) != "pending" || status(second) != "pending" || h.balance(a) != "30.00" {
			t.Fatalf("statuses %s %s, wallet %s", status(first), status(second), h.balance(a))
		}
		unmatched := h.must(h.do("GET", "/v1/events?type=gateway.unmatched", nil), 200).json(t)["data"].([]any)
		if len(unmatched) != 1 {
			t.Fatalf("unmatched = %v", unmatched)
		}
	})
	t.Run("the second's success settles the second", func(t *testing.T) {
		ok := paystackRefundEvent(t, "refund.processed", ref, second["gateway_refund_id"].(string), 1000)
		h.must(h.webhook("paystack", ok, paystackSign(ok)...), 200)
		if status(first) != "pending" || status(second) != "succeeded" {
			t.Fatalf("statuses %s %s", status(first), status(second))
		}
	})
	t.Run("the first's refusal fails the first and gives its money back", func(t *testing.T) {
		no := paystackRefundEvent(t, "refund.failed", ref, first["gateway_refund_id"].(string), 1000)
		h.must(h.webhook("paystack", no, paystackSign(no)...), 200)
		if status(first) != "failed" || status(second) != "succeeded" || h.balance(a) != "40.00" {
			t.Fatalf("statuses %s %s, wallet %s", status(first), status(second), h.balance(a))
		}
	})
	h.checkJournal("main")
}

// The reconciler settles refunds whose outcome Tally does not know by
// asking Paystack, and fails one only when Paystack has no record of it.
func TestReconcilerAsksTheGateway(t *testing.T) {
	fake := newPaystackRefunds(t)
	h := newHarness(t, withPaystackRefunds(t, fake))
	a := h.open("payer", "NGN")
	dep := paidPaystackDeposit(t, h, a, "90.00", 9000)
	settled := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "10.00"}, "settled"), 201).json(t)
	refused := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "20.00"}, "refused"), 201).json(t)
	waiting := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "30.00"}, "waiting"), 201).json(t)
	fake.setStatus(settled["gateway_refund_id"].(string), "processed")
	fake.setStatus(refused["gateway_refund_id"].(string), "failed")
	ctx := context.Background()

	// Too young: a request may still be calling the gateway.
	if rep, err := h.api.ReconcileRefunds(ctx, ReconcileOptions{}); err != nil || rep.Asked != 0 {
		t.Fatalf("young refunds were asked about: %+v %v", rep, err)
	}
	rep, err := h.api.ReconcileRefunds(ctx, ReconcileOptions{MinAge: time.Nanosecond})
	if err != nil || rep.Settled != 1 || rep.Failed != 1 || rep.Unknown != 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	for id, want := range map[string]string{settled["id"].(string): "succeeded", refused["id"].(string): "failed", waiting["id"].(string): "pending"} {
		if got := h.must(h.do("GET", "/v1/refunds/"+id, nil), 200).str(t, "status"); got != want {
			t.Errorf("refund %s is %s, want %s", id, got, want)
		}
	}
	if got := h.balance(a); got != "50.00" {
		t.Fatalf("wallet %s, want 50.00 (90.00 less the 40.00 settled or pending)", got)
	}
	again, err := h.api.ReconcileRefunds(ctx, ReconcileOptions{MinAge: time.Nanosecond})
	if err != nil || again.Settled+again.Failed != 0 {
		t.Fatalf("a second pass changed something: %+v %v", again, err)
	}

	t.Run("a refund Paystack never received is failed only once it is old", func(t *testing.T) {
		lost := ledger.NewID(ledger.PrefixRefund)
		_, err := h.api.journal.Submit(ctx, pgjournalRequest(ledger.RequestDepositRefund{RefundID: lost, DepositID: dep["id"].(string), Amount: "5.00"}))
		if err != nil {
			t.Fatal(err)
		}
		if rep, _ := h.api.ReconcileRefunds(ctx, ReconcileOptions{MinAge: time.Nanosecond}); rep.Failed != 0 {
			t.Fatalf("failed too early: %+v", rep)
		}
		if got := h.must(h.do("GET", "/v1/refunds/"+lost, nil), 200).str(t, "status"); got != "pending" {
			t.Fatalf("refund %s", got)
		}
		if rep, _ := h.api.ReconcileRefunds(ctx, ReconcileOptions{MinAge: time.Nanosecond, GiveUpAfter: time.Nanosecond}); rep.Failed != 1 {
			t.Fatalf("not failed: %+v", rep)
		}
		if got := h.must(h.do("GET", "/v1/refunds/"+lost, nil), 200).str(t, "status"); got != "failed" || h.balance(a) != "50.00" {
			t.Fatalf("refund %s, wallet %s", got, h.balance(a))
		}
	})
	h.checkJournal("main")
}

// Deposits, refunds and webhooks in a book other than main, end to end.
func TestDepositsAndRefundsInASecondBook(t *testing.T) {
	fake := newPaystackRefunds(t)
	h := newHarness(t, withPaystackRefunds(t, fake))
	a := h.must(h.do("POST", "/v1/accounts", map[string]any{"owner": "payer", "currency": "NGN", "book": "shop"}), 201).str(t, "id")
	dep := h.must(h.do("POST", "/v1/deposits", map[string]any{"account": a, "amount": "50.00", "currency": "NGN", "gateway": "paystack", "email": "payer@example.com"},
		"Idempotency-Key", "shop-deposit"), 201).json(t)
	if dep["status"] != "pending" || dep["checkout_url"] == nil {
		t.Fatalf("deposit %v", dep)
	}
	paid := paystackCharge(t, dep["reference"].(string), 5000, "NGN", nil)
	h.must(h.webhook("paystack", paid, paystackSign(paid)...), 200)
	if got := h.balance(a); got != "50.00" {
		t.Fatalf("wallet %s after the charge", got)
	}
	r := h.must(h.refund(map[string]any{"deposit": dep["id"], "amount": "20.00"}, "shop-refund"), 201).json(t)
	done := paystackRefundEvent(t, "refund.processed", dep["reference"].(string), r["gateway_refund_id"].(string), 2000)
	h.must(h.webhook("paystack", done, paystackSign(done)...), 200)
	if got := h.must(h.do("GET", "/v1/refunds/"+r["id"].(string), nil), 200).str(t, "status"); got != "succeeded" {
		t.Fatalf("refund %s", got)
	}
	if got := h.balance(a); got != "30.00" {
		t.Fatalf("wallet %s after the refund", got)
	}
	h.checkJournal("shop")
	if events := h.checkJournal("main"); len(events) != 0 {
		t.Fatalf("the main book got %d events", len(events))
	}
}

// A wallet whose money is held by a pending refund cannot be closed: if the
// gateway refused the refund, the money would come back to a closed wallet.
func TestWalletWithAPendingRefundCannotClose(t *testing.T) {
	fake := newPaystackRefunds(t)
	h := newHarness(t, withPaystackRefunds(t, fake))
	a := h.open("payer", "NGN")
	dep := paidPaystackDeposit(t, h, a, "50.00", 5000)
	r := h.must(h.refund(map[string]any{"deposit": dep["id"]}, "all"), 201).json(t)
	if got := h.balance(a); got != "0.00" {
		t.Fatalf("wallet %s", got)
	}
	for _, ref := range []string{a, h.must(h.do("GET", "/v1/accounts/"+a, nil), 200).str(t, "wallet_number")} {
		refused := h.must(h.do("POST", "/v1/accounts/"+ref+"/close", nil), 422)
		if refused.str(t, "code") != "balance_not_zero" || !strings.Contains(refused.str(t, "detail"), r["id"].(string)) {
			t.Fatalf("close by %s: %s", ref, refused.body)
		}
	}
	no := paystackRefundEvent(t, "refund.failed", dep["reference"].(string), r["gateway_refund_id"].(string), 5000)
	h.must(h.webhook("paystack", no, paystackSign(no)...), 200)
	if got := h.balance(a); got != "50.00" {
		t.Fatalf("wallet %s after the refusal", got)
	}
	h.must(h.do("POST", "/v1/adjustments", map[string]any{"account": a, "direction": "debit", "amount": "50.00", "currency": "NGN", "reason": "paid out"}, "Idempotency-Key", "out"), 201)
	h.must(h.do("POST", "/v1/accounts/"+a+"/close", nil), 200)
	h.checkJournal("main")
}

// pgjournalRequest submits cmd to the main book outside any HTTP request.
func pgjournalRequest(cmd ledger.Command) pgjournal.Request {
	return pgjournal.Request{Command: cmd, Book: ledger.DefaultBook, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		return pgjournal.Response{Status: http.StatusCreated}
	}}
}
