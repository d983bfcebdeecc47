package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
)

// The bank account numbers the tests pay out to; neither may ever appear in
// full in the journal, a log line or a response.
const (
	goodAccountNumber    = "0123456789"
	failingAccountNumber = "0987650000" // the sandbox fails numbers ending in 0000
)

// payoutLog captures everything the server logs, at every level, so tests
// can check what never reaches a log line.
type payoutLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *payoutLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *payoutLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// withCapturedLogs sends the server's logs to l (and the test log).
func withCapturedLogs(t *testing.T, l *payoutLog) func(*Config) {
	return func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(ioMulti{l, testWriter{t}}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

type ioMulti struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (m ioMulti) Write(p []byte) (int, error) {
	if _, err := m.a.Write(p); err != nil {
		return 0, err
	}
	return m.b.Write(p)
}

// responses remembers every response body a test received.
type responses struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *responses) keep(rep reply) reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, rep.body)
	return rep
}

func withdrawalBody(account, amount, currency, gateway, number string) map[string]any {
	return map[string]any{
		"account": account, "amount": amount, "currency": currency, "gateway": gateway, "reason": "cash out",
		"destination": map[string]any{"bank_code": "058", "account_number": number, "account_name": "Ada Obi"},
	}
}

func (h *harness) withdraw(body map[string]any, key string, headers ...string) reply {
	h.t.Helper()
	return h.do("POST", "/v1/withdrawals", body, append([]string{"Idempotency-Key", key}, headers...)...)
}

// waitWithdrawal polls until the withdrawal has the status.
func (h *harness) waitWithdrawal(id, status string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.must(h.do("GET", "/v1/withdrawals/"+id, nil), 200).json(h.t)
		if got["status"] == status {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("withdrawal %s is %v, want %s", id, got["status"], status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// systemBalance is the balance of a book's system account, from the trial balance.
func (h *harness) systemBalance(name, currency string) string {
	h.t.Helper()
	var id string
	if err := h.pool.QueryRow(context.Background(), `SELECT id FROM accounts WHERE book = 'main' AND name = $1 AND currency = $2`, name, currency).Scan(&id); err != nil {
		return "0"
	}
	return h.balance(id)
}

// assertNowhere fails if number appears in full in the journal, the
// projections, the idempotency records, the logs or any response.
func (h *harness) assertNowhere(t *testing.T, number string, logs *payoutLog, rs *responses) {
	t.Helper()
	var dump string
	if err := h.pool.QueryRow(context.Background(), `
		SELECT concat_ws(' ',
			(SELECT string_agg(data::text, ' ') FROM events),
			(SELECT string_agg(convert_from(body, 'UTF8'), ' ') FROM idempotency_keys),
			(SELECT string_agg(w::text, ' ') FROM withdrawals w))`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	events := h.must(h.do("GET", "/v1/events?limit=500", nil), 200)
	if !strings.Contains(dump+string(events.body), ledger.MaskAccountNumber(number)) {
		t.Fatalf("the journal does not carry the masked number %s: the check would prove nothing", ledger.MaskAccountNumber(number))
	}
	for where, text := range map[string]string{"database": dump, "events API": string(events.body), "logs": logs.String()} {
		if strings.Contains(text, number) {
			t.Errorf("the full account number %s appears in the %s", number, where)
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.bodies) == 0 {
		t.Fatal("no responses were kept")
	}
	for _, b := range rs.bodies {
		if bytes.Contains(b, []byte(number)) {
			t.Errorf("a response carries the full account number: %s", b)
		}
	}
}

// The sandbox pays out too: a withdrawal is recorded first (the money moves
// to payouts:pending), the sandbox's signed webhook settles it a moment
// later, and an account number ending in 0000 fails with the money back.
func TestWithdrawalThroughTheSandbox(t *testing.T) {
	logs := &payoutLog{}
	h, _ := newSandboxHarness(t, withCapturedLogs(t, logs))
	rs := &responses{}
	a := h.open("ada", "NGN")
	h.fund(a, "5000.00", "NGN")

	t.Run("the money leaves the wallet at once and the webhook settles it", func(t *testing.T) {
		w := rs.keep(h.must(h.withdraw(withdrawalBody(a, "2000.00", "NGN", "sandbox", goodAccountNumber), "sbx-wd-1"), 201)).json(t)
		dest := w["destination"].(map[string]any)
		if w["status"] != "pending" || dest["account_number"] != "******6789" || dest["account_name"] != "Ada Obi" || dest["bank_code"] != "058" {
			t.Fatalf("withdrawal = %v", w)
		}
		if got := h.balance(a); got != "3000.00" {
			t.Fatalf("wallet %s right after the request, want 3000.00", got)
		}
		if got := h.systemBalance(ledger.SystemPayoutsPending, "NGN"); got != "2000.00" {
			t.Fatalf("payouts:pending = %s, want 2000.00", got)
		}
		got := h.waitWithdrawal(w["id"].(string), "succeeded")
		rs.keep(h.must(h.do("GET", "/v1/withdrawals/"+w["id"].(string), nil), 200))
		if got["gateway_reference"] == "" {
			t.Fatalf("withdrawal = %v", got)
		}
		if got := h.balance(a); got != "3000.00" {
			t.Fatalf("wallet %s after the payout, want 3000.00", got)
		}
		if got := h.systemBalance(ledger.SystemPayoutsPending, "NGN"); got != "0.00" {
			t.Fatalf("payouts:pending = %s after the payout, want 0.00", got)
		}
		if got := h.systemBalance(ledger.GatewayClearing("sandbox"), "NGN"); got != "2000.00" {
			t.Fatalf("gateway:sandbox = %s, want 2000.00", got)
		}
	})

	t.Run("an account number ending in 0000 fails and the money comes back", func(t *testing.T) {
		w := rs.keep(h.must(h.withdraw(withdrawalBody(a, "500.00", "NGN", "sandbox", failingAccountNumber), "sbx-wd-2"), 201)).json(t)
		if got := h.balance(a); got != "2500.00" {
			t.Fatalf("wallet %s while pending, want 2500.00", got)
		}
		h.waitWithdrawal(w["id"].(string), "failed")
		if got := h.balance(a); got != "3000.00" {
			t.Fatalf("wallet %s after the failure, want 3000.00", got)
		}
	})

	t.Run("lists filter by account and status", func(t *testing.T) {
		all := rs.keep(h.must(h.do("GET", "/v1/withdrawals?account="+a, nil), 200)).json(t)["data"].([]any)
		failed := rs.keep(h.must(h.do("GET", "/v1/withdrawals?account="+a+"&status=failed", nil), 200)).json(t)["data"].([]any)
		if len(all) != 2 || len(failed) != 1 || failed[0].(map[string]any)["destination"].(map[string]any)["account_number"] != "******0000" {
			t.Fatalf("all = %v, failed = %v", all, failed)
		}
		r := h.must(h.do("GET", "/v1/withdrawals?status=lost", nil), 400)
		if r.str(t, "code") != "invalid_request" {
			t.Fatalf("%s", r.body)
		}
	})

	t.Run("history, statements and verify show withdrawals", func(t *testing.T) {
		entries := rs.keep(h.must(h.do("GET", "/v1/accounts/"+a+"/entries", nil), 200))
		for _, typ := range []string{"withdrawal.requested", "withdrawal.failed"} {
			if !strings.Contains(string(entries.body), typ) {
				t.Fatalf("entries lack %s: %s", typ, entries.body)
			}
		}
		h.catchUp()
		day := time.Now().UTC().Format("2006-01-02")
		st := h.must(h.do("GET", "/v1/accounts/"+a+"/statement?from="+day+"&to="+day, nil), 200).json(t)
		days := st["days"].([]any)
		last := days[len(days)-1].(map[string]any)
		if last["debits"] != "2500.00" || last["credits"] != "5500.00" || last["closing"] != "3000.00" {
			t.Fatalf("statement day = %v", last)
		}
		report := h.must(h.do("GET", "/v1/audit/verify", nil), 200).json(t)
		if report["ok"] != true {
			t.Fatalf("verify = %v", report)
		}
		var projected bool
		for _, p := range report["projections"].([]any) {
			if p.(map[string]any)["name"] == "withdrawals" {
				projected = p.(map[string]any)["ok"] == true
			}
		}
		if !projected {
			t.Fatalf("verify does not check the withdrawals projection: %v", report["projections"])
		}
		before := h.must(h.do("GET", "/v1/withdrawals?account="+a, nil), 200).body
		h.wipeAndRebuild()
		if after := h.must(h.do("GET", "/v1/withdrawals?account="+a, nil), 200).body; !bytes.Equal(before, after) {
			t.Fatalf("rebuilt withdrawals differ:\n%s\n%s", before, after)
		}
	})

	t.Run("the full account number appears nowhere", func(t *testing.T) {
		h.assertNowhere(t, goodAccountNumber, logs, rs)
		h.assertNowhere(t, failingAccountNumber, logs, rs)
	})
	h.checkJournal("main")
}

// Everything a transfer out of the wallet refuses, a withdrawal refuses,
// with the usual codes, and nothing is recorded: no event, no bank details.
func TestWithdrawalRefusalsRecordNothing(t *testing.T) {
	h, _ := newSandboxHarness(t)
	rich := h.open("ada", "NGN")
	h.fund(rich, "100.00", "NGN")
	frozen := h.open("ada", "NGN")
	h.fund(frozen, "100.00", "NGN")
	h.must(h.do("POST", "/v1/accounts/"+frozen+"/freeze", map[string]any{"reason": "kyc"}, "Idempotency-Key", "freeze"), 200)
	closed := h.open("ada", "NGN")
	h.must(h.do("POST", "/v1/accounts/"+closed+"/close", map[string]any{"reason": "done"}, "Idempotency-Key", "close"), 200)
	others := h.open("bola", "NGN")
	h.fund(others, "100.00", "NGN")
	adaKey := h.key("ada", "withdrawals:write", "accounts:read")

	cases := []struct {
		name    string
		body    map[string]any
		headers []string
		status  int
		code    string
	}{
		{"more than the balance is insufficient_funds", withdrawalBody(rich, "100.01", "NGN", "sandbox", goodAccountNumber), nil, 422, "insufficient_funds"},
		{"a frozen wallet is account_frozen", withdrawalBody(frozen, "1.00", "NGN", "sandbox", goodAccountNumber), nil, 422, "account_frozen"},
		{"a closed wallet is account_closed", withdrawalBody(closed, "1.00", "NGN", "sandbox", goodAccountNumber), nil, 422, "account_closed"},
		{"another currency is currency_mismatch", withdrawalBody(rich, "1.00", "KES", "sandbox", goodAccountNumber), nil, 422, "currency_mismatch"},
		{"another owner's wallet is not_found", withdrawalBody(others, "1.00", "NGN", "sandbox", goodAccountNumber), as(adaKey), 404, "not_found"},
		{"a key without withdrawals:write is forbidden", withdrawalBody(rich, "1.00", "NGN", "sandbox", goodAccountNumber), as(h.key("ada", "accounts:read")), 403, "forbidden"},
		{"a gateway that is not enabled is invalid_request", withdrawalBody(rich, "1.00", "NGN", "paystack", goodAccountNumber), nil, 400, "invalid_request"},
		{"a malformed account number is invalid_request", withdrawalBody(rich, "1.00", "NGN", "sandbox", "12-34"), nil, 400, "invalid_request"},
		{"a missing account name is invalid_request", func() map[string]any {
			b := withdrawalBody(rich, "1.00", "NGN", "sandbox", goodAccountNumber)
			b["destination"].(map[string]any)["account_name"] = ""
			return b
		}(), nil, 400, "invalid_request"},
		{"a negative amount is invalid_amount", withdrawalBody(rich, "-1.00", "NGN", "sandbox", goodAccountNumber), nil, 400, "invalid_amount"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.eventCount()
			r := h.withdraw(tc.body, "refused-"+string(rune('a'+i)), tc.headers...)
			if r.status != tc.status || r.str(t, "code") != tc.code {
				t.Fatalf("status %d %s, want %d %s: %s", r.status, r.str(t, "code"), tc.status, tc.code, r.body)
			}
			if h.eventCount() != before {
				t.Fatalf("a refused withdrawal appended events")
			}
			var destinations int
			if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM withdrawal_destinations`).Scan(&destinations); err != nil || destinations != 0 {
				t.Fatalf("a refused withdrawal stored %d destinations (err %v)", destinations, err)
			}
		})
	}
	if got := h.balance(rich); got != "100.00" {
		t.Fatalf("balance %s after refusals", got)
	}
}

// An operator erases a destination's bank details: the row loses the number
// and the name, stored answers lose the name, the journal records
// destination.erased with the id only, and its hash chain is untouched.
func TestErasingADestination(t *testing.T) {
	h, _ := newSandboxHarness(t)
	a := h.open("ada", "NGN")
	h.fund(a, "100.00", "NGN")
	body := withdrawalBody(a, "10.00", "NGN", "sandbox", goodAccountNumber)
	w := h.must(h.withdraw(body, "erase-me"), 201).json(t)
	h.waitWithdrawal(w["id"].(string), "succeeded")
	dest := w["destination"].(map[string]any)["id"].(string)
	ctx := context.Background()

	erased, err := EraseDestination(ctx, h.api.journal, h.store, dest, "data-erasure request")
	if err != nil || !erased {
		t.Fatalf("erase: %v, %v", erased, err)
	}
	t.Run("the bank details are gone from the table", func(t *testing.T) {
		var number, name *string
		if err := h.pool.QueryRow(ctx, `SELECT account_number, account_name FROM withdrawal_destinations WHERE id = $1`, dest).Scan(&number, &name); err != nil {
			t.Fatal(err)
		}
		if number != nil || name != nil {
			t.Fatalf("number %v, name %v after erasure", number, name)
		}
	})
	t.Run("answers keep the masked number but not the name, retries included", func(t *testing.T) {
		got := h.must(h.do("GET", "/v1/withdrawals/"+w["id"].(string), nil), 200).json(t)["destination"].(map[string]any)
		replay := h.must(h.withdraw(body, "erase-me"), 201)
		again := replay.json(t)["destination"].(map[string]any)
		if got["account_name"] != "" || got["account_number"] != "******6789" || again["account_name"] != "" || replay.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("after erasure: GET %v, replay %v", got, again)
		}
	})
	t.Run("destination.erased carries the id only, once", func(t *testing.T) {
		again, err := EraseDestination(ctx, h.api.journal, h.store, dest, "data-erasure request")
		if err != nil || again {
			t.Fatalf("second erase: %v, %v", again, err)
		}
		var recorded []ledger.Event
		for _, e := range h.checkJournal("main") {
			if e.Type == ledger.DestinationErased {
				recorded = append(recorded, e)
			}
		}
		if len(recorded) != 1 || !strings.Contains(string(recorded[0].Data), dest) || strings.Contains(string(recorded[0].Data), "Ada") || len(recorded[0].Postings) != 0 {
			t.Fatalf("destination.erased events: %v", recorded)
		}
	})
	t.Run("an unknown destination is not_found", func(t *testing.T) {
		if _, err := EraseDestination(ctx, h.api.journal, h.store, ledger.NewID(ledger.PrefixDestination), ""); ledger.ErrorCode(err) != ledger.ENotFound {
			t.Fatalf("err = %v", err)
		}
	})
}
