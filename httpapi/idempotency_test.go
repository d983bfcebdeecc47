package httpapi

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

func TestIdempotency(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("u1", "NGN"), h.open("u2", "NGN")
	h.fund(a, "100", "NGN")
	body := map[string]any{"from": a, "to": b, "amount": "10", "currency": "NGN"}

	t.Run("a retry gets the same bytes and moves money once", func(t *testing.T) {
		first := h.must(h.do("POST", "/v1/transfers", body, "Idempotency-Key", "k1"), 201)
		events := h.eventCount()
		// Same request, keys in another order and other whitespace: still the same request.
		again := h.must(h.do("POST", "/v1/transfers", fmt.Sprintf(`{ "currency":"NGN", "amount":"10", "to":%q, "from":%q }`, b, a), "Idempotency-Key", "k1"), 201)
		if !bytes.Equal(first.body, again.body) {
			t.Fatalf("replay differs:\n%s\n%s", first.body, again.body)
		}
		if again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatal("Idempotent-Replayed header wrong")
		}
		if h.eventCount() != events || h.balance(b) != "10.00" {
			t.Fatal("the replay moved money")
		}
	})

	t.Run("the same key with another body is refused", func(t *testing.T) {
		other := map[string]any{"from": a, "to": b, "amount": "11", "currency": "NGN"}
		r := h.must(h.do("POST", "/v1/transfers", other, "Idempotency-Key", "k1"), 422)
		if r.str(t, "code") != "idempotency_key_reused" {
			t.Fatalf("%s", r.body)
		}
	})

	t.Run("the same key on another endpoint is refused", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/adjustments", map[string]any{"account": a, "direction": "credit", "amount": "1", "currency": "NGN", "reason": "x"}, "Idempotency-Key", "k1"), 422)
		if r.str(t, "code") != "idempotency_key_reused" {
			t.Fatalf("%s", r.body)
		}
	})

	t.Run("a stored failure stays a failure after the account is funded", func(t *testing.T) {
		big := map[string]any{"from": b, "to": a, "amount": "500", "currency": "NGN"}
		first := h.must(h.do("POST", "/v1/transfers", big, "Idempotency-Key", "k-poor"), 422)
		if first.str(t, "code") != "insufficient_funds" {
			t.Fatalf("%s", first.body)
		}
		h.fund(b, "1000", "NGN")
		again := h.must(h.do("POST", "/v1/transfers", big, "Idempotency-Key", "k-poor"), 422)
		if !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replayed failure differs: %s", again.body)
		}
		h.must(h.do("POST", "/v1/transfers", big, "Idempotency-Key", "k-rich"), 201)
	})

	t.Run("a duplicate while the first is running is 409", func(t *testing.T) {
		slot := principalAdmin().IdempotencyScope() + "\x00" + "k-busy"
		if !h.api.inflight.acquire(slot) {
			t.Fatal("slot already held")
		}
		r := h.do("POST", "/v1/transfers", body, "Idempotency-Key", "k-busy")
		h.api.inflight.release(slot)
		if r.status != 409 || r.str(t, "code") != "idempotency_key_in_use" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		// Once the first is done, the key works (409s are not stored).
		h.must(h.do("POST", "/v1/transfers", body, "Idempotency-Key", "k-busy"), 201)
	})

	t.Run("concurrent duplicates move money once", func(t *testing.T) {
		before := h.eventCount()
		var wg sync.WaitGroup
		replies := make([]reply, 20)
		for i := range replies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replies[i] = h.do("POST", "/v1/transfers", body, "Idempotency-Key", "k-race")
			}()
		}
		wg.Wait()
		var created []byte
		for _, r := range replies {
			switch r.status {
			case 201:
				if created != nil && !bytes.Equal(created, r.body) {
					t.Fatalf("two different 201 bodies for one key:\n%s\n%s", created, r.body)
				}
				created = r.body
			case 409:
			default:
				t.Fatalf("unexpected %d %s", r.status, r.body)
			}
		}
		if created == nil {
			t.Fatal("no request succeeded")
		}
		if got := h.eventCount() - before; got != 1 {
			t.Fatalf("%d events appended for one key, want 1", got)
		}
	})

	t.Run("malformed requests are not stored", func(t *testing.T) {
		h.must(h.do("POST", "/v1/transfers", `{"from":`, "Idempotency-Key", "k-bad"), 400)
		h.must(h.do("POST", "/v1/transfers", body, "Idempotency-Key", "k-bad"), 201)
	})

	t.Run("keys are required where money moves", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/transfers", body), 400)
		if r.str(t, "code") != "idempotency_key_missing" {
			t.Fatalf("%s", r.body)
		}
	})
	h.checkJournal("main")
}

func principalAdmin() *Principal {
	return &Principal{KeyID: "admin", Scopes: map[Scope]bool{ScopeAdmin: true}}
}
