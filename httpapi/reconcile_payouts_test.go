package httpapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways/paystack"
)

// settle makes the fake gateway report the payout with reference ref in status when looked up.
func (f *fakePayouts) settle(ref, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settled[ref] = status
}

// reconcileNow runs one payout reconciliation pass over every pending withdrawal.
func (h *harness) reconcileNow(giveUp time.Duration) PayoutReconcileReport {
	h.t.Helper()
	rep, err := h.api.ReconcilePayouts(context.Background(), ReconcileOptions{MinAge: time.Nanosecond, GiveUpAfter: giveUp})
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

// A withdrawal whose payout call had no answer stays pending until its
// gateway says; the payout reconciler asks, and records what the gateway's
// webhook would have: settled, failed, reversed, or the gateway's reference.
// A payout the gateway has no record of stays pending, its money held.
func TestPayoutReconciler(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gateway   string // paystack or xendit
		amount    string
		mode      string // the fake's answer to the payout call
		settled   string // what the gateway reports when asked
		status    string // the withdrawal's status after the pass
		want      PayoutReconcileReport
		balance   string // the wallet's after the pass
		reference bool   // whether the gateway's reference is recorded
	}{
		{"a lost answer of a transfer Paystack made, found successful, settles the withdrawal", "paystack", "2000.00", "lost", "success",
			"succeeded", PayoutReconcileReport{Asked: 1, Settled: 1}, "8000.00", true},
		{"a lost answer of a transfer Paystack failed gives the money back", "paystack", "2000.00", "lost", "failed",
			"failed", PayoutReconcileReport{Asked: 1, Failed: 1}, "10000.00", true},
		{"a transfer Paystack reversed gives the money back as a reversal", "paystack", "2000.00", "lost", "reversed",
			"reversed", PayoutReconcileReport{Asked: 1, Reversed: 1}, "10000.00", true},
		{"a transfer still pending at Paystack stays pending, its reference now recorded", "paystack", "2000.00", "lost", "pending",
			"pending", PayoutReconcileReport{Asked: 1, Identified: 1}, "8000.00", true},
		{"a transfer waiting on an OTP is not conclusive: it stays pending", "paystack", "2000.00", "lost", "otp",
			"pending", PayoutReconcileReport{Asked: 1, Identified: 1}, "8000.00", true},
		{"a transfer of another amount is not settled: recorded as unmatched, it stays pending", "paystack", "1999.00", "lost", "success",
			"pending", PayoutReconcileReport{Asked: 1, Unmatched: 1}, "8001.00", false},
		{"a transfer Paystack never received stays pending with its money held, even past the give-up age", "paystack", "2000.00", "unreached", "",
			"pending", PayoutReconcileReport{Asked: 1, Missing: 1}, "8000.00", false},
		{"a lost answer of a disbursement Xendit completed settles the withdrawal", "xendit", "150000.00", "lost", "COMPLETED",
			"succeeded", PayoutReconcileReport{Asked: 1, Settled: 1}, "850000.00", true},
		{"a disbursement Xendit never received stays pending", "xendit", "150000.00", "unreached", "",
			"pending", PayoutReconcileReport{Asked: 1, Missing: 1}, "850000.00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &payoutLog{}
			fake := newFakePayouts(t)
			h := newHarness(t, withPayouts(t, fake), withCapturedLogs(t, logs))
			cur, float := "NGN", "10000.00"
			if tc.gateway == "xendit" {
				cur, float = "IDR", "1000000.00"
			}
			a := h.open("ada", cur)
			h.fund(a, float, cur)
			fake.mode.Store(tc.mode)
			w := h.must(h.withdraw(withdrawalBody(a, tc.amount, cur, tc.gateway, goodAccountNumber), "wd-"+tc.mode), 202).json(t)
			id := w["id"].(string)
			fake.mode.Store("")
			ref := id
			if tc.gateway == "paystack" {
				ref = paystack.TransferReference(id)
			}
			if tc.settled != "" {
				fake.settle(ref, tc.settled)
			}

			rep := h.reconcileNow(time.Nanosecond)
			if rep != tc.want {
				t.Fatalf("report %+v, want %+v", rep, tc.want)
			}
			got := h.must(h.do("GET", "/v1/withdrawals/"+id, nil), 200).json(t)
			if got["status"] != tc.status || h.balance(a) != tc.balance {
				t.Fatalf("withdrawal %v, wallet %s; want %s and %s", got, h.balance(a), tc.status, tc.balance)
			}
			if _, has := got["gateway_reference"]; has != tc.reference {
				t.Fatalf("gateway_reference %v, want recorded=%v", got["gateway_reference"], tc.reference)
			}
			if tc.want.Missing > 0 && !strings.Contains(logs.String(), "no record of a pending payout") {
				t.Fatalf("a missing payout past the give-up age was not reported:\n%s", logs)
			}
			if n := fake.made(id); tc.mode == "unreached" && n != 0 {
				t.Fatalf("the reconciler made %d payouts: it must never send one again", n)
			}

			again := h.reconcileNow(time.Nanosecond)
			if tc.status != "pending" && again.Asked != 0 {
				t.Fatalf("a settled withdrawal was asked about again: %+v", again)
			}
			if again.Settled+again.Failed+again.Reversed+again.Identified+again.Unmatched != 0 {
				t.Fatalf("a second pass recorded something again: %+v", again)
			}
			if tc.want.Settled == 1 && tc.gateway == "paystack" {
				// The webhook arriving after the reconciler changes nothing.
				before := h.eventCount()
				body := transferEvent(t, "transfer.success", id, 200000)
				h.must(h.webhook("paystack", body, paystackSign(body)...), 200)
				if h.eventCount() != before {
					t.Fatal("the late webhook settled the withdrawal a second time")
				}
			}
			h.checkJournal("main")
		})
	}
}
