package pgjournal_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// TestRetriesAreAnsweredOptimistically: a retried request (a client's after
// a timeout, a gateway's redelivery) is answered from its record without
// failing the optimistic batch it lands in, when this process appended the
// original; when another process did, the batch is refused and the retry
// is answered carefully, from the stored record, and the batches after
// that read their unknown keys first. Either way one transfer per key.
func TestRetriesAreAnsweredOptimistically(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.open(t, "NGN"), f.open(t, "NGN")
	f.credit(t, a, "10", "NGN")
	submit := func(j *pgjournal.Journal, key, fingerprint string) (pgjournal.Response, error) {
		return j.Submit(ctx, pgjournal.Request{
			Command:     ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney("1", "NGN")},
			Idempotency: &pgjournal.Idempotency{Scope: "key:admin", Key: key, Fingerprint: fingerprint},
			Render: func(o pgjournal.Outcome) pgjournal.Response {
				body, _ := json.Marshal(map[string]any{"position": o.Events[0].Position})
				return pgjournal.Response{Status: 201, ContentType: "application/json", Body: body}
			},
		})
	}
	first, err := submit(f.journal, "k1", "fp")
	if err != nil {
		t.Fatal(err)
	}
	before := f.journal.Stats()
	again, err := submit(f.journal, "k1", "fp")
	if err != nil || !again.Replayed || string(again.Body) != string(first.Body) {
		t.Fatalf("retry = %+v %v", again, err)
	}
	if _, err := submit(f.journal, "k1", "another body"); ledger.ErrorCode(err) != ledger.EIdempotencyKeyReused {
		t.Fatalf("the key with another body: %v", err)
	}
	if after := f.journal.Stats(); after.Optimistic != before.Optimistic+2 || after.Refused != before.Refused {
		t.Fatalf("the retries were not answered in optimistic batches: before %+v, after %+v", before, after)
	}

	// Another process, whose cache has no record of k2 and k4, appended
	// them and then stopped (it crashed, say), and their retries come here.
	other := newJournal(f.pool)
	defer other.Close()
	for _, key := range []string{"k2", "k4"} {
		if _, err := submit(other, key, "fp"); err != nil {
			t.Fatal(err)
		}
	}
	firstK2, err := submit(f.journal, "k3", "fp") // warm this process's cache past the other's append
	if err != nil || firstK2.Replayed {
		t.Fatalf("k3: %+v %v", firstK2, err)
	}
	retried, err := submit(f.journal, "k2", "fp")
	if err != nil || !retried.Replayed {
		t.Fatalf("a retry of the other process's request = %+v %v", retried, err)
	}

	// That refusal has the next batches read their unknown keys first: the
	// next retry of the other process's requests is answered optimistically.
	before = f.journal.Stats()
	retried, err = submit(f.journal, "k4", "fp")
	if err != nil || !retried.Replayed {
		t.Fatalf("the next retry of the other process's request = %+v %v", retried, err)
	}
	if after := f.journal.Stats(); after.Optimistic != before.Optimistic+1 || after.Refused != before.Refused {
		t.Fatalf("the retry after a refused key was not answered optimistically: before %+v, after %+v", before, after)
	}
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM transfers`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d transfers, want 4 (k1, k2, k3, k4) (%v)", n, err)
	}
}
