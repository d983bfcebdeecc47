package httpapi

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A two-step request that loses its lease while it calls the gateway (here
// another process takes it over) stops at once: its gateway call is
// abandoned, nothing is recorded for it (the outcome is unknown, so the
// refund stays pending with its money held, never failed by a guess), and
// the Idempotency-Key stays in progress for the lease's new holder.
func TestLostLeaseStopsTheGatewayCall(t *testing.T) {
	held := startRefundHeldByPaystack(t, "lease-lost") // Paystack takes the refund and never answers
	h, dep, a, body, start, done := held.h, held.deposit, held.wallet, held.body, held.started, held.done
	takeLeaseOver(t, h, "lease-lost")

	var r reply
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the request kept calling the gateway after losing its lease")
	}
	t.Run("the request stops within a renewal period and says to retry", func(t *testing.T) {
		if r.status != 503 || r.str(t, "code") != "unavailable" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("stopped after %s: the gateway call was not abandoned", elapsed)
		}
	})
	t.Run("nothing is recorded for the abandoned call: the refund stays pending, its money held", func(t *testing.T) {
		for _, typ := range []string{"refund.submitted", "refund.failed", "refund.succeeded"} {
			if got := h.must(h.do("GET", "/v1/events?type="+typ, nil), 200).json(t)["data"].([]any); len(got) != 0 {
				t.Fatalf("%s recorded: %v", typ, got)
			}
		}
		list := h.must(h.do("GET", "/v1/refunds?deposit="+dep["id"].(string), nil), 200).json(t)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["status"] != "pending" {
			t.Fatalf("refunds = %v", list)
		}
		if got := h.balance(a); got != "30.00" {
			t.Fatalf("wallet %s, want 30.00 (the refund's money stays in refunds:pending)", got)
		}
	})
	t.Run("the key stays in progress for the lease's new holder", func(t *testing.T) {
		busy := h.refund(body, "lease-lost")
		if busy.status != 409 || busy.str(t, "code") != "idempotency_key_in_use" {
			t.Fatalf("%d %s", busy.status, busy.body)
		}
		var holder string
		if err := h.pool.QueryRow(context.Background(), `SELECT lease_holder FROM idempotency_keys WHERE key = 'lease-lost'`).Scan(&holder); err != nil || holder != "lease_thief" {
			t.Fatalf("lease holder %q, %v: the stopped request must not release another's lease", holder, err)
		}
	})
	h.checkJournal("main")
}

// The lease can also be lost after the gateway answered and before the
// answer is recorded (the holder paused longer than its lease; a retry took
// the record over and is calling the gateway itself). The record is the
// lock: the late finish finds another holder and records nothing, so only
// the new holder's outcome is ever recorded.
func TestAFinishAfterTheLeaseWasTakenRecordsNothing(t *testing.T) {
	held := startRefundHeldByPaystack(t, "lease-late")
	h, done := held.h, held.done
	// The lease is taken over, and the gateway answers at once: the request
	// goes on to record the answer before its next renewal would notice.
	takeLeaseOver(t, h, "lease-late")
	held.release()

	r := <-done
	if r.status != 503 || r.str(t, "code") != "unavailable" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, typ := range []string{"refund.submitted", "refund.failed", "refund.succeeded"} {
		if got := h.must(h.do("GET", "/v1/events?type="+typ, nil), 200).json(t)["data"].([]any); len(got) != 0 {
			t.Fatalf("%s recorded by a request that no longer held the lease: %v", typ, got)
		}
	}
	var status int
	var holder string
	if err := h.pool.QueryRow(context.Background(), `SELECT status, lease_holder FROM idempotency_keys WHERE key = 'lease-late'`).Scan(&status, &holder); err != nil {
		t.Fatal(err)
	}
	if status != 0 || holder != "lease_thief" {
		t.Fatalf("record status %d held by %q: it must stay in progress for the new holder", status, holder)
	}
	h.checkJournal("main")
}

// heldRefund is a refund request, with the Idempotency-Key key, that
// Paystack has taken and does not answer until release (or the test's end).
type heldRefund struct {
	h       *harness
	deposit map[string]any
	wallet  string
	body    map[string]any
	started time.Time // when the request was sent
	done    chan reply
	release func()
}

// startRefundHeldByPaystack refunds 20.00 of a paid 50.00 deposit, and
// returns once Paystack has taken the refund call (a harness with a 1 s
// lease, renewed every third of it).
func startRefundHeldByPaystack(t *testing.T, key string) heldRefund {
	fake := newPaystackRefunds(t)
	r := heldRefund{h: newHarness(t, withPaystackRefunds(t, fake)), done: make(chan reply, 1)}
	r.wallet = r.h.open("payer", "NGN")
	r.deposit = paidPaystackDeposit(t, r.h, r.wallet, "50.00", 5000)
	hold := make(chan struct{})
	r.release = sync.OnceFunc(func() { close(hold) })
	t.Cleanup(r.release)
	fake.mu.Lock()
	fake.hold = hold
	fake.mu.Unlock()
	r.body = map[string]any{"deposit": r.deposit["id"], "amount": "20.00"}
	r.started = time.Now()
	go func() { r.done <- r.h.refund(r.body, key) }()
	<-fake.taken
	return r
}

// takeLeaseOver leases the in-progress record of key to another holder,
// lease_thief, for an hour, as another process would once this one's
// lease ran out.
func takeLeaseOver(t *testing.T, h *harness, key string) {
	t.Helper()
	tag, err := h.pool.Exec(context.Background(), `
		UPDATE idempotency_keys SET lease_holder = 'lease_thief', lease_until = now() + interval '1 hour'
		WHERE key = $1 AND status = 0`, key)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("taking the lease over: %v, %d rows", err, tag.RowsAffected())
	}
}
