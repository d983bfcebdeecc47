package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// crashPaystack is a fake Paystack whose first refund call takes the refund
// and then never answers, so the server can be killed between Paystack's
// acceptance and its record; it lists and fetches the refunds it took.
type crashPaystack struct {
	srv   *httptest.Server
	taken chan struct{}

	mu      sync.Mutex
	refunds []map[string]any
}

func newCrashPaystack(t *testing.T) *crashPaystack {
	f := &crashPaystack{taken: make(chan struct{}, 4)}
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
			refund := map[string]any{"id": 3018284 + len(f.refunds), "status": "pending", "amount": req["amount"], "currency": "NGN",
				"merchant_note": req["merchant_note"], "domain": "test"}
			f.refunds = append(f.refunds, refund)
			first := len(f.refunds) == 1
			f.mu.Unlock()
			f.taken <- struct{}{}
			if first {
				<-r.Context().Done() // the caller dies waiting
				return
			}
			b, _ := json.Marshal(map[string]any{"status": true, "message": "Refund has been queued for processing", "data": refund})
			w.Write(b)
		case r.Method == http.MethodGet && r.URL.Path == "/refund":
			f.mu.Lock()
			b, _ := json.Marshal(map[string]any{"status": true, "message": "Refunds retrieved", "data": f.refunds})
			f.mu.Unlock()
			w.Write(b)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"status":false,"message":"not found"}`)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *crashPaystack) refundCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.refunds)
}

// TestRefundResumesAfterACrash SIGKILLs the server after Paystack took a
// refund but before the server recorded Paystack's answer. The client's
// retry, on the restarted server, gets 409 while the dead process's lease
// runs (if the restart was quicker than the lease), then resumes the refund: it asks Paystack first, finds the refund
// by our id in its merchant note, and records it without refunding twice.
func TestRefundResumesAfterACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real server")
	}
	paystack := newCrashPaystack(t)
	p := newTallyProcess(t, "TALLY_PAYSTACK_SECRET_KEY="+e2ePaystackSecret, "TALLY_PAYSTACK_BASE_URL="+paystack.srv.URL,
		"TALLY_IDEMPOTENCY_LEASE=2s")
	p.start()
	client := &http.Client{Timeout: 30 * time.Second}
	must := func(r apiReply, status int) map[string]any {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
		}
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		return m
	}
	wallet := must(call(client, p.base, "POST", "/v1/accounts", []byte(`{"owner":"payer","currency":"NGN"}`)), 201)["id"].(string)
	dep := must(call(client, p.base, "POST", "/v1/deposits",
		[]byte(fmt.Sprintf(`{"account":%q,"amount":"50.00","currency":"NGN","gateway":"paystack","email":"payer@example.com"}`, wallet)),
		"Idempotency-Key", "crash-deposit"), 201)
	paid, _ := json.Marshal(map[string]any{"event": "charge.success", "data": map[string]any{
		"id": 4000000000001, "domain": "test", "status": "success", "reference": dep["reference"], "amount": 5000,
		"currency": "NGN", "paid_at": "2026-11-22T10:00:00.000Z", "channel": "card"}})
	must(call(client, p.base, "POST", "/v1/webhooks/paystack", paid, "Authorization", "", "X-Paystack-Signature", paystackSignature(paid)), 200)

	refund := []byte(fmt.Sprintf(`{"deposit":%q,"amount":"20.00"}`, dep["id"]))
	lost := make(chan apiReply, 1)
	go func() { lost <- call(client, p.base, "POST", "/v1/refunds", refund, "Idempotency-Key", "crash-refund") }()
	<-paystack.taken // Paystack has the refund; its answer never reaches the server
	p.kill(false)
	if r := <-lost; r.status != 0 {
		t.Fatalf("the request answered %d before the kill", r.status)
	}
	p.start()

	var got apiReply
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got = call(client, p.base, "POST", "/v1/refunds", refund, "Idempotency-Key", "crash-refund")
		if got.status != 409 { // 409 while the dead process's lease runs
			break
		}
	}
	r := must(got, 201)
	if r["status"] != "pending" || r["gateway_refund_id"] != "3018284" {
		t.Fatalf("resumed refund = %v", r)
	}
	if n := paystack.refundCalls(); n != 1 {
		t.Fatalf("Paystack was asked for %d refunds; the client asked for one", n)
	}
	balance := must(call(client, p.base, "GET", "/v1/accounts/"+wallet+"/balance", nil), 200)
	if balance["balance"] != "30.00" {
		t.Fatalf("wallet %v", balance["balance"])
	}
	again := call(client, p.base, "POST", "/v1/refunds", refund, "Idempotency-Key", "crash-refund")
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(got.body) {
		t.Fatalf("a later retry: %d %s", again.status, again.body)
	}
}
