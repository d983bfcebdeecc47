package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tallyledger/tally/ledger/pgjournal/journaltest"
	"github.com/tallyledger/tally/projections/sinks"
	"github.com/tallyledger/tally/schema/testdb"
)

// booksOverWorkers picks 8 book names, 4 on each of the cluster's two
// workers (by the shard their name hashes to).
func booksOverWorkers(t *testing.T, pool *pgxpool.Pool) (books []string, workerOf map[string]int) {
	t.Helper()
	workerOf = map[string]int{}
	perWorker := map[int]int{}
	for i := 0; len(books) < 8 && i < 1000; i++ {
		name := fmt.Sprintf("book%d", i)
		var port int
		if err := pool.QueryRow(context.Background(), `SELECT nodeport FROM citus_shards
			WHERE shardid = get_shard_id_for_distribution_column('events', $1::text)`, name).Scan(&port); err != nil {
			t.Fatal(err)
		}
		if perWorker[port] < 4 {
			perWorker[port]++
			books = append(books, name)
			workerOf[name] = port
		}
	}
	if len(perWorker) != 2 || len(books) != 8 {
		t.Fatalf("books over workers: %v", perWorker)
	}
	return books, workerOf
}

// Two Tally processes share one Citus coordinator; 8 books live on two
// workers, 4 each. Clients send concurrent transfers in every book to both
// processes, one process is SIGKILLed mid-load and started again, and every
// request whose answer was lost is retried with its key. Then each book's
// journal is gap-free with a valid chain, its projections equal its
// replay, every answer a client got stands, and verify passes per book.
func TestCitusBooksOnTwoWorkersTwoProcessesAndAKill(t *testing.T) {
	db := testdb.NewCitus(t)
	pool, err := pgxpool.New(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	books, _ := booksOverWorkers(t, pool)
	env := []string{"TALLY_DATABASE_URL=" + db.URL, "TALLY_CITUS=true", "TALLY_SANDBOX=false"}
	a, b := newTallyProcess(t, env...), newTallyProcess(t, env...)
	a.start()
	b.start()
	client := &http.Client{Timeout: 30 * time.Second}

	wallets := map[string][]string{}
	for _, book := range books {
		for i := range 3 {
			r := call(client, a.base, "POST", "/v1/accounts", []byte(fmt.Sprintf(`{"owner":"o%d","currency":"NGN","book":%q}`, i, book)))
			if r.status != http.StatusCreated {
				t.Fatalf("open a wallet in %s: %d %s", book, r.status, r.body)
			}
			var acc struct{ ID string }
			json.Unmarshal(r.body, &acc)
			wallets[book] = append(wallets[book], acc.ID)
			r = call(client, b.base, "POST", "/v1/adjustments", []byte(fmt.Sprintf(`{"account":%q,"direction":"credit","amount":"1000.00","currency":"NGN","reason":"float"}`, acc.ID)),
				"Idempotency-Key", fmt.Sprintf("fund-%s-%d", book, i))
			if r.status != http.StatusCreated {
				t.Fatalf("fund: %d %s", r.status, r.body)
			}
		}
	}

	var (
		mu  sync.Mutex
		all []*request
		seq atomic.Int64
	)
	load := func(d time.Duration) {
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for c := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(c), uint64(seq.Load())))
				for time.Now().Before(deadline) {
					book := books[rng.IntN(len(books))]
					q := transferRequest(rng, wallets[book], fmt.Sprintf("citus-%d", seq.Add(1)))
					base := a.base
					if rng.IntN(2) == 0 {
						base = b.base
					}
					r := call(client, base, "POST", q.path, q.body, q.headers...)
					q.status, q.response = r.status, r.body
					mu.Lock()
					all = append(all, q)
					mu.Unlock()
					if r.status == 0 {
						time.Sleep(20 * time.Millisecond) // the process is down
					}
				}
			}()
		}
		wg.Wait()
	}
	load(2 * time.Second)
	done := make(chan struct{})
	go func() { load(3 * time.Second); close(done) }()
	time.Sleep(time.Second)
	for _, p := range []*tallyProcess{a, b} {
		select {
		case <-p.exited:
			t.Fatalf("a process exited under load:\n%s", p.logTail())
		default:
		}
	}
	b.kill(false)
	b.start()
	<-done

	settle(t, client, a.base, all)
	if t.Failed() {
		t.Fatalf("process a:\n%s\nprocess b:\n%s", a.logTail(), b.logTail())
	}
	acknowledged := 0
	for _, q := range all {
		if q.status == http.StatusCreated {
			acknowledged++
		}
	}
	if acknowledged < 8 {
		t.Fatalf("only %d transfers went through", acknowledged)
	}
	// Holds and multi-leg transactions are single-book appends too: a hold
	// captured in part, a transaction reversed, in each book.
	for _, book := range books {
		w := wallets[book]
		post := func(path, body string, want int) map[string]any {
			t.Helper()
			r := call(client, a.base, "POST", path, []byte(body), "Idempotency-Key", fmt.Sprintf("citus-hold-%d", seq.Add(1)))
			var out map[string]any
			if err := json.Unmarshal(r.body, &out); err != nil || r.status != want {
				t.Fatalf("POST %s in %s: %d %s", path, book, r.status, r.body)
			}
			return out
		}
		hold := post("/v1/holds", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"2.00","currency":"NGN"}`, w[0], w[1]), http.StatusCreated)
		if got := post("/v1/holds/"+hold["id"].(string)+"/capture", `{"amount":"1.00"}`, http.StatusOK); got["status"] != "captured" {
			t.Fatalf("capture in %s: %v", book, got)
		}
		txn := post("/v1/transactions", fmt.Sprintf(`{"legs":[{"from":%q,"to":%q,"amount":"1.00","currency":"NGN"},{"from":%q,"to":%q,"amount":"0.50","currency":"NGN"}]}`, w[1], w[2], w[2], w[0]), http.StatusCreated)
		post("/v1/transactions/"+txn["id"].(string)+"/reverse", `{}`, http.StatusCreated)
		// Every read, through the other process: lookups by id alone (each
		// book's primary key probed), balances as of a time (its position
		// searched for by position), lists and the audit.
		tr := post("/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"0.25","currency":"NGN"}`, w[0], w[1]), http.StatusCreated)
		acknowledged++
		at := url.QueryEscape(time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano))
		for _, path := range []string{
			"/v1/accounts/" + w[0], "/v1/accounts/" + w[0] + "/balance", "/v1/accounts/" + w[0] + "/balance?at=" + at,
			"/v1/accounts/" + w[0] + "/balance?position=3", "/v1/accounts/" + w[0] + "/entries", "/v1/accounts?currency=NGN",
			"/v1/transfers/" + tr["id"].(string), "/v1/transfers?account=" + w[0], "/v1/transfers",
			"/v1/holds/" + hold["id"].(string), "/v1/holds?account=" + w[0],
			"/v1/transactions/" + txn["id"].(string), "/v1/transactions?account=" + w[1],
			"/v1/events?book=" + book, "/v1/events?book=" + book + "&account=" + w[0] + "&type=transfer.completed",
			"/v1/deposits", "/v1/refunds", "/v1/withdrawals", "/v1/adjustments/proposals",
			"/v1/audit/trial-balance?book=" + book, "/v1/audit/trial-balance?book=" + book + "&at=" + at,
		} {
			if r := call(client, b.base, "GET", path, nil); r.status != 200 {
				t.Errorf("GET %s: %d %s", path, r.status, r.body)
			}
		}
		for _, path := range []string{"/v1/transfers/tr_none", "/v1/deposits/dep_none", "/v1/refunds/rf_none", "/v1/holds/hold_none"} {
			if r := call(client, b.base, "GET", path, nil); r.status != 404 {
				t.Errorf("GET %s: %d %s", path, r.status, r.body)
			}
		}
		now := call(client, b.base, "GET", "/v1/accounts/"+w[0]+"/balance", nil)
		asOf := call(client, b.base, "GET", "/v1/accounts/"+w[0]+"/balance?at="+at, nil)
		var nowBalance, asOfBalance struct {
			Balance string `json:"balance"`
		}
		if json.Unmarshal(now.body, &nowBalance) != nil || json.Unmarshal(asOf.body, &asOfBalance) != nil ||
			nowBalance.Balance == "" || asOfBalance.Balance != nowBalance.Balance {
			t.Errorf("balance of %s now: %s; as of now: %s", w[0], now.body, asOf.body)
		}
		if t.Failed() {
			t.Fatalf("process b:\n%s", b.logTail())
		}
	}
	for _, book := range books {
		t.Run("book "+book+" is gap-free, chained, balanced and verified", func(t *testing.T) {
			events := journaltest.Check(t, pool, book)
			if len(events) < 6 {
				t.Fatalf("%d events", len(events))
			}
			r := call(client, b.base, "GET", "/v1/audit/verify?book="+book, nil)
			var rep struct {
				ChainOK           bool `json:"chain_ok"`
				Contiguous        bool `json:"contiguous"`
				Balanced          bool `json:"balanced"`
				RunningBalancesOK bool `json:"running_balances_ok"`
				Projections       []struct {
					Name string `json:"name"`
					OK   bool   `json:"ok"`
				} `json:"projections"`
			}
			if err := json.Unmarshal(r.body, &rep); err != nil || r.status != 200 {
				t.Fatalf("verify %s: %d %s\n%s", book, r.status, r.body, b.logTail())
			}
			if !rep.ChainOK || !rep.Contiguous || !rep.Balanced || !rep.RunningBalancesOK || len(rep.Projections) == 0 {
				t.Fatalf("verify %s: the journal fails its checks: %s", book, r.body)
			}
			for _, p := range rep.Projections {
				if !p.OK {
					t.Fatalf("verify %s: projection %s: %s", book, p.Name, r.body)
				}
			}
		})
	}
	// The audit commands read the cluster too: verify, replay by position
	// and by time, and export by time (a time is searched for by position).
	t.Run("the audit commands run on Citus", func(t *testing.T) {
		cli := []string{"TALLY_DATABASE_URL=" + db.URL, "TALLY_CITUS=true"}
		book, w := books[1], wallets[books[1]][0]
		hourAgo := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		for _, args := range [][]string{
			{"verify", "--book", book},
			{"replay", "--book", book, "--json"},
			{"replay", "--book", book, "--at", time.Now().UTC().Format(time.RFC3339Nano), "--account", w},
			{"replay", "--book", book, "--position", "3", "--account", w},
			{"export", "--book", book, "--format", "jsonl", "--from", hourAgo},
			{"export", "--book", book, "--format", "csv"},
		} {
			stdout, stderr, code := runCLI(t, t.TempDir(), cli, args...)
			if code != 0 || stdout == "" {
				t.Errorf("tally %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
			}
		}
		// Rebuild runs on Citus too. Behind the journal's back: a balance
		// changed, a transfer deleted, a wallet number (a reference table)
		// deleted, and an adjustment that never happened added. Rebuild
		// puts each right, and verify passes again in every book.
		for _, stmt := range []string{
			`UPDATE balances SET balance = balance + 7 WHERE book = $1 AND account_id = $2`,
			`DELETE FROM transfers WHERE id = (SELECT min(id) FROM transfers WHERE book = $1 AND from_account = $2) AND book = $1`,
			`DELETE FROM wallet_numbers WHERE book = $1 AND account_id = $2`,
			`INSERT INTO adjustments (id, book, account_id, direction, amount, currency, reason, position, created_at)
			 SELECT 'adj_forged', book, account_id, direction, amount, currency, reason, position, created_at
			 FROM adjustments WHERE book = $1 AND account_id = $2 LIMIT 1`,
		} {
			if tag, err := pool.Exec(context.Background(), stmt, book, w); err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("%s: %v (%d rows)", stmt, err, tag.RowsAffected())
			}
		}
		if stdout, stderr, code := runCLI(t, t.TempDir(), cli, "verify", "--book", book); code != 1 {
			t.Errorf("verify after tampering: exit %d\n%s\n%s", code, stdout, stderr)
		}
		stdout, stderr, code := runCLI(t, t.TempDir(), cli, "rebuild", "--json")
		var rep struct {
			Projections []struct {
				Tables []struct {
					Name             string
					Deleted, Written int64
				}
			}
		}
		type counts struct{ deleted, written int64 }
		fixed := map[string]counts{}
		if json.Unmarshal([]byte(stdout), &rep) == nil {
			for _, p := range rep.Projections {
				for _, tb := range p.Tables {
					if tb.Deleted > 0 || tb.Written > 0 {
						fixed[tb.Name] = counts{tb.Deleted, tb.Written}
					}
				}
			}
		}
		want := map[string]counts{"balances": {0, 1}, "transfers": {0, 1}, "wallet_numbers": {0, 1}, "adjustments": {1, 0}}
		if code != 0 || !maps.Equal(fixed, want) {
			t.Errorf("tally rebuild on Citus: exit %d, rows deleted and written %v, want %v\n%s\n%s", code, fixed, want, stdout, stderr)
		}
		for _, b := range books {
			if stdout, stderr, code := runCLI(t, t.TempDir(), cli, "verify", "--book", b); code != 0 {
				t.Errorf("verify %s after rebuild: exit %d\n%s\n%s", b, code, stdout, stderr)
			}
		}
	})
	// Verify is not blind on Citus: a balance changed behind the journal's
	// back is found.
	if _, err := pool.Exec(context.Background(), `UPDATE balances SET balance = balance + 1 WHERE book = $1 AND account_id = $2`, books[0], wallets[books[0]][0]); err != nil {
		t.Fatal(err)
	}
	r := call(client, a.base, "GET", "/v1/audit/verify?book="+books[0], nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"name":"balances","mode":"inline","ok":false`) {
		t.Fatalf("verify missed a tampered balance: %d %s", r.status, r.body)
	}
	if _, err := pool.Exec(context.Background(), `UPDATE balances SET balance = balance - 1 WHERE book = $1 AND account_id = $2`, books[0], wallets[books[0]][0]); err != nil {
		t.Fatal(err)
	}
	// Each acknowledged transfer is in its book's journal exactly once.
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != acknowledged {
		t.Fatalf("%d transfers in the projection, %d acknowledged", n, acknowledged)
	}
}

// Four-eyes adjustments and API keys on Citus: keys (a table of no book)
// are created and used, an adjustment is proposed by one admin key and
// approved by another, another rejected, an owner-bound key reads its
// owner's lists, and the book verifies.
func TestCitusProposalsAndKeys(t *testing.T) {
	db := testdb.NewCitus(t)
	p := newTallyProcess(t, "TALLY_DATABASE_URL="+db.URL, "TALLY_CITUS=true", "TALLY_SANDBOX=false", "TALLY_ADJUSTMENT_APPROVAL=required")
	p.start()
	client := &http.Client{Timeout: 30 * time.Second}
	do := caller(t, client, p)
	keyOf := func(name string) string {
		return do("POST", "/v1/keys", `{"name":"`+name+`","scopes":["admin"]}`, http.StatusCreated)["key"].(string)
	}
	alice, bob := keyOf("alice"), keyOf("bob")
	acc := do("POST", "/v1/accounts", `{"owner":"o1","currency":"NGN","book":"ledger1"}`, http.StatusCreated)["id"].(string)
	propose := func(key, amount, idem string) string {
		return do("POST", "/v1/adjustments", fmt.Sprintf(`{"account":%q,"direction":"credit","amount":%q,"currency":"NGN","reason":"float"}`, acc, amount),
			http.StatusAccepted, "Authorization", "Bearer "+key, "Idempotency-Key", idem)["id"].(string)
	}
	approved, rejected := propose(alice, "100.00", "p1"), propose(alice, "5.00", "p2")
	do("POST", "/v1/adjustments/proposals/"+approved+"/approve", "", http.StatusForbidden, "Authorization", "Bearer "+alice)
	do("POST", "/v1/adjustments/proposals/"+approved+"/approve", "", http.StatusOK, "Authorization", "Bearer "+bob)
	do("POST", "/v1/adjustments/proposals/"+rejected+"/reject", `{"reason":"not needed"}`, http.StatusOK, "Authorization", "Bearer "+bob)
	if got := do("GET", "/v1/accounts/"+acc+"/balance", "", http.StatusOK)["balance"]; got != "100.00" {
		t.Fatalf("balance after one approved and one rejected proposal: %v", got)
	}
	for id, status := range map[string]string{approved: "posted", rejected: "rejected"} {
		if got := do("GET", "/v1/adjustments/proposals/"+id, "", http.StatusOK)["status"]; got != status {
			t.Errorf("proposal %s: status %v, want %s", id, got, status)
		}
	}
	do("GET", "/v1/adjustments/proposals?status=posted", "", http.StatusOK)
	do("GET", "/v1/keys", "", http.StatusOK)
	// A key bound to an owner reads only its owner's rows: the lists filter
	// by owner through their accounts, on every shard.
	mine := do("POST", "/v1/keys", `{"name":"o1's app","owner":"o1","scopes":["accounts:read"]}`, http.StatusCreated)["key"].(string)
	for _, path := range []string{"/v1/accounts", "/v1/transfers", "/v1/deposits", "/v1/refunds", "/v1/holds", "/v1/transactions", "/v1/withdrawals"} {
		do("GET", path, "", http.StatusOK, "Authorization", "Bearer "+mine)
	}
	if r := call(client, p.base, "GET", "/v1/accounts", nil, "Authorization", "Bearer "+mine); !strings.Contains(string(r.body), acc) {
		t.Errorf("the owner's accounts lack %s: %s", acc, r.body)
	}
	if got := do("GET", "/v1/accounts/"+acc+"/balance", "", http.StatusOK, "Authorization", "Bearer "+mine)["balance"]; got != "100.00" {
		t.Errorf("the owner's balance: %v", got)
	}
	rep := do("GET", "/v1/audit/verify?book=ledger1", "", http.StatusOK)
	if rep["ok"] != true {
		t.Fatalf("verify: %v", rep)
	}
}

// The money paths beside plain transfers, on Citus. Through the sandbox
// gateway: a deposit (its first step writes its reference to
// deposit_references, a reference table; the gateway's signed webhook
// credits the wallet), its refund, and a withdrawal settled by the payout's
// webhook. Then batches (atomic or not), an overdraft limit, a freeze and
// an unfreeze, and a hold the expirer expires.
func TestCitusDepositsPayoutsAndBatches(t *testing.T) {
	db := testdb.NewCitus(t)
	p := newTallyProcess(t, "TALLY_DATABASE_URL="+db.URL, "TALLY_CITUS=true", "TALLY_SANDBOX=true", "TALLY_HOLD_EXPIRY_INTERVAL=200ms")
	p.start()
	client := &http.Client{Timeout: 30 * time.Second}
	do := caller(t, client, p)
	// until polls GET path until its field reads want, for up to within.
	until := func(path, field, want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got := do("GET", path, "", http.StatusOK)[field]
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %s %v, want %s\n%s", path, field, got, want, p.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	balance := func(acc, want string) {
		t.Helper()
		until("/v1/accounts/"+acc+"/balance", "balance", want, 10*time.Second)
	}
	acc := do("POST", "/v1/accounts", `{"owner":"o1","currency":"NGN","book":"ledger1"}`, http.StatusCreated)["id"].(string)
	dep := do("POST", "/v1/deposits", fmt.Sprintf(`{"account":%q,"amount":"100.00","currency":"NGN","gateway":"sandbox"}`, acc),
		http.StatusCreated, "Idempotency-Key", "dep-1")
	if r := call(client, p.base, "POST", "/sandbox/checkout/"+dep["reference"].(string)+"/pay", nil); r.status >= 400 {
		t.Fatalf("sandbox pay: %d %s", r.status, r.body)
	}
	balance(acc, "100.00")
	if got := do("GET", "/v1/deposits/"+dep["id"].(string), "", http.StatusOK)["status"]; got != "succeeded" {
		t.Fatalf("deposit status %v", got)
	}
	do("POST", "/v1/refunds", fmt.Sprintf(`{"deposit":%q,"amount":"40.00","reason":"customer asked"}`, dep["id"]), http.StatusCreated, "Idempotency-Key", "ref-1")
	balance(acc, "60.00")
	// A withdrawal: the sandbox pays out and reports the outcome by webhook
	// (a withdrawal's destination is looked up without its book).
	wd := do("POST", "/v1/withdrawals", fmt.Sprintf(`{"account":%q,"amount":"25.00","currency":"NGN","gateway":"sandbox",
		"destination":{"bank_code":"058","account_number":"0123456789","account_name":"Ada Obi"}}`, acc), http.StatusCreated, "Idempotency-Key", "wd-1")
	balance(acc, "35.00")
	until("/v1/withdrawals/"+wd["id"].(string), "status", "succeeded", 15*time.Second)
	// A batch of transfers (one atomic, one not, one item refused for want
	// of funds), an overdraft limit, and a freeze that refuses a transfer.
	other := do("POST", "/v1/accounts", `{"owner":"o2","currency":"NGN","book":"ledger1"}`, http.StatusCreated)["id"].(string)
	item := func(key, from, to, amount string) string {
		return fmt.Sprintf(`{"type":"transfer","idempotency_key":%q,"body":{"from":%q,"to":%q,"amount":%q,"currency":"NGN"}}`, key, from, to, amount)
	}
	res := do("POST", "/v1/batch", `{"atomic":false,"items":[`+item("b1", acc, other, "10.00")+`,`+item("b2", other, acc, "50.00")+`]}`,
		http.StatusOK, "Idempotency-Key", "batch-1")["results"].([]any)
	if len(res) != 2 || res[0].(map[string]any)["status"] != 201.0 || res[1].(map[string]any)["status"] != 422.0 {
		t.Fatalf("batch results %v", res)
	}
	do("POST", "/v1/batch", `{"atomic":true,"items":[`+item("b3", acc, other, "1.00")+`,`+item("b4", other, acc, "1.00")+`]}`,
		http.StatusOK, "Idempotency-Key", "batch-2")
	do("PATCH", "/v1/accounts/"+other, `{"overdraft_limit":"20.00"}`, http.StatusOK)
	do("POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"25.00","currency":"NGN"}`, other, acc), http.StatusCreated, "Idempotency-Key", "od-1")
	do("POST", "/v1/accounts/"+other+"/freeze", "", http.StatusOK)
	do("POST", "/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"1.00","currency":"NGN"}`, other, acc), http.StatusUnprocessableEntity, "Idempotency-Key", "frozen-1")
	balance(acc, "50.00")
	balance(other, "-15.00")
	// A hold past its time is expired by the expirer, which looks for due
	// holds across every book (every shard).
	do("POST", "/v1/accounts/"+other+"/unfreeze", "", http.StatusOK)
	hold := do("POST", "/v1/holds", fmt.Sprintf(`{"from":%q,"to":%q,"amount":"5.00","currency":"NGN","expires_in":"1s"}`, acc, other),
		http.StatusCreated, "Idempotency-Key", "hold-1")["id"].(string)
	until("/v1/holds/"+hold, "status", "expired", 15*time.Second)
	balance(acc, "50.00")
	if rep := do("GET", "/v1/audit/verify?book=ledger1", "", http.StatusOK); rep["ok"] != true {
		t.Fatalf("verify: %v", rep)
	}
}

// Events out on Citus: a webhook subscription and NATS JetStream get
// every event of two books, each book's in position order, and the
// subscription's deliveries can be listed.
func TestCitusEventsOut(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the tally binary; skipped with -short")
	}
	db := testdb.NewCitus(t)
	natsURL := startNATS(t)
	rcv, ca := newTLSHookReceiver(t)
	p := newTallyProcess(t, "TALLY_DATABASE_URL="+db.URL, "TALLY_CITUS=true", "TALLY_SANDBOX=false",
		"TALLY_WEBHOOK_ALLOW_PRIVATE=true", "TALLY_NATS_URL="+natsURL, "SSL_CERT_FILE="+ca)
	p.start()
	client := &http.Client{Timeout: 30 * time.Second}
	r := call(client, p.base, "POST", "/v1/subscriptions", []byte(fmt.Sprintf(`{"url":%q,"events":["*"]}`, rcv.srv.URL+"/hook")))
	var sub struct{ ID string }
	if r.status != 201 || json.Unmarshal(r.body, &sub) != nil {
		t.Fatalf("subscribe: %d %s\n%s", r.status, r.body, p.logTail())
	}
	appendLoad(t, client, p.base, "a", 5)
	journal := map[string][]string{"main": journalIDs(t, client, p.base, "main"), "other": journalIDs(t, client, p.base, "other")}
	total := len(journal["main"]) + len(journal["other"])
	bookOf := map[string]string{}
	for book, ids := range journal {
		for _, id := range ids {
			bookOf[id] = book
		}
	}
	waitFor(t, "every webhook delivery", func() bool { return len(rcv.received()) >= total })
	var got [][2]string
	for _, id := range rcv.received() {
		got = append(got, [2]string{bookOf[id], id})
	}
	checkStream(t, "webhooks", got, journal)
	if r := call(client, p.base, "GET", "/v1/subscriptions/"+sub.ID+"/deliveries", nil); r.status != 200 || !strings.Contains(string(r.body), journal["main"][0]) {
		t.Errorf("deliveries: %d %s", r.status, r.body)
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, "every event in the TALLY stream", func() bool {
		stream, err := js.Stream(context.Background(), sinks.NATSStream)
		if err != nil {
			return false
		}
		info, err := stream.Info(context.Background())
		return err == nil && info.State.Msgs >= uint64(total)
	})
	if t.Failed() {
		t.Logf("%s", p.logTail())
	}
}

// caller sends requests to p with the admin key (unless headers say
// otherwise), fails the test on any answer but want, and returns the
// answer's JSON.
func caller(t *testing.T, client *http.Client, p *tallyProcess) func(method, path, body string, want int, headers ...string) map[string]any {
	return func(method, path, body string, want int, headers ...string) map[string]any {
		t.Helper()
		var raw []byte
		if body != "" {
			raw = []byte(body)
		}
		r := call(client, p.base, method, path, raw, headers...)
		var out map[string]any
		if r.status != want || (len(r.body) > 0 && json.Unmarshal(r.body, &out) != nil) {
			t.Fatalf("%s %s: %d %s, want %d\n%s", method, path, r.status, r.body, want, p.logTail())
		}
		return out
	}
}
