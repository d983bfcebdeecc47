package httpapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestWalletLifecycle(t *testing.T) {
	h := newHarness(t)
	acc := h.must(h.do("POST", "/v1/accounts", map[string]any{"owner": "user-42", "currency": "NGN", "metadata": map[string]string{"tier": "gold"}}), 201).json(t)
	a := acc["id"].(string)
	wallet := acc["wallet_number"].(string)
	for field, want := range map[string]string{"owner": "user-42", "currency": "NGN", "book": "main", "kind": "wallet", "status": "active", "balance": "0.00"} {
		if acc[field] != want {
			t.Errorf("%s = %v, want %s", field, acc[field], want)
		}
	}
	b := h.open("user-7", "NGN")

	h.fund(a, "5000", "NGN")
	tr := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": wallet, "to": b, "amount": "300.5", "currency": "NGN", "description": "lunch"},
		"Idempotency-Key", "t-1"), 201).json(t)
	if tr["amount"] != "300.50" || tr["status"] != "completed" || tr["from"] != a || tr["refunded_amount"] != "0.00" {
		t.Fatalf("transfer = %v", tr)
	}
	if got := h.balance(a); got != "4699.50" {
		t.Fatalf("sender balance %s", got)
	}
	if got := h.balance(wallet); got != "4699.50" {
		t.Fatalf("balance by wallet number %s", got)
	}
	if got := h.balance(b); got != "300.50" {
		t.Fatalf("recipient balance %s", got)
	}
	got := h.must(h.do("GET", "/v1/transfers/"+tr["id"].(string), nil), 200).json(t)
	if got["position"] != tr["position"] || got["description"] != "lunch" {
		t.Fatalf("GET transfer = %v, created %v", got, tr)
	}

	entries := h.must(h.do("GET", "/v1/accounts/"+a+"/entries", nil), 200).json(t)["data"].([]any)
	if len(entries) != 2 {
		t.Fatalf("entries = %v", entries)
	}
	last := entries[1].(map[string]any)
	if last["amount"] != "-300.50" || last["balance_after"] != "4699.50" || last["counterparty"] != b || last["reference"] != tr["id"] || last["type"] != "transfer.completed" {
		t.Fatalf("last entry = %v", last)
	}

	// The balance as of the adjustment's position is what it was then.
	pos := int(entries[0].(map[string]any)["position"].(float64))
	then := h.must(h.do("GET", fmt.Sprintf("/v1/accounts/%s/balance?position=%d", a, pos), nil), 200).json(t)
	if then["balance"] != "5000.00" {
		t.Fatalf("balance at position %d = %v", pos, then)
	}

	list := h.must(h.do("GET", "/v1/transfers?account="+b, nil), 200).json(t)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("transfers of b = %v", list)
	}
	accounts := h.must(h.do("GET", "/v1/accounts?owner=user-42", nil), 200).json(t)["data"].([]any)
	if len(accounts) != 1 || accounts[0].(map[string]any)["id"] != a {
		t.Fatalf("accounts of user-42 = %v", accounts)
	}

	// Freeze blocks transfers, unfreeze restores them, close needs a zero balance.
	h.must(h.do("POST", "/v1/accounts/"+b+"/freeze", map[string]any{"reason": "kyc"}), 200)
	r := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": b, "to": a, "amount": "1", "currency": "NGN"}, "Idempotency-Key", "t-2"), 422)
	if r.str(t, "code") != "account_frozen" {
		t.Fatalf("code = %s", r.body)
	}
	h.must(h.do("POST", "/v1/accounts/"+b+"/unfreeze", nil), 200)
	r = h.must(h.do("POST", "/v1/accounts/"+b+"/close", nil), 422)
	if r.str(t, "code") != "balance_not_zero" {
		t.Fatalf("code = %s", r.body)
	}
	h.must(h.do("POST", "/v1/transfers", map[string]any{"from": b, "to": a, "amount": "300.50", "currency": "NGN"}, "Idempotency-Key", "t-3"), 201)
	closed := h.must(h.do("POST", "/v1/accounts/"+b+"/close", nil), 200).json(t)
	if closed["status"] != "closed" {
		t.Fatalf("after close: %v", closed)
	}
	r = h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "1", "currency": "NGN"}, "Idempotency-Key", "t-4"), 422)
	if r.str(t, "code") != "account_closed" {
		t.Fatalf("code = %s", r.body)
	}

	events := h.checkJournal("main")
	var types []string
	for _, e := range events {
		types = append(types, string(e.Type))
	}
	want := "account.opened account.opened account.opened adjustment.posted transfer.completed account.frozen account.unfrozen transfer.completed account.closed"
	if strings.Join(types, " ") != want {
		t.Fatalf("journal types:\n got %s\nwant %s", strings.Join(types, " "), want)
	}
}

func TestEntriesPaginate(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("u1", "USD"), h.open("u2", "USD")
	h.fund(a, "100", "USD")
	for i := range 7 {
		h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "1", "currency": "USD"}, "Idempotency-Key", fmt.Sprint("p", i)), 201)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		r := h.must(h.do("GET", "/v1/accounts/"+a+"/entries?limit=3&cursor="+cursor, nil), 200).json(t)
		for _, e := range r["data"].([]any) {
			seen = append(seen, e.(map[string]any)["balance_after"].(string))
		}
		next, _ := r["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	want := "100.00 99.00 98.00 97.00 96.00 95.00 94.00 93.00"
	if strings.Join(seen, " ") != want {
		t.Fatalf("balances across pages: %v, want %s", seen, want)
	}
	// An invented cursor is a client error, not a crash.
	if r := h.do("GET", "/v1/accounts/"+a+"/entries?cursor=!!!", nil); r.status != 400 {
		t.Fatalf("bad cursor: %d %s", r.status, r.body)
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, auth string
	}{
		{"no key is unauthenticated", ""},
		{"a wrong key is unauthenticated", "Bearer nope"},
		{"a non-bearer scheme is unauthenticated", "Basic " + adminKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", "/v1/accounts", nil, "Authorization", tc.auth)
			if r.status != 401 || r.str(t, "code") != "unauthenticated" || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}
		})
	}
	if r := h.do("GET", "/healthz", nil, "Authorization", ""); r.status != 200 {
		t.Fatalf("healthz needs no key: %d", r.status)
	}
	if r := h.do("GET", "/readyz", nil, "Authorization", ""); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/openapi.json", nil, "Authorization", ""); r.status != 200 || !strings.Contains(string(r.body), `"openapi"`) {
		t.Fatalf("openapi: %d", r.status)
	}
}

func TestJournalRowsAreImmutable(t *testing.T) {
	h := newHarness(t)
	a := h.open("u", "NGN")
	h.fund(a, "10", "NGN")
	ctx := context.Background()
	for _, stmt := range []string{
		`UPDATE events SET type = 'x'`,
		`DELETE FROM events`,
		`TRUNCATE events CASCADE`,
		`UPDATE postings SET amount = 1000000`,
		`DELETE FROM postings`,
		`TRUNCATE postings`,
	} {
		if _, err := h.pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
		}
	}
	h.checkJournal("main")
}

func TestListsPageInJournalOrder(t *testing.T) {
	h := newHarness(t)
	var opened []string
	for i := range 5 {
		opened = append(opened, h.open(fmt.Sprint("pager-", i), "EUR"))
	}
	h.fund(opened[0], "10", "EUR")
	var made []string
	for i := 1; i < 5; i++ {
		r := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": opened[0], "to": opened[i], "amount": "1", "currency": "EUR"}, "Idempotency-Key", fmt.Sprint("pg", i)), 201)
		made = append(made, r.json(t)["id"].(string))
	}
	// A transfer back: opened[2] has a transfer from it and one to it.
	r := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": opened[2], "to": opened[0], "amount": "0.5", "currency": "EUR"}, "Idempotency-Key", "pg-back"), 201)
	made = append(made, r.json(t)["id"].(string))
	collect := func(path string) []string {
		var ids []string
		cursor := ""
		for range 10 {
			r := h.must(h.do("GET", path+"&limit=2&cursor="+cursor, nil), 200).json(t)
			for _, row := range r["data"].([]any) {
				ids = append(ids, row.(map[string]any)["id"].(string))
			}
			next, _ := r["next_cursor"].(string)
			if next == "" {
				return ids
			}
			cursor = next
		}
		t.Fatal("pagination does not end")
		return nil
	}
	if got := collect("/v1/accounts?currency=EUR&kind=wallet"); strings.Join(got, ",") != strings.Join(opened, ",") {
		t.Fatalf("accounts in pages %v, want opening order %v", got, opened)
	}
	// The account's own transfers, both ways, in journal order, and not
	// its funding (a posting that is no transfer).
	if got := collect("/v1/transfers?account=" + opened[0]); strings.Join(got, ",") != strings.Join(made, ",") {
		t.Fatalf("transfers of %s in pages %v, want %v", opened[0], got, made)
	}
	if got := collect("/v1/transfers?account=" + opened[2]); strings.Join(got, ",") != made[1]+","+made[4] {
		t.Fatalf("transfers of %s in pages %v, want %v", opened[2], got, []string{made[1], made[4]})
	}
	// A system account (here the one funding came from) is in no transfer.
	system := h.must(h.do("GET", "/v1/accounts?kind=system", nil), 200).json(t)["data"].([]any)
	if len(system) == 0 {
		t.Fatal("no system account listed")
	}
	for _, row := range system {
		id := row.(map[string]any)["id"].(string)
		if got := h.must(h.do("GET", "/v1/transfers?account="+id, nil), 200).json(t)["data"].([]any); len(got) != 0 {
			t.Fatalf("transfers of system account %s: %v", id, got)
		}
	}
	r = h.do("GET", "/v1/transfers?cursor="+encodeCursor("main"), nil)
	if r.status != 400 {
		t.Fatalf("a cursor without a position: %d", r.status)
	}
}
