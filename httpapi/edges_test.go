package httpapi

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"
)

// Edges of outside input that used to get the wrong answer.
func TestInputEdges(t *testing.T) {
	fake := newFakeGateways(t)
	h := newHarness(t, withGateways(t, fake))
	a := h.open("alice", "NGN")
	h.fund(a, "10", "NGN")
	before := h.eventCount()
	expect := func(t *testing.T, r reply, status int) reply {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
		}
		return r
	}

	t.Run("a webhook body over 1 MiB is 413 body_too_large", func(t *testing.T) {
		body := append([]byte(`{"event":"charge.success","data":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...)
		body = append(body, `"}`...)
		r := expect(t, h.webhook("paystack", body, paystackSign(body)...), 413)
		if r.str(t, "code") != "body_too_large" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("a Stripe webhook signed more than 300 s ahead is 401", func(t *testing.T) {
		body := stripeEvent(t, "evt_future", "payment_intent.succeeded", map[string]any{"id": "pi_x"})
		r := expect(t, h.webhook("stripe", body, stripeSign(body, time.Now().Add(10*time.Minute))...), 401)
		if r.str(t, "code") != "invalid_signature" {
			t.Fatalf("%s", r.body)
		}
	})
	for _, c := range []struct{ name, cursor string }{
		{"an entries cursor with a seq past a posting's is 400", "1.99999"},
		{"an entries cursor with a negative position is 400", "-5.0"},
		{"an entries cursor with a position past int64 is 400", "99999999999999999999.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cur := base64.RawURLEncoding.EncodeToString([]byte(c.cursor))
			r := expect(t, h.do("GET", "/v1/accounts/"+a+"/entries?cursor="+cur, nil), 400)
			if r.str(t, "code") != "invalid_request" {
				t.Fatalf("%s", r.body)
			}
		})
	}
	t.Run("a list cursor with a negative position is 400", func(t *testing.T) {
		cur := base64.RawURLEncoding.EncodeToString([]byte("main:-1"))
		expect(t, h.do("GET", "/v1/accounts?cursor="+cur, nil), 400)
	})
	t.Run("at=0001-01-01T00:00:00Z is the zero time: position 0, nothing recorded", func(t *testing.T) {
		b := expect(t, h.do("GET", "/v1/accounts/"+a+"/balance?at=0001-01-01T00:00:00Z", nil), 200).json(t)
		if b["balance"] != "0.00" || b["at"] != "0001-01-01T00:00:00.000Z" {
			t.Fatalf("%v", b)
		}
		if p, ok := b["position"].(float64); ok && p != 0 {
			t.Fatalf("position %v, want 0", p)
		}
		tb := expect(t, h.do("GET", "/v1/audit/trial-balance?at=0001-01-01T00:00:00Z", nil), 200).json(t)
		if tb["position"] != float64(0) || len(tb["accounts"].([]any)) != 0 {
			t.Fatalf("%v", tb)
		}
	})
	if h.eventCount() != before {
		t.Fatal("refused input changed the journal")
	}
}
