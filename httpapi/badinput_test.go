package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Every endpoint answers bad input with the right status and problem code,
// and the journal is untouched afterwards.
func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("u1", "NGN"), h.open("u2", "NGN")
	usd := h.open("u3", "USD")
	h.fund(a, "100", "NGN")
	huge := `"` + strings.Repeat("9", 19) + `"`
	big := `{"owner":"u","currency":"NGN","metadata":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	tr := func(fields string) string {
		return fmt.Sprintf(`{"from":%q,"to":%q,%s}`, a, b, fields)
	}
	adj := func(fields string) string {
		return fmt.Sprintf(`{"account":%q,"direction":"credit","reason":"r",%s}`, a, fields)
	}

	type tc struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}
	key := []string{"Idempotency-Key", "bad"}
	cases := []tc{
		// Transfers.
		{"transfer: malformed JSON", "POST", "/v1/transfers", `{"from":`, key, 400, "invalid_request"},
		{"transfer: not an object", "POST", "/v1/transfers", `[1,2]`, key, 400, "invalid_request"},
		{"transfer: JSON-number amount", "POST", "/v1/transfers", tr(`"amount":300,"currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: too many decimals", "POST", "/v1/transfers", tr(`"amount":"1.001","currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: negative", "POST", "/v1/transfers", tr(`"amount":"-1.00","currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: zero", "POST", "/v1/transfers", tr(`"amount":"0","currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: huge", "POST", "/v1/transfers", tr(`"amount":` + huge + `,"currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: exponent", "POST", "/v1/transfers", tr(`"amount":"1e3","currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: unknown currency", "POST", "/v1/transfers", tr(`"amount":"1","currency":"XYZ"`), key, 400, "unknown_currency"},
		{"transfer: lower-case currency", "POST", "/v1/transfers", tr(`"amount":"1","currency":"ngn"`), key, 400, "unknown_currency"},
		{"transfer: missing amount", "POST", "/v1/transfers", tr(`"currency":"NGN"`), key, 400, "invalid_amount"},
		{"transfer: missing currency", "POST", "/v1/transfers", tr(`"amount":"1"`), key, 400, "invalid_request"},
		{"transfer: missing from", "POST", "/v1/transfers", fmt.Sprintf(`{"to":%q,"amount":"1","currency":"NGN"}`, b), key, 400, "invalid_request"},
		{"transfer: mistyped wallet number", "POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":"1234567890","amount":"1","currency":"NGN"}`, a), key, 400, "invalid_request"},
		{"transfer: unknown field", "POST", "/v1/transfers", tr(`"amount":"1","currency":"NGN","colour":"red"`), key, 400, "invalid_request"},
		{"transfer: trailing data", "POST", "/v1/transfers", tr(`"amount":"1","currency":"NGN"`) + `{}`, key, 400, "invalid_request"},
		{"transfer: wrong content type", "POST", "/v1/transfers", tr(`"amount":"1","currency":"NGN"`), append([]string{"Content-Type", "text/plain"}, key...), 415, "unsupported_media_type"},
		{"transfer: 2 MiB body", "POST", "/v1/transfers", big, key, 413, "body_too_large"},
		{"transfer: no idempotency key", "POST", "/v1/transfers", tr(`"amount":"1","currency":"NGN"`), nil, 400, "idempotency_key_missing"},
		{"transfer: oversized idempotency key", "POST", "/v1/transfers", tr(`"amount":"1","currency":"NGN"`), []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_request"},
		{"transfer: no API key", "POST", "/v1/transfers", tr(`"amount":"1","currency":"NGN"`), append([]string{"Authorization", ""}, key...), 401, "unauthenticated"},
		{"transfer: unknown account", "POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":"acc_01J00000000000000000000000","amount":"1","currency":"NGN"}`, a), []string{"Idempotency-Key", "bad-unknown"}, 404, "not_found"},
		{"transfer: insufficient funds", "POST", "/v1/transfers", tr(`"amount":"100.01","currency":"NGN"`), []string{"Idempotency-Key", "bad-poor"}, 422, "insufficient_funds"},
		{"transfer: currency mismatch", "POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1","currency":"NGN"}`, a, usd), []string{"Idempotency-Key", "bad-cur"}, 422, "currency_mismatch"},
		{"transfer: same account", "POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1","currency":"NGN"}`, a, a), []string{"Idempotency-Key", "bad-same"}, 422, "same_account"},

		// Adjustments.
		{"adjustment: malformed JSON", "POST", "/v1/adjustments", `{`, key, 400, "invalid_request"},
		{"adjustment: JSON-number amount", "POST", "/v1/adjustments", adj(`"amount":1,"currency":"NGN"`), key, 400, "invalid_amount"},
		{"adjustment: too many decimals", "POST", "/v1/adjustments", adj(`"amount":"0.001","currency":"NGN"`), key, 400, "invalid_amount"},
		{"adjustment: negative", "POST", "/v1/adjustments", adj(`"amount":"-5","currency":"NGN"`), key, 400, "invalid_amount"},
		{"adjustment: zero", "POST", "/v1/adjustments", adj(`"amount":"0.00","currency":"NGN"`), key, 400, "invalid_amount"},
		{"adjustment: huge", "POST", "/v1/adjustments", adj(`"amount":` + huge + `,"currency":"NGN"`), key, 400, "invalid_amount"},
		{"adjustment: unknown currency", "POST", "/v1/adjustments", adj(`"amount":"1","currency":"ABC"`), key, 400, "unknown_currency"},
		{"adjustment: missing reason", "POST", "/v1/adjustments", fmt.Sprintf(`{"account":%q,"direction":"credit","amount":"1","currency":"NGN"}`, a), key, 400, "invalid_request"},
		{"adjustment: bad direction", "POST", "/v1/adjustments", fmt.Sprintf(`{"account":%q,"direction":"up","amount":"1","currency":"NGN","reason":"r"}`, a), key, 400, "invalid_request"},
		{"adjustment: wrong content type", "POST", "/v1/adjustments", adj(`"amount":"1","currency":"NGN"`), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, key...), 415, "unsupported_media_type"},
		{"adjustment: 2 MiB body", "POST", "/v1/adjustments", big, key, 413, "body_too_large"},
		{"adjustment: no idempotency key", "POST", "/v1/adjustments", adj(`"amount":"1","currency":"NGN"`), nil, 400, "idempotency_key_missing"},
		{"adjustment: unknown account", "POST", "/v1/adjustments", `{"account":"acc_01J00000000000000000000000","direction":"credit","amount":"1","currency":"NGN","reason":"r"}`, []string{"Idempotency-Key", "bad-adj-unknown"}, 404, "not_found"},
		{"adjustment: debit below zero", "POST", "/v1/adjustments", fmt.Sprintf(`{"account":%q,"direction":"debit","amount":"1","currency":"NGN","reason":"r"}`, b), []string{"Idempotency-Key", "bad-adj-poor"}, 422, "insufficient_funds"},

		// Deposits (no gateway is enabled in this harness).
		{"deposit: malformed JSON", "POST", "/v1/deposits", `{"account"`, key, 400, "invalid_request"},
		{"deposit: JSON-number amount", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":5000,"currency":"NGN","gateway":"sandbox"}`, a), key, 400, "invalid_amount"},
		{"deposit: too many decimals", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1.001","currency":"NGN","gateway":"sandbox"}`, a), key, 400, "invalid_amount"},
		{"deposit: zero", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"0","currency":"NGN","gateway":"sandbox"}`, a), key, 400, "invalid_amount"},
		{"deposit: unknown currency", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1","currency":"NAN","gateway":"sandbox"}`, a), key, 400, "unknown_currency"},
		{"deposit: missing gateway", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1","currency":"NGN"}`, a), key, 400, "invalid_request"},
		{"deposit: gateway not enabled", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1","currency":"NGN","gateway":"stripe"}`, a), key, 400, "invalid_request"},
		{"deposit: bad email", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1","currency":"NGN","gateway":"sandbox","email":"not an email"}`, a), key, 400, "invalid_request"},
		{"deposit: bad callback URL", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1","currency":"NGN","gateway":"sandbox","callback_url":"javascript:alert(1)"}`, a), key, 400, "invalid_request"},
		{"deposit: wrong content type", "POST", "/v1/deposits", `{}`, append([]string{"Content-Type", "text/plain"}, key...), 415, "unsupported_media_type"},
		{"deposit: 2 MiB body", "POST", "/v1/deposits", big, key, 413, "body_too_large"},
		{"deposit: no idempotency key", "POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"1","currency":"NGN","gateway":"sandbox"}`, a), nil, 400, "idempotency_key_missing"},
		{"deposit: no API key", "POST", "/v1/deposits", `{}`, append([]string{"Authorization", ""}, key...), 401, "unauthenticated"},
		{"get deposit: unknown", "GET", "/v1/deposits/dep_01J00000000000000000000000", ``, nil, 404, "not_found"},
		{"list deposits: unknown account", "GET", "/v1/deposits?account=acc_01J00000000000000000000000", ``, nil, 404, "not_found"},
		{"webhook: gateway not enabled", "POST", "/v1/webhooks/paystack", `{}`, nil, 404, "not_found"},

		// Accounts.
		{"open: malformed JSON", "POST", "/v1/accounts", `{"owner"`, nil, 400, "invalid_request"},
		{"open: missing owner", "POST", "/v1/accounts", `{"currency":"NGN"}`, nil, 400, "invalid_request"},
		{"open: missing currency", "POST", "/v1/accounts", `{"owner":"u"}`, nil, 400, "invalid_request"},
		{"open: unknown currency", "POST", "/v1/accounts", `{"owner":"u","currency":"BTC"}`, nil, 400, "unknown_currency"},
		{"open: numeric owner", "POST", "/v1/accounts", `{"owner":42,"currency":"NGN"}`, nil, 400, "invalid_request"},
		{"open: bad book name", "POST", "/v1/accounts", `{"owner":"u","currency":"NGN","book":"Main Book"}`, nil, 400, "invalid_request"},
		{"open: non-string metadata", "POST", "/v1/accounts", `{"owner":"u","currency":"NGN","metadata":{"n":1}}`, nil, 400, "invalid_request"},
		{"open: wrong content type", "POST", "/v1/accounts", `{"owner":"u","currency":"NGN"}`, []string{"Content-Type", "text/csv"}, 415, "unsupported_media_type"},
		{"open: 2 MiB body", "POST", "/v1/accounts", big, nil, 413, "body_too_large"},
		{"open: empty body", "POST", "/v1/accounts", ``, nil, 400, "invalid_request"},
		{"open: no API key", "POST", "/v1/accounts", `{"owner":"u","currency":"NGN"}`, []string{"Authorization", ""}, 401, "unauthenticated"},
		{"freeze: unknown account", "POST", "/v1/accounts/acc_01J00000000000000000000000/freeze", ``, nil, 404, "not_found"},
		{"freeze: mistyped wallet number", "POST", "/v1/accounts/1234567890/freeze", ``, nil, 400, "invalid_request"},
		{"freeze: malformed body", "POST", "/v1/accounts/" + a + "/freeze", `{"reason":`, nil, 400, "invalid_request"},
		{"freeze: unknown field", "POST", "/v1/accounts/" + a + "/freeze", `{"why":"x"}`, nil, 400, "invalid_request"},
		{"close: money left", "POST", "/v1/accounts/" + a + "/close", ``, nil, 422, "balance_not_zero"},

		// Reads.
		{"get account: unknown", "GET", "/v1/accounts/acc_01J00000000000000000000000", ``, nil, 404, "not_found"},
		{"get account: garbage id", "GET", "/v1/accounts/nope", ``, nil, 404, "not_found"},
		{"get account: mistyped wallet number", "GET", "/v1/accounts/1234567890", ``, nil, 400, "invalid_request"},
		{"list accounts: limit too big", "GET", "/v1/accounts?limit=501", ``, nil, 400, "invalid_request"},
		{"list accounts: limit not a number", "GET", "/v1/accounts?limit=ten", ``, nil, 400, "invalid_request"},
		{"list accounts: bad kind", "GET", "/v1/accounts?kind=savings", ``, nil, 400, "invalid_request"},
		{"balance: bad position", "GET", "/v1/accounts/" + a + "/balance?position=-1", ``, nil, 400, "invalid_request"},
		{"balance: bad time", "GET", "/v1/accounts/" + a + "/balance?at=yesterday", ``, nil, 400, "invalid_request"},
		{"balance: both at and position", "GET", "/v1/accounts/" + a + "/balance?at=2026-01-01T00:00:00Z&position=1", ``, nil, 400, "invalid_request"},
		{"entries: bad cursor", "GET", "/v1/accounts/" + a + "/entries?cursor=zzz", ``, nil, 400, "invalid_request"},
		{"entries: bad from", "GET", "/v1/accounts/" + a + "/entries?from=monday", ``, nil, 400, "invalid_request"},
		{"get transfer: unknown", "GET", "/v1/transfers/tr_01J00000000000000000000000", ``, nil, 404, "not_found"},
		{"list transfers: unknown account", "GET", "/v1/transfers?account=acc_01J00000000000000000000000", ``, nil, 404, "not_found"},
		{"events: bad after", "GET", "/v1/events?after=minus", ``, nil, 400, "invalid_request"},
		{"events: no API key", "GET", "/v1/events", ``, []string{"Authorization", ""}, 401, "unauthenticated"},
		{"unknown route", "GET", "/v1/nothing-here", ``, nil, 404, "not_found"},
		{"wrong method", "DELETE", "/v1/transfers", ``, nil, 405, "method_not_allowed"},
	}
	before := h.eventCount()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := h.do(c.method, c.path, body, c.headers...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			var p map[string]any
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("problem is not JSON: %s", r.body)
			}
			if p["code"] != c.code || p["status"] != float64(c.status) || !strings.HasSuffix(p["type"].(string), "/"+c.code) || p["title"] == "" {
				t.Fatalf("problem = %s, want code %s", r.body, c.code)
			}
			if strings.Contains(strings.ToLower(string(r.body)), "sql") || strings.Contains(string(r.body), "pgx") {
				t.Fatalf("internal detail leaked: %s", r.body)
			}
		})
	}
	if after := h.eventCount(); after != before {
		t.Fatalf("bad input appended %d events", after-before)
	}
	if got := h.balance(a); got != "100.00" {
		t.Fatalf("balance changed to %s", got)
	}
	h.checkJournal("main")
}
