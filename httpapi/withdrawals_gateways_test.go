package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/paystack"
	"github.com/tallyledger/tally/gateways/xendit"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// fakePayouts stands in for Paystack Transfers and Xendit Disbursements,
// answering with their real-format payloads (testdata/payouts). Like the
// real gateways it makes one payout per reference: Paystack refuses a reused
// transfer reference, Xendit a reused idempotency key.
type fakePayouts struct {
	t   *testing.T
	srv *httptest.Server
	// mode: "" accepts; "otp" answers transfers with status otp; "refuse"
	// refuses them (insufficient balance); "stall" never answers; "lost"
	// makes the payout but answers 502; "unreached" answers 502 and makes none.
	mode atomic.Value
	// settled is the status the gateway reports a payout in when looked up
	// (Paystack's by reference, Xendit's by external_id); default pending.
	settled map[string]string

	mu         sync.Mutex
	recipients int               // transfer recipients created
	transfers  map[string]int    // Paystack reference → transfers made with it
	disbursed  map[string]int    // Xendit idempotency key → disbursements made with it
	requests   map[string][]byte // last request body per path
}

func newFakePayouts(t *testing.T) *fakePayouts {
	f := &fakePayouts{t: t, transfers: map[string]int{}, disbursed: map[string]int{}, requests: map[string][]byte{}, settled: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// fixture reads a payload from testdata/payouts and applies edits to its
// top-level object, or to its "data" object for keys starting with "data.".
func fixture(t testing.TB, name string, edits map[string]any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "payouts", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range edits {
		if inner, ok := strings.CutPrefix(k, "data."); ok {
			m["data"].(map[string]any)[inner] = v
		} else {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fakePayouts) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mode, _ := f.mode.Load().(string)
	if mode == "stall" {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.URL.Path] = body
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/transferrecipient":
		f.recipients++
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(fixture(f.t, "transferrecipient.created.json", map[string]any{"data.recipient_code": fmt.Sprintf("RCP_fake%d", f.recipients)}))
	case r.URL.Path == "/transfer":
		ref, _ := req["reference"].(string)
		switch {
		case f.transfers[ref] > 0:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(fixture(f.t, "transfer.duplicate_reference.json", nil))
			return
		case mode == "refuse":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(fixture(f.t, "transfer.insufficient_balance.json", nil))
			return
		case mode == "unreached":
			http.Error(w, `{"status":false,"message":"upstream unavailable"}`, http.StatusBadGateway)
			return
		}
		f.transfers[ref]++
		if mode == "lost" {
			http.Error(w, `{"status":false,"message":"upstream unavailable"}`, http.StatusBadGateway)
			return
		}
		status := "pending"
		if mode == "otp" {
			status = "otp"
		}
		_, _ = w.Write(fixture(f.t, "transfer.queued.json", map[string]any{"data.reference": ref, "data.amount": req["amount"],
			"data.status": status, "data.transfer_code": "TRF_" + ref}))
	case strings.HasPrefix(r.URL.Path, "/transfer/verify/"):
		ref := strings.TrimPrefix(r.URL.Path, "/transfer/verify/")
		if f.transfers[ref] == 0 {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":false,"message":"Transfer not found"}`))
			return
		}
		status := f.settled[ref]
		if status == "" {
			status = "pending"
		}
		_, _ = w.Write(fixture(f.t, "transfer.verify.response.json", map[string]any{"data.reference": ref, "data.transfer_code": "TRF_" + ref, "data.status": status}))
	case r.Method == http.MethodGet && r.URL.Path == "/disbursements":
		id := r.URL.Query().Get("external_id")
		if f.disbursed[id] == 0 {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error_code":"DIRECT_DISBURSEMENT_NOT_FOUND_ERROR","message":"Direct disbursement not found"}`))
			return
		}
		status := f.settled[id]
		if status == "" {
			status = "PENDING"
		}
		one := fixture(f.t, "xendit.disbursement.created.json", map[string]any{"external_id": id, "id": "disb_" + strings.ToLower(id), "status": status})
		_, _ = w.Write([]byte("[" + string(one) + "]"))
	case r.URL.Path == "/disbursements":
		key := r.Header.Get(xendit.IdempotencyHeader)
		if key == "" || f.disbursed[key] > 0 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(fixture(f.t, "xendit.disbursement.duplicate_idempotency.json", nil))
			return
		}
		if mode == "unreached" {
			http.Error(w, `{"error_code":"SERVER_ERROR","message":"upstream unavailable"}`, http.StatusBadGateway)
			return
		}
		f.disbursed[key]++
		if mode == "lost" {
			http.Error(w, `{"error_code":"SERVER_ERROR","message":"upstream unavailable"}`, http.StatusBadGateway)
			return
		}
		_, _ = w.Write(fixture(f.t, "xendit.disbursement.created.json", map[string]any{"external_id": req["external_id"], "amount": req["amount"],
			"id": "disb_" + strings.ToLower(key)}))
	default:
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
	}
}

// made says how many payouts the fake made for a withdrawal.
func (f *fakePayouts) made(withdrawalID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transfers[paystack.TransferReference(withdrawalID)] + f.disbursed[withdrawalID]
}

// withPayouts enables Paystack and Xendit against the fake.
func withPayouts(t *testing.T, f *fakePayouts) func(*Config) {
	return func(cfg *Config) {
		client := &http.Client{Timeout: 500 * time.Millisecond}
		ps, err := paystack.New(paystack.Config{SecretKey: paystackSecret, BaseURL: f.srv.URL, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		xe, err := xendit.New(xendit.Config{SecretKey: xenditKey, CallbackToken: xenditToken, BaseURL: f.srv.URL, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Gateways = gateways.Set{"paystack": ps, "xendit": xe}
	}
}

// transferEvent is a Paystack transfer.* webhook about a withdrawal.
func transferEvent(t testing.TB, event, withdrawalID string, kobo int64) []byte {
	ref := paystack.TransferReference(withdrawalID)
	return fixture(t, event+".json", map[string]any{"data.reference": ref, "data.amount": kobo, "data.transfer_code": "TRF_" + ref})
}

// disbursementCallback is a Xendit disbursement callback about a withdrawal.
func disbursementCallback(t testing.TB, status, withdrawalID string, amount int64) []byte {
	name := map[string]string{"COMPLETED": "xendit.disbursement.completed.json", "FAILED": "xendit.disbursement.failed.json"}[status]
	return fixture(t, name, map[string]any{"external_id": withdrawalID, "amount": amount, "id": "disb_" + strings.ToLower(withdrawalID)})
}

func TestPaystackWithdrawals(t *testing.T) {
	logs := &payoutLog{}
	fake := newFakePayouts(t)
	h := newHarness(t, withPayouts(t, fake), withCapturedLogs(t, logs))
	rs := &responses{}
	a := h.open("ada", "NGN")
	h.fund(a, "10000.00", "NGN")
	withdraw := func(amount, key string, status int) map[string]any {
		t.Helper()
		return rs.keep(h.must(h.withdraw(withdrawalBody(a, amount, "NGN", "paystack", goodAccountNumber), key), status)).json(t)
	}
	hook := func(body []byte) {
		t.Helper()
		rs.keep(h.must(h.webhook("paystack", body, paystackSign(body)...), 200))
	}

	t.Run("a recipient and a transfer referenced by the withdrawal id; transfer.success settles it", func(t *testing.T) {
		w := withdraw("2000.00", "ps-1", 201)
		id := w["id"].(string)
		if w["status"] != "pending" || w["gateway_reference"] != "TRF_"+paystack.TransferReference(id) {
			t.Fatalf("withdrawal = %v", w)
		}
		var transfer map[string]any
		_ = json.Unmarshal(fake.requests["/transfer"], &transfer)
		if transfer["reference"] != paystack.TransferReference(id) || transfer["amount"] != float64(200000) || transfer["recipient"] != "RCP_fake1" {
			t.Fatalf("transfer request = %v", transfer)
		}
		var recipient map[string]any
		_ = json.Unmarshal(fake.requests["/transferrecipient"], &recipient)
		if recipient["account_number"] != goodAccountNumber || recipient["bank_code"] != "058" || recipient["type"] != "nuban" {
			t.Fatalf("recipient request = %v", recipient)
		}
		if got := h.balance(a); got != "8000.00" {
			t.Fatalf("wallet %s while pending", got)
		}
		hook(transferEvent(t, "transfer.success", id, 200000))
		h.waitWithdrawal(id, "succeeded")
		if got := h.systemBalance(ledger.GatewayClearing("paystack"), "NGN"); got != "2000.00" {
			t.Fatalf("gateway:paystack = %s", got)
		}
	})

	t.Run("a later payout to the same bank account reuses its recipient", func(t *testing.T) {
		w := withdraw("1.00", "ps-reuse", 201)
		if fake.recipients != 1 {
			t.Fatalf("%d recipients created, want 1", fake.recipients)
		}
		hook(transferEvent(t, "transfer.success", w["id"].(string), 100))
	})

	t.Run("transfer.failed returns the money", func(t *testing.T) {
		w := withdraw("500.00", "ps-fail", 201)
		hook(transferEvent(t, "transfer.failed", w["id"].(string), 50000))
		got := h.waitWithdrawal(w["id"].(string), "failed")
		if got["failure_reason"] != "the transfer is failed" || h.balance(a) != "7999.00" {
			t.Fatalf("withdrawal = %v, wallet %s", got, h.balance(a))
		}
	})

	t.Run("transfer.reversed after a success returns the money", func(t *testing.T) {
		w := withdraw("300.00", "ps-rev", 201)
		id := w["id"].(string)
		hook(transferEvent(t, "transfer.success", id, 30000))
		h.waitWithdrawal(id, "succeeded")
		if got := h.balance(a); got != "7699.00" {
			t.Fatalf("wallet %s after the success", got)
		}
		hook(transferEvent(t, "transfer.reversed", id, 30000))
		h.waitWithdrawal(id, "reversed")
		if got := h.balance(a); got != "7999.00" {
			t.Fatalf("wallet %s after the reversal", got)
		}
		var types []string
		for _, e := range h.checkJournal("main") {
			if strings.Contains(string(e.Data), id) {
				types = append(types, string(e.Type))
			}
		}
		if strings.Join(types, ",") != "withdrawal.requested,withdrawal.submitted,withdrawal.succeeded,withdrawal.reversed" {
			t.Fatalf("events = %v", types)
		}
	})

	t.Run("10 concurrent duplicate success webhooks settle once", func(t *testing.T) {
		w := withdraw("100.00", "ps-dup", 201)
		id := w["id"].(string)
		body := transferEvent(t, "transfer.success", id, 10000)
		before := h.eventCount()
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs.keep(h.must(h.webhook("paystack", body, paystackSign(body)...), 200))
			}()
		}
		wg.Wait()
		if n := h.eventCount() - before; n != 1 {
			t.Fatalf("%d events appended by 10 duplicates, want 1", n)
		}
		if got := h.systemBalance(ledger.GatewayClearing("paystack"), "NGN"); got != "2101.00" {
			t.Fatalf("gateway:paystack = %s, want 2101.00", got)
		}
	})

	t.Run("a transfer answered otp fails with the money back and says why", func(t *testing.T) {
		fake.mode.Store("otp")
		defer fake.mode.Store("")
		r := rs.keep(h.must(h.withdraw(withdrawalBody(a, "50.00", "NGN", "paystack", goodAccountNumber), "ps-otp"), 502))
		if r.str(t, "code") != "gateway_error" || !strings.Contains(r.str(t, "detail"), "OTP") {
			t.Fatalf("%s", r.body)
		}
		if got := h.balance(a); got != "7899.00" {
			t.Fatalf("wallet %s after the otp refusal, want 7899.00", got)
		}
	})

	t.Run("an explicit refusal is 502 gateway_error with the money back", func(t *testing.T) {
		fake.mode.Store("refuse")
		defer fake.mode.Store("")
		r := rs.keep(h.must(h.withdraw(withdrawalBody(a, "50.00", "NGN", "paystack", goodAccountNumber), "ps-refused"), 502))
		if r.str(t, "code") != "gateway_error" || h.balance(a) != "7899.00" {
			t.Fatalf("%s, wallet %s", r.body, h.balance(a))
		}
		list := h.must(h.do("GET", "/v1/withdrawals?status=failed", nil), 200).json(t)["data"].([]any)
		if len(list) != 3 {
			t.Fatalf("%d failed withdrawals, want 3 (webhook, otp, refusal)", len(list))
		}
	})

	t.Run("an unknown outcome stays pending with the money held; the webhook settles it", func(t *testing.T) {
		fake.mode.Store("stall")
		w := withdraw("99.00", "ps-timeout", 202)
		fake.mode.Store("")
		if w["status"] != "pending" || h.balance(a) != "7800.00" {
			t.Fatalf("withdrawal = %v, wallet %s", w, h.balance(a))
		}
		hook(transferEvent(t, "transfer.success", w["id"].(string), 9900))
		h.waitWithdrawal(w["id"].(string), "succeeded")
	})

	t.Run("a wallet with a pending withdrawal cannot be closed", func(t *testing.T) {
		b := h.open("bola", "NGN")
		h.fund(b, "10.00", "NGN")
		w := rs.keep(h.must(h.withdraw(withdrawalBody(b, "10.00", "NGN", "paystack", goodAccountNumber), "ps-close"), 201)).json(t)
		if got := h.balance(b); got != "0.00" {
			t.Fatalf("wallet %s", got)
		}
		r := h.must(h.do("POST", "/v1/accounts/"+b+"/close", map[string]any{"reason": "leaving"}, "Idempotency-Key", "close-b"), 422)
		if r.str(t, "code") != "balance_not_zero" || !strings.Contains(r.str(t, "detail"), w["id"].(string)) {
			t.Fatalf("%s", r.body)
		}
		hook(transferEvent(t, "transfer.success", w["id"].(string), 1000))
		h.waitWithdrawal(w["id"].(string), "succeeded")
		h.must(h.do("POST", "/v1/accounts/"+b+"/close", map[string]any{"reason": "leaving"}, "Idempotency-Key", "close-b2"), 200)
	})

	t.Run("the full account number appears nowhere", func(t *testing.T) {
		h.assertNowhere(t, goodAccountNumber, logs, rs)
	})
	h.checkJournal("main")
}

// A crash between recording a withdrawal and calling Paystack, then a retry
// with the same Idempotency-Key, makes one transfer at most: whether the
// crashed attempt reached Paystack or not, and Paystack's refusal of the
// reused reference means "it exists", not a failure.
func TestPaystackWithdrawalResumedAfterACrashPaysOnce(t *testing.T) {
	fake := newFakePayouts(t)
	h := newHarness(t, withPayouts(t, fake))
	a := h.open("ada", "NGN")
	h.fund(a, "1000.00", "NGN")

	for _, reached := range []bool{false, true} {
		name := map[bool]string{false: "the crashed attempt never called Paystack", true: "the crashed attempt's transfer reached Paystack"}[reached]
		t.Run(name, func(t *testing.T) {
			key := fmt.Sprintf("crash-%v", reached)
			body := withdrawalBody(a, "100.00", "NGN", "paystack", goodAccountNumber)
			id := h.recordOnly(body, key)
			if reached {
				fake.mu.Lock()
				fake.transfers[paystack.TransferReference(id)]++
				fake.mu.Unlock()
			}
			w := h.must(h.withdraw(body, key), 201).json(t)
			if w["id"] != id || w["status"] != "pending" || w["gateway_reference"] != "TRF_"+paystack.TransferReference(id) {
				t.Fatalf("resumed withdrawal = %v (recorded %s)", w, id)
			}
			again := h.must(h.withdraw(body, key), 201)
			if again.header.Get("Idempotent-Replayed") != "true" || again.str(t, "id") != id {
				t.Fatalf("a further retry: %s", again.body)
			}
			if n := fake.made(id); n != 1 {
				t.Fatalf("%d transfers made for one withdrawal, want 1", n)
			}
			var destinations int
			if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM withdrawal_destinations WHERE id = $1`, w["destination"].(map[string]any)["id"]).Scan(&destinations); err != nil || destinations != 1 {
				t.Fatalf("destinations = %d, %v", destinations, err)
			}
		})
	}
	if got := h.balance(a); got != "800.00" {
		t.Fatalf("wallet %s, want 800.00", got)
	}
}

// recordOnly appends a withdrawal's first step with its in-progress
// Idempotency-Key record, as a process does right before it crashes, and
// returns the withdrawal's id.
func (h *harness) recordOnly(body map[string]any, key string) string {
	h.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	id := ledger.NewID(ledger.PrefixWithdrawal)
	dest := body["destination"].(map[string]any)
	number := dest["account_number"].(string)
	p := Principal{KeyID: "admin"}
	resp, err := h.api.journal.Submit(context.Background(), pgjournal.Request{
		Command: ledger.RequestWithdrawal{WithdrawalID: id, Account: body["account"].(string),
			Amount: ledger.MustMoney(body["amount"].(string), body["currency"].(string)), Gateway: body["gateway"].(string),
			DestinationID: ledger.NewID(ledger.PrefixDestination), BankCode: dest["bank_code"].(string), MaskedNumber: ledger.MaskAccountNumber(number)},
		Idempotency: &pgjournal.Idempotency{Scope: p.IdempotencyScope(), Key: key, Fingerprint: Fingerprint("POST", "/v1/withdrawals", raw)},
		Render: func(o pgjournal.Outcome) pgjournal.Response {
			return pgjournal.Response{Status: pgjournal.InProgress, ContentType: "application/json", Body: []byte(fmt.Sprintf(`{"id":%q}`, id))}
		},
	})
	if err != nil || resp.Status != pgjournal.InProgress {
		h.t.Fatalf("record: %v %+v", err, resp)
	}
	return id
}

func TestXenditWithdrawals(t *testing.T) {
	logs := &payoutLog{}
	fake := newFakePayouts(t)
	h := newHarness(t, withPayouts(t, fake), withCapturedLogs(t, logs))
	rs := &responses{}
	a := h.open("budi", "IDR")
	h.fund(a, "1000000.00", "IDR")
	callback := func(body []byte, token string, status int) {
		t.Helper()
		rs.keep(h.must(h.webhook("xendit", body, xendit.CallbackTokenHeader, token), status))
	}

	t.Run("a disbursement keyed by the withdrawal id; COMPLETED settles it", func(t *testing.T) {
		w := rs.keep(h.must(h.withdraw(withdrawalBody(a, "150000.00", "IDR", "xendit", goodAccountNumber), "xd-1"), 201)).json(t)
		id := w["id"].(string)
		var req map[string]any
		_ = json.Unmarshal(fake.requests["/disbursements"], &req)
		if req["external_id"] != id || req["amount"] != float64(150000) || req["account_number"] != goodAccountNumber || fake.made(id) != 1 {
			t.Fatalf("disbursement request = %v", req)
		}
		callback(disbursementCallback(t, "COMPLETED", id, 150000), "wrong-token", 401)
		if got := h.must(h.do("GET", "/v1/withdrawals/"+id, nil), 200).json(t); got["status"] != "pending" {
			t.Fatalf("a callback with a wrong token settled it: %v", got)
		}
		for range 2 {
			callback(disbursementCallback(t, "COMPLETED", id, 150000), xenditToken, 200)
		}
		h.waitWithdrawal(id, "succeeded")
		if got := h.balance(a); got != "850000.00" {
			t.Fatalf("wallet %s", got)
		}
		if got := h.systemBalance(ledger.GatewayClearing("xendit"), "IDR"); got != "150000.00" {
			t.Fatalf("gateway:xendit = %s", got)
		}
	})

	t.Run("FAILED returns the money", func(t *testing.T) {
		w := rs.keep(h.must(h.withdraw(withdrawalBody(a, "50000.00", "IDR", "xendit", goodAccountNumber), "xd-2"), 201)).json(t)
		callback(disbursementCallback(t, "FAILED", w["id"].(string), 50000), xenditToken, 200)
		got := h.waitWithdrawal(w["id"].(string), "failed")
		if got["failure_reason"] != "INVALID_DESTINATION" || h.balance(a) != "850000.00" {
			t.Fatalf("withdrawal = %v, wallet %s", got, h.balance(a))
		}
	})

	t.Run("a duplicate-idempotency answer means the disbursement exists", func(t *testing.T) {
		body := withdrawalBody(a, "1000.00", "IDR", "xendit", goodAccountNumber)
		id := h.recordOnly(body, "xd-crash")
		fake.mu.Lock()
		fake.disbursed[id]++ // the crashed attempt reached Xendit
		fake.mu.Unlock()
		w := rs.keep(h.must(h.withdraw(body, "xd-crash"), 201)).json(t)
		if w["status"] != "pending" || fake.made(id) != 1 {
			t.Fatalf("withdrawal = %v, %d disbursements", w, fake.made(id))
		}
		callback(disbursementCallback(t, "COMPLETED", id, 1000), xenditToken, 200)
		h.waitWithdrawal(id, "succeeded")
	})

	t.Run("a currency Xendit does not disburse is refused before anything is recorded", func(t *testing.T) {
		ngn := h.open("budi", "NGN")
		h.fund(ngn, "10.00", "NGN")
		before := h.eventCount()
		r := rs.keep(h.must(h.withdraw(withdrawalBody(ngn, "10.00", "NGN", "xendit", goodAccountNumber), "xd-ngn"), 400))
		if r.str(t, "code") != "invalid_request" || h.eventCount() != before || h.balance(ngn) != "10.00" {
			t.Fatalf("%s; %d events appended", r.body, h.eventCount()-before)
		}
	})

	t.Run("the full account number appears nowhere", func(t *testing.T) {
		h.assertNowhere(t, goodAccountNumber, logs, rs)
	})
	h.checkJournal("main")
}

// A correctly signed Paystack transfer webhook Tally cannot read is kept as
// gateway.unmatched, with the recipient's account number masked.
func TestUnreadableTransferWebhookKeepsNoAccountNumber(t *testing.T) {
	fake := newFakePayouts(t)
	h := newHarness(t, withPayouts(t, fake))
	body := fixture(t, "transfer.success.json", map[string]any{"data.currency": "XOF"}) // no known Paystack subunit: malformed
	if !strings.Contains(string(body), goodAccountNumber) {
		t.Fatal("the fixture carries no account number: the test would prove nothing")
	}
	h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
	events := h.checkJournal("main")
	if len(events) != 1 || events[0].Type != ledger.GatewayUnmatched {
		t.Fatalf("events = %v", events)
	}
	if data := string(events[0].Data); strings.Contains(data, goodAccountNumber) || !strings.Contains(data, `******6789`) {
		t.Fatalf("gateway.unmatched data = %s", data)
	}
}
