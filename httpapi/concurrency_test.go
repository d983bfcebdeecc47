package httpapi

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/tallyledger/tally/ledger"
)

// 32 writers appending at once leave gap-free positions and an intact chain.
func TestConcurrentWritersKeepTheChain(t *testing.T) {
	h := newHarness(t)
	const writers, each = 32, 5
	var wg sync.WaitGroup
	errs := make(chan string, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := h.do("POST", "/v1/accounts", map[string]any{"owner": fmt.Sprint("w", w), "currency": "NGN"}, "Idempotency-Key", fmt.Sprint("open-", w, "-", i))
				if r.status != 201 {
					errs <- fmt.Sprintf("%d %s", r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	events := h.checkJournal("main")
	if len(events) != writers*each {
		t.Fatalf("%d events, want %d", len(events), writers*each)
	}
}

// Random concurrent transfers, every one touching one hot account, never
// take a wallet below zero, and every event's postings sum to zero.
func TestRandomConcurrentTransfersWithAHotAccount(t *testing.T) {
	h := newHarness(t)
	hot := h.open("hot", "USD")
	h.fund(hot, "50", "USD")
	var wallets []string
	for i := range 8 {
		w := h.open(fmt.Sprint("u", i), "USD")
		h.fund(w, "20", "USD")
		wallets = append(wallets, w)
	}
	const clients, each = 16, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for i := range each {
				other := wallets[rng.IntN(len(wallets))]
				from, to := hot, other
				if rng.IntN(2) == 0 {
					from, to = other, hot
				}
				amount := fmt.Sprintf("%d.%02d", rng.IntN(9), rng.IntN(100))
				if amount == "0.00" {
					amount = "0.01"
				}
				r := h.do("POST", "/v1/transfers", map[string]any{"from": from, "to": to, "amount": amount, "currency": "USD"},
					"Idempotency-Key", fmt.Sprint("c", c, "-", i))
				code := fmt.Sprint(r.status)
				if r.status != 201 {
					code = r.str(t, "code")
				}
				mu.Lock()
				outcomes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for code, n := range outcomes {
		if code != "201" && code != "insufficient_funds" {
			t.Fatalf("unexpected outcome %s ×%d", code, n)
		}
	}
	if outcomes["201"] == 0 {
		t.Fatalf("no transfer succeeded: %v", outcomes)
	}
	h.checkJournal("main")
	// Money is conserved: wallets hold exactly what the adjustments put in.
	total := ledger.Zero("USD")
	for _, w := range append(wallets, hot) {
		total = total.Add(ledger.MustMoney(h.balance(w), "USD"))
	}
	if total.String() != "210.00" {
		t.Fatalf("wallets hold %s in all, want 210.00", total)
	}
	t.Logf("outcomes: %v", outcomes)
}
