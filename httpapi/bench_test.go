package httpapi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTransfers drives random transfers between 100 funded wallets over
// real HTTP with 32 concurrent clients, through the sequencer's group commit.
// The test database runs with fsync off, so this measures Tally's own
// overhead, not the disk; see docs/benchmarks.md.
func BenchmarkTransfers(b *testing.B) {
	h := newBenchHarness(b)
	var wallets []string
	for i := range 100 {
		w := h.open(fmt.Sprint("bench", i), "USD")
		h.fund(w, "1000000", "USD")
		wallets = append(wallets, w)
	}
	var seq atomic.Int64
	b.SetParallelism(16) // 2 × GOMAXPROCS × 16 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(seq.Add(1)), 1))
		client := &http.Client{}
		for pb.Next() {
			i, j := rng.IntN(len(wallets)), rng.IntN(len(wallets)-1)
			if j >= i {
				j++
			}
			body := fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1.00","currency":"USD"}`, wallets[i], wallets[j])
			req, _ := http.NewRequest("POST", h.srv.URL+"/v1/transfers", bytes.NewBufferString(body))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprint("bench-", seq.Add(1)))
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transfers/s")
	st := h.api.journal.Stats()
	if st.Batches > 0 {
		b.ReportMetric(float64(st.Commands)/float64(st.Batches), "commands/batch")
	}
}
