package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal/journaltest"
)

const e2ePaystackSecret = "sk_test_e2e_paystack"

// fakePaystack answers Paystack's initialize call, a little slowly, so that
// some kills land between a deposit's two recorded steps.
func fakePaystack(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Reference string `json:"reference"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/transaction/initialize" {
			http.Error(w, `{"status":false,"message":"not found"}`, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"status":true,"message":"Authorization URL created","data":{"authorization_url":"https://checkout.paystack.com/%[1]s","access_code":"%[1]s","reference":%[1]q}}`, req.Reference)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func paystackSignature(body []byte) string {
	m := hmac.New(sha512.New, []byte(e2ePaystackSecret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// crashDeposit is a deposit opened before the load, which webhook clients pay.
type crashDeposit struct {
	id, reference, wallet string
	minor                 int64 // amount in kobo
	paid                  atomic.Bool
}

// chargeSuccess is Paystack's charge.success for the deposit. attempt 0 is
// the canonical delivery (the same bytes every time, so the same event id);
// other attempts differ in the transaction id, as a second success event of
// the same payment would, and must credit nothing more. Transaction ids are
// unique per deposit, as Paystack's are.
func (d *crashDeposit) chargeSuccess(attempt int) []byte {
	sum := sha256.Sum256([]byte(d.reference))
	id := binary.BigEndian.Uint32(sum[:]) % 1_000_000 * 10_000
	b, _ := json.Marshal(map[string]any{"event": "charge.success", "data": map[string]any{
		"id": 4_000_000_000_000 + uint64(id) + uint64(attempt), "domain": "test", "status": "success", "reference": d.reference,
		"amount": d.minor, "currency": "NGN", "paid_at": "2026-11-22T10:00:00.000Z", "channel": "card",
	}})
	return b
}

// request is one request of the load and what became of it. status 0 means
// the answer was lost (the server was killed): the outcome is unknown until
// a retry settles it.
type request struct {
	kind    string // "transfer", "hold", "batch", "webhook" or "deposit"
	key     string
	path    string
	body    []byte
	headers []string

	status   int
	response []byte
	verified bool // acknowledged and re-checked after a restart

	from, to string // transfers
	minor    int64  // transfers and deposits: amount in kobo
	wallet   string // deposits
	deposit  *crashDeposit
	items    []*request // a batch's transfers, with their own keys
}

// TestCrashUnderLoad SIGKILLs the server in the middle of a 16-client load
// of transfers, holds, batches of transfers, webhook deliveries (with duplicates and second success
// events) and deposits, three times, and restarts it on the same data
// directory each time. Then: every request that got an answer keeps it
// (retries replay the same bytes), every request whose answer was lost is
// settled by a retry exactly once, nothing is applied twice, the journal's
// invariants hold, the projections match the journal, and each wallet holds
// exactly what the acknowledged requests moved.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the tally binary and kills it under load; skipped with -short")
	}
	paystack := fakePaystack(t)
	p := newTallyProcess(t, "TALLY_PAYSTACK_SECRET_KEY="+e2ePaystackSecret, "TALLY_PAYSTACK_BASE_URL="+paystack.URL,
		"TALLY_IDEMPOTENCY_LEASE=2s")
	took := p.start()
	t.Logf("first start (initdb, migrations) took %v", took.Round(time.Millisecond))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

	// Eight wallets, funded, and sixty deposits waiting for their webhook.
	const funded = 1_000_000_00
	var wallets []string
	for i := range 8 {
		r := call(client, p.base, "POST", "/v1/accounts", []byte(fmt.Sprintf(`{"owner":"crash-%d","currency":"NGN"}`, i)))
		var a struct{ ID string }
		if r.status != 201 || json.Unmarshal(r.body, &a) != nil {
			t.Fatalf("open: %d %s", r.status, r.body)
		}
		wallets = append(wallets, a.ID)
		r = call(client, p.base, "POST", "/v1/adjustments", []byte(fmt.Sprintf(`{"account":%q,"direction":"credit","amount":"1000000.00","currency":"NGN","reason":"float"}`, a.ID)),
			"Idempotency-Key", "fund-"+a.ID)
		if r.status != 201 {
			t.Fatalf("fund: %d %s", r.status, r.body)
		}
	}
	var deposits []*crashDeposit
	for i := range 60 {
		d := &crashDeposit{wallet: wallets[i%len(wallets)], minor: int64(100_00 + i*100)}
		r := call(client, p.base, "POST", "/v1/deposits", []byte(fmt.Sprintf(`{"account":%q,"amount":"%d.00","currency":"NGN","gateway":"paystack","email":"p@example.com"}`, d.wallet, d.minor/100)),
			"Idempotency-Key", fmt.Sprint("setup-dep-", i))
		var v struct{ ID, Reference string }
		if r.status != 201 || json.Unmarshal(r.body, &v) != nil {
			t.Fatalf("deposit: %d %s", r.status, r.body)
		}
		d.id, d.reference = v.ID, v.Reference
		deposits = append(deposits, d)
	}

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var all []*request
	var depositSeq atomic.Int64
	kills := []struct {
		name         string
		withDatabase bool
	}{
		{"tally killed; PostgreSQL shuts down on its parent-death signal", false},
		{"tally and PostgreSQL killed together; PostgreSQL recovers from its WAL", true},
		{"tally killed again", false},
	}
	for cycle, kill := range kills {
		loadFor := time.Duration(400+rng.IntN(800)) * time.Millisecond
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range 16 {
			crng := rand.New(rand.NewPCG(uint64(seed), uint64(cycle*100+c+1)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var q *request
					switch {
					case c == 8:
						q = holdRequest(crng, wallets, fmt.Sprintf("hold-%d-%d-%d", cycle, c, i))
					case c == 9:
						q = batchRequest(crng, wallets, fmt.Sprintf("batch-%d-%d-%d", cycle, c, i))
					case c < 10:
						q = transferRequest(crng, wallets, fmt.Sprintf("tr-%d-%d-%d", cycle, c, i))
					case c < 14:
						q = webhookRequest(crng, deposits)
					default:
						q = depositRequest(crng, wallets, fmt.Sprintf("dep-%d-%d-%d", cycle, c, i), depositSeq.Add(1))
					}
					r := call(client, p.base, "POST", q.path, q.body, q.headers...)
					q.status, q.response = r.status, r.body
					mu.Lock()
					all = append(all, q)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(loadFor)
		p.kill(kill.withDatabase)
		close(stop)
		wg.Wait()

		restart := p.start()
		if kill.withDatabase && !p.databaseRecovered() {
			t.Fatal("PostgreSQL's log shows no crash recovery: the database was not really killed")
		}
		midway := p.inProgress()
		lost := 0
		for _, q := range all {
			if q.status == 0 || q.status == http.StatusServiceUnavailable {
				lost++
			}
		}
		t.Logf("kill %d (%s) after %v of load: %d requests so far, %d answers lost, %d requests caught between their two steps; back in %v",
			cycle+1, kill.name, loadFor.Round(time.Millisecond), len(all), lost, midway, restart.Round(time.Millisecond))
		settle(t, client, p.base, all)
		checkAfterCrash(t, p, client, all, deposits, wallets, funded)
	}
	if t.Failed() {
		return
	}
	// The load must have made holds and batches, or their checks proved nothing.
	made := map[string]int{}
	for _, q := range all {
		if q.status == http.StatusCreated || q.kind == "batch" && q.status == http.StatusOK {
			made[q.kind]++
		}
	}
	if made["hold"] == 0 || made["batch"] == 0 {
		t.Errorf("the load made %d holds and %d batches", made["hold"], made["batch"])
	}
	// One clean stop at the end, as an operator would: it must be clean.
	p.stop()
	t.Logf("%d requests in all; %d kills", len(all), len(kills))
}

func transferRequest(rng *rand.Rand, wallets []string, key string) *request {
	from := rng.IntN(len(wallets))
	to := (from + 1 + rng.IntN(len(wallets)-1)) % len(wallets)
	minor := int64(1 + rng.IntN(50_00))
	if rng.IntN(10) == 0 {
		minor = 5_000_000_00 // more than any wallet holds: refused, and the refusal is kept
	}
	q := &request{kind: "transfer", key: key, path: "/v1/transfers", from: wallets[from], to: wallets[to], minor: minor}
	q.body = []byte(fmt.Sprintf(`{"from":%q,"to":%q,"amount":"%d.%02d","currency":"NGN","metadata":{"key":%q}}`, q.from, q.to, minor/100, minor%100, key))
	q.headers = []string{"Idempotency-Key", key}
	return q
}

// holdRequest reserves money like a transfer; the hold stays pending.
func holdRequest(rng *rand.Rand, wallets []string, key string) *request {
	q := transferRequest(rng, wallets, key)
	q.kind, q.path = "hold", "/v1/holds"
	return q
}

// batchRequest is a non-atomic batch of five transfers, each with its own
// key (the batch's key with its index).
func batchRequest(rng *rand.Rand, wallets []string, key string) *request {
	q := &request{kind: "batch", key: key, path: "/v1/batch", headers: []string{"Idempotency-Key", key}}
	var items []string
	for i := range 5 {
		it := transferRequest(rng, wallets, fmt.Sprintf("%s-%d", key, i))
		q.items = append(q.items, it)
		items = append(items, fmt.Sprintf(`{"type":"transfer","idempotency_key":%q,"body":%s}`, it.key, it.body))
	}
	q.body = []byte(`{"items":[` + strings.Join(items, ",") + `]}`)
	return q
}

func webhookRequest(rng *rand.Rand, deposits []*crashDeposit) *request {
	d := deposits[rng.IntN(len(deposits))]
	attempt := 0
	if rng.IntN(4) == 0 {
		attempt = 1 + rng.IntN(1000)
	}
	body := d.chargeSuccess(attempt)
	return &request{kind: "webhook", path: "/v1/webhooks/paystack", body: body, deposit: d,
		headers: []string{"Authorization", "", "x-paystack-signature", paystackSignature(body)}}
}

func depositRequest(rng *rand.Rand, wallets []string, key string, seq int64) *request {
	// A unique amount per request identifies its deposit in the journal.
	q := &request{kind: "deposit", key: key, path: "/v1/deposits", wallet: wallets[rng.IntN(len(wallets))], minor: (50_000 + seq) * 100}
	q.body = []byte(fmt.Sprintf(`{"account":%q,"amount":"%d.00","currency":"NGN","gateway":"paystack","email":"p@example.com"}`, q.wallet, q.minor/100))
	q.headers = []string{"Idempotency-Key", key}
	return q
}

// settle retries every request whose answer was lost, as a client (or a
// gateway redelivering a webhook) would, with the same Idempotency-Key and
// body, and checks that every answered request's answer is kept: a retry
// gets the same status and bytes, marked Idempotent-Replayed.
func settle(t *testing.T, client *http.Client, base string, all []*request) {
	t.Helper()
	work := make(chan *request)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				settleOne(t, client, base, q)
			}
		}()
	}
	for _, q := range all {
		if !q.verified {
			work <- q
		}
	}
	close(work)
	wg.Wait()
}

func settleOne(t *testing.T, client *http.Client, base string, q *request) {
	answered := q.status != 0 && q.status != http.StatusServiceUnavailable
	r := call(client, base, "POST", q.path, q.body, q.headers...)
	// A two-step request caught by a kill keeps its Idempotency-Key leased
	// to the dead process for a while: 409 until the lease runs out, then
	// the retry resumes it.
	for deadline := time.Now().Add(30 * time.Second); r.status == http.StatusConflict && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		r = call(client, base, "POST", q.path, q.body, q.headers...)
	}
	if r.status == 0 {
		t.Errorf("%s %s: no answer from the restarted server", q.kind, q.key)
		return
	}
	if q.kind == "webhook" {
		// Webhooks are answered 200 for anything verified, duplicates included.
		if r.status != http.StatusOK {
			t.Errorf("webhook for %s redelivered: %d %s", q.deposit.id, r.status, r.body)
			return
		}
		if answered && q.status != http.StatusOK {
			t.Errorf("webhook for %s was answered %d %s", q.deposit.id, q.status, q.response)
			return
		}
		q.deposit.paid.Store(true)
		q.status, q.verified = http.StatusOK, true
		return
	}
	if answered {
		if r.status != q.status || !bytes.Equal(r.body, q.response) || r.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s %s answered %d %s before the crash, %d %s (replayed=%q) after",
				q.kind, q.key, q.status, q.response, r.status, r.body, r.header.Get("Idempotent-Replayed"))
			return
		}
	} else {
		q.status, q.response = r.status, r.body
	}
	switch {
	case q.kind == "batch" && q.status == http.StatusOK:
	case (q.kind == "transfer" || q.kind == "hold") && (q.status == http.StatusCreated || (q.status == http.StatusUnprocessableEntity && bytes.Contains(q.response, []byte(`"insufficient_funds"`)))):
	case q.kind == "deposit" && q.status == http.StatusCreated:
	default:
		t.Errorf("%s %s settled as %d %s", q.kind, q.key, q.status, q.response)
		return
	}
	q.verified = true
}

// checkAfterCrash checks the journal and projections against the settled
// requests.
func checkAfterCrash(t *testing.T, p *tallyProcess, client *http.Client, all []*request, deposits []*crashDeposit, wallets []string, funded int64) {
	t.Helper()
	if t.Failed() {
		t.FailNow()
	}
	pool := p.pool()
	defer pool.Close()
	ctx := context.Background()
	events := journaltest.Check(t, pool, ledger.DefaultBook)

	// Each transfer and hold request (a batch's items too) was applied
	// exactly as often as its answer says.
	applied := map[string][]string{} // Idempotency-Key → transfer or hold ids in the journal
	for _, e := range events {
		switch e.Type {
		case ledger.TransferCompleted:
			var d ledger.TransferCompletedData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			applied[d.Metadata["key"]] = append(applied[d.Metadata["key"]], d.TransferID)
		case ledger.HoldCreated:
			var d ledger.HoldData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			applied[d.Metadata["key"]] = append(applied[d.Metadata["key"]], d.HoldID)
		}
	}
	var flat []*request
	for _, q := range all {
		if q.kind != "batch" || q.status != http.StatusOK {
			flat = append(flat, q)
			continue
		}
		var v struct {
			Results []struct {
				Status int
				Body   json.RawMessage
			}
		}
		if err := json.Unmarshal(q.response, &v); err != nil || len(v.Results) != len(q.items) {
			t.Fatalf("batch %s answered %s", q.key, q.response)
		}
		for i, it := range q.items {
			it.status, it.response = v.Results[i].Status, v.Results[i].Body
			flat = append(flat, it)
		}
	}
	want := map[string]int64{}
	for _, w := range wallets {
		want[w] = funded
	}
	acknowledged := map[string]bool{}
	for _, q := range flat {
		switch q.kind {
		case "transfer", "hold":
			ids := applied[q.key]
			if q.status != http.StatusCreated {
				if len(ids) != 0 {
					t.Errorf("%s %s was refused but is in the journal %d times", q.kind, q.key, len(ids))
				}
				continue
			}
			acknowledged[q.key] = true
			var v struct{ ID string }
			if err := json.Unmarshal(q.response, &v); err != nil || len(ids) != 1 || ids[0] != v.ID {
				t.Errorf("%s %s answered %s; the journal has %v", q.kind, q.key, v.ID, ids)
				continue
			}
			// A pending hold has left its sender's balance (for held) and
			// not reached its recipient yet.
			want[q.from] -= q.minor
			if q.kind == "transfer" {
				want[q.to] += q.minor
			}
		case "deposit":
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM deposits WHERE account_id = $1 AND amount = $2`, q.wallet, fmt.Sprintf("%d.%02d", q.minor/100, q.minor%100)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("deposit request %s opened %d deposits, want 1", q.key, n)
			}
		}
	}
	for key := range applied {
		if !acknowledged[key] {
			t.Errorf("the journal holds transfer %s, which no acknowledged request made", key)
		}
	}
	// Every deposit a webhook paid is credited (once: journaltest.Check).
	for _, d := range deposits {
		r := call(client, p.base, "GET", "/v1/deposits/"+d.id, nil)
		var v struct{ Status string }
		if r.status != 200 || json.Unmarshal(r.body, &v) != nil {
			t.Fatalf("deposit %s: %d %s", d.id, r.status, r.body)
		}
		switch {
		case d.paid.Load() && v.Status != "succeeded":
			t.Errorf("deposit %s was paid (webhook answered 200) but is %s", d.id, v.Status)
		case !d.paid.Load() && v.Status != "pending":
			t.Errorf("deposit %s was never paid but is %s", d.id, v.Status)
		case d.paid.Load():
			want[d.wallet] += d.minor
		}
	}
	// Each wallet holds exactly what the acknowledged requests moved.
	for _, w := range wallets {
		r := call(client, p.base, "GET", "/v1/accounts/"+w+"/balance", nil)
		var v struct{ Balance string }
		if r.status != 200 || json.Unmarshal(r.body, &v) != nil {
			t.Fatalf("balance %s: %d %s", w, r.status, r.body)
		}
		if exp := fmt.Sprintf("%d.%02d", want[w]/100, want[w]%100); v.Balance != exp {
			t.Errorf("wallet %s holds %s; the acknowledged requests make it %s", w, v.Balance, exp)
		}
	}
	// No request was left half-done: every two-step request finished.
	var inProgress int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys WHERE status = 0`).Scan(&inProgress); err != nil {
		t.Fatal(err)
	}
	if inProgress != 0 {
		t.Errorf("%d idempotency records are still in progress after every request was settled", inProgress)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// inProgress counts the idempotency records of two-step requests (deposits)
// that a kill caught between their steps.
func (p *tallyProcess) inProgress() int {
	p.t.Helper()
	pool := p.pool()
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys WHERE status = 0`).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

// databaseRecovered reports whether PostgreSQL's log shows a crash recovery
// (its last start found the cluster not properly shut down).
func (p *tallyProcess) databaseRecovered() bool {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "postgres.log"))
	if err != nil {
		p.t.Fatal(err)
	}
	last := b[bytes.LastIndex(b, []byte("starting PostgreSQL"))+1:]
	return bytes.Contains(last, []byte("was not properly shut down")) || bytes.Contains(last, []byte("was interrupted"))
}
