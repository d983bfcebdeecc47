package httpapi

import (
	"context"
	"sync"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

// ownerlessKey creates an API key with the scopes and returns its id and secret.
func (h *harness) ownerlessKey(scopes ...string) (id, secret string) {
	h.t.Helper()
	r := h.newKey("", scopes...)
	return r["id"].(string), r["key"].(string)
}

func TestAdjustmentApprovalRequired(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AdjustmentApproval = true })
	acc := h.open("user-1", "NGN")
	aliceID, alice := h.ownerlessKey("admin")
	_, bob := h.ownerlessKey("admin")
	propose := func(key, amount, idem string) reply {
		return h.do("POST", "/v1/adjustments", map[string]any{
			"account": acc, "direction": "credit", "amount": amount, "currency": "NGN", "reason": "float",
		}, "Authorization", "Bearer "+key, "Idempotency-Key", idem)
	}

	r := h.must(propose(alice, "100.00", "p1"), 202).json(t)
	id := r["id"].(string)
	if r["status"] != "pending" || r["proposed_by"] != aliceID || r["decided_by"] != nil {
		t.Fatalf("proposal %v", r)
	}
	if got := h.balance(acc); got != "0.00" {
		t.Fatalf("a proposal moved money: balance %s", got)
	}
	if again := h.must(propose(alice, "100.00", "p1"), 202); again.header.Get("Idempotent-Replayed") != "true" || again.str(t, "id") != id {
		t.Fatalf("retried proposal was not replayed: %s", again.body)
	}

	t.Run("the proposer cannot approve its own proposal", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/adjustments/proposals/"+id+"/approve", nil, "Authorization", "Bearer "+alice), 403)
		if r.str(t, "code") != "approver_is_proposer" {
			t.Fatalf("got %s", r.body)
		}
	})
	t.Run("a key rotated from the proposer's is still the proposer", func(t *testing.T) {
		rotated := h.must(h.do("POST", "/v1/keys/"+aliceID+"/rotate", nil), 201).str(t, "key")
		r := h.must(h.do("POST", "/v1/adjustments/proposals/"+id+"/approve", nil, "Authorization", "Bearer "+rotated), 403)
		if r.str(t, "code") != "approver_is_proposer" {
			t.Fatalf("got %s", r.body)
		}
	})
	t.Run("an events:read key cannot approve", func(t *testing.T) {
		_, auditor := h.ownerlessKey("events:read")
		h.must(h.do("POST", "/v1/adjustments/proposals/"+id+"/approve", nil, "Authorization", "Bearer "+auditor), 403)
	})
	t.Run("a different admin approves and the adjustment posts", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/adjustments/proposals/"+id+"/approve", nil, "Authorization", "Bearer "+bob), 200).json(t)
		if r["status"] != "posted" || r["decided_by"] == nil {
			t.Fatalf("approved %v", r)
		}
		if got := h.balance(acc); got != "100.00" {
			t.Fatalf("balance after approval %s, want 100.00", got)
		}
		r2 := h.must(h.do("POST", "/v1/adjustments/proposals/"+id+"/approve", nil), 422)
		if r2.str(t, "code") != "proposal_not_pending" {
			t.Fatalf("second approval: %s", r2.body)
		}
	})
	t.Run("a rejected proposal never posts", func(t *testing.T) {
		id2 := h.must(propose(bob, "7.00", "p2"), 202).str(t, "id")
		h.must(h.do("POST", "/v1/adjustments/proposals/"+id2+"/reject", map[string]any{}), 400)
		r := h.must(h.do("POST", "/v1/adjustments/proposals/"+id2+"/reject", map[string]any{"reason": "wrong wallet"}), 200).json(t)
		if r["status"] != "rejected" || r["decision_reason"] != "wrong wallet" {
			t.Fatalf("rejected %v", r)
		}
		h.must(h.do("POST", "/v1/adjustments/proposals/"+id2+"/approve", nil), 422)
		if got := h.balance(acc); got != "100.00" {
			t.Fatalf("balance %s after a rejection", got)
		}
	})
	t.Run("proposals list by status", func(t *testing.T) {
		for status, want := range map[string]int{"pending": 0, "posted": 1, "rejected": 1, "": 2} {
			data := h.must(h.do("GET", "/v1/adjustments/proposals?status="+status, nil), 200).json(t)["data"].([]any)
			if len(data) != want {
				t.Errorf("status %q lists %d, want %d", status, len(data), want)
			}
		}
		h.must(h.do("GET", "/v1/adjustments/proposals?status=maybe", nil), 400)
		h.must(h.do("GET", "/v1/adjustments/proposals/"+id, nil), 200)
		h.must(h.do("GET", "/v1/adjustments/proposals/adj_nope", nil), 404)
	})
	t.Run("the journal, projections and verify agree", func(t *testing.T) {
		events := h.checkJournal(ledger.DefaultBook)
		seen := map[ledger.EventType]int{}
		for _, e := range events {
			seen[e.Type]++
		}
		if seen[ledger.AdjustmentProposed] != 2 || seen[ledger.AdjustmentPosted] != 1 || seen[ledger.AdjustmentRejected] != 1 {
			t.Fatalf("journal holds %v", seen)
		}
		rep, err := h.set.Verify(context.Background(), ledger.DefaultBook, projections.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Fatalf("verify: %+v", rep)
		}
		if _, err := h.set.Rebuild(context.Background(), []string{"adjustment_proposals"}, projections.RebuildOptions{}); err != nil {
			t.Fatal(err)
		}
		if rep, err := h.set.Verify(context.Background(), ledger.DefaultBook, projections.VerifyOptions{}); err != nil || !rep.OK {
			t.Fatalf("verify after rebuild: %v %+v", err, rep)
		}
	})
}

func TestAdjustmentsPostDirectlyByDefault(t *testing.T) {
	h := newHarness(t)
	acc := h.open("user-1", "NGN")
	h.must(h.do("POST", "/v1/adjustments", map[string]any{
		"account": acc, "direction": "credit", "amount": "5.00", "currency": "NGN", "reason": "float",
	}, "Idempotency-Key", "k"), 201)
	if got := h.balance(acc); got != "5.00" {
		t.Fatalf("balance %s", got)
	}
}

// Concurrent approvals of one proposal, by different admins, post it once.
func TestConcurrentApprovalsPostOnce(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AdjustmentApproval = true })
	acc := h.open("user-1", "NGN")
	_, proposer := h.ownerlessKey("admin")
	id := h.must(h.do("POST", "/v1/adjustments", map[string]any{
		"account": acc, "direction": "credit", "amount": "10.00", "currency": "NGN", "reason": "float",
	}, "Authorization", "Bearer "+proposer, "Idempotency-Key", "p"), 202).str(t, "id")
	const approvers = 4 // with the proposer, the 5 owner-less keys allowed
	keys := make([]string, approvers)
	for i := range keys {
		_, keys[i] = h.ownerlessKey("admin")
	}
	statuses := make(chan int, approvers)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- h.do("POST", "/v1/adjustments/proposals/"+id+"/approve", nil, "Authorization", "Bearer "+k).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[422] != approvers-1 {
		t.Fatalf("answers %v, want one 200 and %d 422", count, approvers-1)
	}
	if got := h.balance(acc); got != "10.00" {
		t.Fatalf("balance %s, want 10.00: posted once", got)
	}
	h.checkJournal(ledger.DefaultBook)
}
