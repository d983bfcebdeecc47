package httpapi

import (
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Benchmarks of the API's share of a transfer, without a database: what
// each request costs before and after the sequencer.

var benchTransferBody = []byte(`{"from":"acc_01KAX5Z1Q5J2M9XWZ7V3C8B4N6","to":"acc_01KAX5Z1Q5J2M9XWZ7V3C8B4N7","amount":"1.00","currency":"USD","description":"rent"}`)

func BenchmarkDecodeTransferRequest(b *testing.B) {
	for b.Loop() {
		var req transferRequest
		if err := decodeJSON(benchTransferBody, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFingerprint(b *testing.B) {
	for b.Loop() {
		_ = Fingerprint("POST", "/v1/transfers", benchTransferBody)
	}
}

// BenchmarkRenderTransfer is the response the sequencer renders (and
// stores for retries) for each transfer, while the batch is decided.
func BenchmarkRenderTransfer(b *testing.B) {
	amount := ledger.MustMoney("1.00", "USD")
	t := pgjournal.Transfer{
		ID: "tr_01KAX5Z1Q5J2M9XWZ7V3C8B4N8", From: "acc_01KAX5Z1Q5J2M9XWZ7V3C8B4N6", To: "acc_01KAX5Z1Q5J2M9XWZ7V3C8B4N7",
		Amount: amount, RefundedAmount: ledger.Zero("USD"), Description: "rent", Status: "completed",
		Position: 42, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for b.Loop() {
		if r := jsonResponse(201, viewTransfer(t)); r.Status != 201 {
			b.Fatal(r.Status)
		}
	}
}
