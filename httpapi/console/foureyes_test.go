package console_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestFourEyes(t *testing.T) {
	tl := newTally(t)
	acc := tl.open("ada", "NGN")
	tl.adjust(acc, "credit", "10.00", "NGN")
	aliceID, alice := tl.key("", "admin")
	bobID, bob := tl.key("", "admin")
	p := newPage(t, tl)
	p.signIn(alice)
	proposals := func() int {
		var n int
		if err := tl.pool.QueryRow(context.Background(), `SELECT count(*) FROM adjustment_proposals`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var id string

	t.Run("an adjustment made in the console is only proposed", func(t *testing.T) {
		p.open("/console/adjustments")
		p.submit("#propose-form", map[string]string{"account": acc, "direction": "credit", "amount": "75.25", "currency": "NGN", "reason": "missed top-up"}, "button")
		if banner := p.text(".notice"); !strings.Contains(banner, "a different admin must approve") {
			t.Fatalf("notice %q", banner)
		}
		cards := p.texts(`.proposal[data-status="pending"] h3 code`)
		if len(cards) != 1 {
			t.Fatalf("pending proposals shown: %v", cards)
		}
		id = cards[0]
		if got := tl.balance(acc); got != "10.00" {
			t.Fatalf("a proposal moved money: balance %s", got)
		}
		p.screenshot("adjustments")
		p.fitsPhone("adjustments")
	})
	t.Run("a form sent without its CSRF token is refused and changes nothing", func(t *testing.T) {
		before := proposals()
		p.open("/console/adjustments")
		eval[any](p, `document.querySelector('#propose-form [name="csrf"]').remove()`)
		p.submit("#propose-form", map[string]string{"account": acc, "direction": "credit", "amount": "1.00", "currency": "NGN", "reason": "forged"}, "button")
		if status := eval[string](p, `document.querySelector(".error").dataset.status`); status != "403" {
			t.Fatalf("status %s, want 403", status)
		}
		if proposals() != before {
			t.Fatal("a form without its token made a proposal")
		}
	})
	t.Run("the proposer cannot approve", func(t *testing.T) {
		p.open("/console/adjustments")
		p.click(`.proposal[data-id="` + id + `"] button.approve`)
		msg := p.text(".error")
		if status := eval[string](p, `document.querySelector(".error").dataset.status`); status != "403" || !strings.Contains(msg, "different admin") {
			t.Fatalf("status %s: %q", status, msg)
		}
		if got := tl.balance(acc); got != "10.00" {
			t.Fatalf("the proposer's approval moved money: %s", got)
		}
	})
	t.Run("a different admin approves and the adjustment posts", func(t *testing.T) {
		p.signOut()
		p.signIn(bob)
		p.open("/console/adjustments")
		p.click(`.proposal[data-id="` + id + `"] button.approve`)
		if banner := p.text(".notice"); !strings.Contains(banner, "Approved "+id) {
			t.Fatalf("notice %q", banner)
		}
		if got := tl.balance(acc); got != "85.25" {
			t.Fatalf("balance %s after approval, want 85.25", got)
		}
		events := tl.apiEvents("&type=adjustment.posted")
		last := events[len(events)-1]["data"].(map[string]any)
		if last["adjustment_id"] != id || last["proposed_by"] != aliceID || last["approved_by"] != bobID {
			t.Fatalf("posted event data %v", last)
		}
		p.open("/console/adjustments?status=posted")
		if got := p.texts(`.proposal[data-status="posted"] h3 code`); len(got) != 1 || got[0] != id {
			t.Fatalf("posted proposals %v", got)
		}
	})
	t.Run("a proposal can be rejected with a reason, and never posts", func(t *testing.T) {
		p.open("/console/adjustments")
		p.submit("#propose-form", map[string]string{"account": acc, "direction": "debit", "amount": "5.00", "currency": "NGN", "reason": "fee"}, "button")
		other := p.texts(`.proposal[data-status="pending"] h3 code`)[0]
		p.submit(`.proposal[data-id="`+other+`"] form.inline`, map[string]string{"reason": "no such fee"}, "button.reject")
		p.open("/console/adjustments?status=rejected")
		if text := p.text(`.proposal[data-id="` + other + `"]`); !strings.Contains(text, "no such fee") {
			t.Fatalf("rejected proposal shows %q", text)
		}
		if got := tl.balance(acc); got != "85.25" {
			t.Fatalf("a rejected proposal moved money: %s", got)
		}
		api := tl.api("GET", "/v1/adjustments/proposals/"+other, nil, "", 200)
		if api["status"] != "rejected" || api["decision_reason"] != "no such fee" {
			raw, _ := json.Marshal(api)
			t.Fatalf("API says %s", raw)
		}
	})
	t.Run("the journal and its projections still verify", func(t *testing.T) {
		if rep := tl.api("GET", "/v1/audit/verify?book=main", nil, "", 200); rep["ok"] != true {
			raw, _ := json.Marshal(rep)
			t.Fatalf("verify: %s", raw)
		}
	})
}
