package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The sandbox walkthrough over real HTTP: a deposit opens a checkout page,
// pressing Pay makes the sandbox send a signed webhook through the same
// pipeline as a real gateway, and the wallet is credited once.
func TestSandboxCheckoutPaysThroughTheWebhook(t *testing.T) {
	h, _ := newSandboxHarness(t)

	a := h.open("ada", "KWD")
	dep := h.must(h.do("POST", "/v1/deposits", map[string]any{"account": a, "amount": "12.345", "currency": "KWD", "gateway": "sandbox"}, "Idempotency-Key", "sbx-1"), 201).json(t)
	checkout := dep["checkout_url"].(string)
	if !strings.Contains(checkout, "/sandbox/checkout/DEP-") {
		t.Fatalf("checkout_url = %s", checkout)
	}
	page, err := http.Get(checkout)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 {
		t.Fatalf("checkout page: %d", page.StatusCode)
	}
	for range 2 { // pressing Pay twice pays once
		resp, err := http.Post(checkout+"/pay", "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := h.balance(a); got != "12.345" {
		t.Fatalf("balance %s, want 12.345", got)
	}
	got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
	if got["status"] != "succeeded" {
		t.Fatalf("deposit = %v", got)
	}

	t.Run("a refund through the sandbox settles by its webhook", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/refunds", map[string]any{"deposit": dep["id"], "amount": "2.000"}, "Idempotency-Key", "sbx-refund"), 201).json(t)
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := h.must(h.do("GET", "/v1/refunds/"+r["id"].(string), nil), 200).json(t)
			if got["status"] == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("refund still %v", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := h.balance(a); got != "10.345" {
			t.Fatalf("balance %s, want 10.345", got)
		}
	})

	t.Run("a declined checkout fails the deposit and credits nothing", func(t *testing.T) {
		dep := h.must(h.do("POST", "/v1/deposits", map[string]any{"account": a, "amount": "1.000", "currency": "KWD", "gateway": "sandbox"}, "Idempotency-Key", "sbx-2"), 201).json(t)
		resp, err := http.Post(dep["checkout_url"].(string)+"/decline", "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := h.must(h.do("GET", "/v1/deposits/"+dep["id"].(string), nil), 200).json(t)
		if got["status"] != "failed" || h.balance(a) != "10.345" {
			t.Fatalf("deposit = %v, balance %s", got, h.balance(a))
		}
	})
	h.checkJournal("main")
}
