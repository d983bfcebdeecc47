package pgjournal_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// group is a group of transfers of amount from a to b, one per key.
func group(a, b, amount string, atomic bool, keys ...string) pgjournal.Request {
	var items []pgjournal.Request
	for _, k := range keys {
		items = append(items, pgjournal.Request{
			Command:     ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: a, To: b, Amount: ledger.MustMoney(amount, "NGN")},
			Idempotency: &pgjournal.Idempotency{Scope: "test", Key: k, Fingerprint: "fp-" + k},
			Render:      outcome,
		})
	}
	return pgjournal.Request{Items: items, Atomic: atomic, Render: func(o pgjournal.Outcome) pgjournal.Response {
		var codes []string
		for _, it := range o.Items {
			codes = append(codes, string(it.Response.Body))
		}
		body, _ := json.Marshal(map[string]any{"items": codes, "failed": o.Failed, "events": len(o.Events)})
		return pgjournal.Response{Status: 200, Body: body}
	}}
}

type groupAnswer struct {
	Items  []string
	Failed int
	Events int
}

func (f *fixture) submitGroup(t *testing.T, req pgjournal.Request) groupAnswer {
	t.Helper()
	r, err := f.journal.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var a groupAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("%s: %v", r.Body, err)
	}
	return a
}

func TestGroups(t *testing.T) {
	f := newFixture(t)
	a, b := f.open(t, "NGN"), f.open(t, "NGN")
	f.credit(t, a, "10", "NGN")
	t.Run("items are decided in order, each against what the earlier left", func(t *testing.T) {
		got := f.submitGroup(t, group(a, b, "4", false, "g1", "g2", "g3"))
		if len(got.Items) != 3 || got.Items[0] != "ok" || got.Items[1] != "ok" || got.Items[2] != string(ledger.EInsufficientFunds) || got.Events != 2 {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("an atomic group with a refused item keeps nothing and stops there", func(t *testing.T) {
		f.credit(t, a, "2", "NGN") // a holds 4.00
		before, _ := f.store.EventCount(context.Background())
		got := f.submitGroup(t, group(a, b, "1", true, "h1", "h2", "h3"))
		if got.Failed != -1 || got.Events != 3 {
			t.Fatalf("a covered atomic group: %+v", got)
		}
		got = f.submitGroup(t, group(a, b, "0.50", true, "i1", "i2", "i3", "i4"))
		if got.Failed != 2 || len(got.Items) != 4 || got.Items[3] != "" || got.Events != 0 {
			t.Fatalf("a short atomic group: %+v", got)
		}
		after, _ := f.store.EventCount(context.Background())
		if after != before+3 {
			t.Fatalf("%d events appended, want 3", after-before)
		}
		// Its keys were not used: the same items decide again.
		got = f.submitGroup(t, group(a, b, "0.50", false, "i1", "i2"))
		if got.Items[0] != "ok" || got.Items[1] != "ok" {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("a key used before answers its item from its record", func(t *testing.T) {
		f.credit(t, a, "10", "NGN")
		got := f.submitGroup(t, group(a, b, "1", false, "g1", "j1"))
		if got.Items[0] != "ok" || got.Items[1] != "ok" || got.Events != 1 {
			t.Fatalf("%+v", got)
		}
	})
}

// Groups count as their items against MaxBatch: many queued batches of
// batches do not make one enormous transaction.
func TestGroupsCountTheirItemsAgainstMaxBatch(t *testing.T) {
	f := newFixture(t)
	a, b := f.open(t, "NGN"), f.open(t, "NGN")
	f.credit(t, a, "1000", "NGN")
	release := holdBook(t, f.pool, ledger.DefaultBook)
	var wg sync.WaitGroup
	for g := range 6 {
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = ledger.NewID("k")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := f.submitGroup(t, group(a, b, "1", false, keys...)); got.Events != 100 {
				t.Errorf("group %d: %+v", g, got)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	release()
	wg.Wait()
	if st := f.journal.Stats(); st.Largest > 3 {
		t.Fatalf("one transaction took %d groups of 100 (MaxBatch 256)", st.Largest)
	}
}
