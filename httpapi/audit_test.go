package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/projections"
)

// moment is what the ledger looked like right after one step of a workload.
type moment struct {
	position int64
	at       time.Time // after the step, before the next
	balances map[string]string
}

// auditWorkload drives a mixed workload through the API over two books and
// three currencies, and records after each step the book's position and
// every wallet's balance as GET …/balance reported it then.
func auditWorkload(h *harness, seed uint64, steps int) (wallets []string, history []moment) {
	h.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	cur := map[string]string{}
	for i, c := range []string{"NGN", "NGN", "NGN", "USD", "USD", "JPY", "JPY"} {
		w := h.open(fmt.Sprint("user-", i%3), c)
		wallets = append(wallets, w)
		cur[w] = c
	}
	eu := h.must(h.do("POST", "/v1/accounts", map[string]any{"owner": "eu", "currency": "EUR", "book": "eu"}), 201).str(h.t, "id")
	h.fund(eu, "10.00", "EUR")
	record := func() {
		time.Sleep(2 * time.Millisecond) // recorded times are milliseconds: keep steps apart
		m := moment{balances: map[string]string{}}
		for _, w := range wallets {
			r := h.must(h.do("GET", "/v1/accounts/"+w+"/balance", nil), 200).json(h.t)
			m.balances[w] = r["balance"].(string)
			m.position = int64(r["position"].(float64))
		}
		m.at = time.Now()
		time.Sleep(2 * time.Millisecond)
		history = append(history, m)
	}
	amount := func(c string) string {
		if c == "JPY" {
			return fmt.Sprint(1 + rng.IntN(900))
		}
		return fmt.Sprintf("%d.%02d", rng.IntN(90), 1+rng.IntN(99))
	}
	for _, w := range wallets {
		h.fund(w, "500", cur[w])
	}
	record()
	for i := range steps {
		a := wallets[rng.IntN(len(wallets))]
		switch k := rng.IntN(10); {
		case k < 7:
			var peers []string
			for _, b := range wallets {
				if b != a && cur[b] == cur[a] {
					peers = append(peers, b)
				}
			}
			b := peers[rng.IntN(len(peers))]
			r := h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": amount(cur[a]), "currency": cur[a]}, "Idempotency-Key", fmt.Sprint("w-", i))
			if r.status != 201 && r.str(h.t, "code") != "insufficient_funds" {
				h.t.Fatalf("transfer: %d %s", r.status, r.body)
			}
		case k < 8:
			h.must(h.do("POST", "/v1/adjustments", map[string]any{"account": a, "direction": "debit", "amount": "1", "currency": cur[a], "reason": "fee"}, "Idempotency-Key", fmt.Sprint("w-", i)), 201)
		case k < 9:
			h.fund(a, amount(cur[a]), cur[a])
		default:
			h.must(h.do("POST", "/v1/accounts/"+a+"/freeze", nil), 200)
			h.must(h.do("POST", "/v1/accounts/"+a+"/unfreeze", nil), 200)
		}
		record()
	}
	return wallets, history
}

// wipeProjections empties every projection table and the async checkpoints
// (as the superuser the test database belongs to) and rebuilds them from the
// journal.
func (h *harness) wipeAndRebuild() {
	h.t.Helper()
	ctx := context.Background()
	tables := []string{"projection_checkpoints"}
	for _, name := range h.set.Names() {
		p, _, _ := h.set.Lookup(name)
		for _, t := range p.Tables() {
			tables = append(tables, t.Name)
		}
	}
	if _, err := h.pool.Exec(ctx, `TRUNCATE `+strings.Join(tables, ", ")); err != nil {
		h.t.Fatal(err)
	}
	if r := h.do("GET", "/v1/accounts", nil); !strings.Contains(string(r.body), `"data":[]`) {
		h.t.Fatalf("wipe left accounts: %s", r.body)
	}
	if _, err := h.set.Rebuild(ctx, nil, projections.RebuildOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) catchUp() {
	h.t.Helper()
	if err := h.set.Runner(projections.RunnerOptions{}).CatchUp(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

type trialBalance struct {
	Book     string `json:"book"`
	Position int64  `json:"position"`
	At       string `json:"at"`
	Accounts []struct {
		Account, Kind, Currency, Balance string
	} `json:"accounts"`
	Totals []struct {
		Currency, Sum string
	} `json:"totals"`
	Balanced bool `json:"balanced"`
}

func (h *harness) trialBalance(query string) trialBalance {
	h.t.Helper()
	var tb trialBalance
	r := h.must(h.do("GET", "/v1/audit/trial-balance?"+query, nil), 200)
	if err := json.Unmarshal(r.body, &tb); err != nil {
		h.t.Fatalf("trial balance is not JSON: %v: %s", err, r.body)
	}
	return tb
}

// The audit API's answers depend on the projections; they must be the same
// whether the projections were kept live or rebuilt from the journal.
func TestAuditLiveAndRebuilt(t *testing.T) {
	for _, mode := range []string{"live", "rebuilt"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			wallets, history := auditWorkload(h, 11, 40)
			h.catchUp()
			if mode == "rebuilt" {
				h.wipeAndRebuild()
			}

			t.Run("verify passes in every book", func(t *testing.T) {
				for _, book := range []string{"main", "eu"} {
					r := h.must(h.do("GET", "/v1/audit/verify?book="+book, nil), 200).json(t)
					if r["ok"] != true || r["chain_ok"] != true || r["balanced"] != true || r["first_bad_position"] != nil {
						t.Fatalf("book %s: %v", book, r)
					}
					for _, p := range r["projections"].([]any) {
						if p.(map[string]any)["ok"] != true {
							t.Fatalf("book %s: projection %v", book, p)
						}
					}
				}
			})

			t.Run("the trial balance sums to zero per currency at every position", func(t *testing.T) {
				last := history[len(history)-1].position
				for p := int64(1); p <= last; p++ {
					tb := h.trialBalance(fmt.Sprint("position=", p))
					if tb.Position != p || !tb.Balanced {
						t.Fatalf("position %d: %+v", p, tb)
					}
					for _, tot := range tb.Totals {
						if !ledger.MustMoney(tot.Sum, tot.Currency).IsZero() {
							t.Fatalf("position %d: %s sums to %s", p, tot.Currency, tot.Sum)
						}
					}
				}
			})

			t.Run("a balance at an earlier position or time is what it was then", func(t *testing.T) {
				for _, m := range history {
					tb := h.trialBalance(fmt.Sprint("position=", m.position))
					inTrial := map[string]string{}
					for _, a := range tb.Accounts {
						inTrial[a.Account] = a.Balance
					}
					at := url.QueryEscape(m.at.UTC().Format(time.RFC3339Nano))
					for _, w := range wallets {
						byPos := h.must(h.do("GET", fmt.Sprintf("/v1/accounts/%s/balance?position=%d", w, m.position), nil), 200).str(t, "balance")
						byTime := h.must(h.do("GET", "/v1/accounts/"+w+"/balance?at="+at, nil), 200).json(t)
						if byPos != m.balances[w] || byTime["balance"] != m.balances[w] || inTrial[w] != m.balances[w] {
							t.Fatalf("%s at position %d: then %s; now by position %s, by time %v, in the trial balance %s",
								w, m.position, m.balances[w], byPos, byTime, inTrial[w])
						}
						if int64(byTime["position"].(float64)) != m.position {
							t.Fatalf("at %s maps to position %v, want %d", m.at, byTime["position"], m.position)
						}
					}
					if tbAt := h.trialBalance("at=" + at); tbAt.Position != m.position || tbAt.At == "" {
						t.Fatalf("trial balance at %s: position %d, want %d", m.at, tbAt.Position, m.position)
					}
				}
			})

			t.Run("statements add up to the balances", func(t *testing.T) {
				today := time.Now().UTC().Format(time.DateOnly)
				for _, w := range wallets {
					st := h.must(h.do("GET", "/v1/accounts/"+w+"/statement?from="+today+"&to="+today, nil), 200).json(t)
					cur := st["currency"].(string)
					m := func(k string) ledger.Money { return ledger.MustMoney(st[k].(string), cur) }
					if st["closing"] != h.balance(w) || !m("opening").IsZero() || m("opening").Add(m("credits")).Sub(m("debits")).Cmp(m("closing")) != 0 {
						t.Fatalf("statement of %s: %v (balance %s)", w, st, h.balance(w))
					}
					if days := st["days"].([]any); len(days) != 1 || days[0].(map[string]any)["date"] != today {
						t.Fatalf("statement days of %s: %v", w, days)
					}
				}
			})
			h.checkJournal("main")
			h.checkJournal("eu")
		})
	}
}

func TestVerifyOverHTTPNamesATamperedPosting(t *testing.T) {
	h := newHarness(t)
	a, b := h.open("a", "NGN"), h.open("b", "NGN")
	h.fund(a, "100", "NGN")
	var pos float64
	for i := range 5 {
		r := h.must(h.do("POST", "/v1/transfers", map[string]any{"from": a, "to": b, "amount": "3.00", "currency": "NGN"}, "Idempotency-Key", fmt.Sprint("x", i)), 201).json(t)
		if i == 2 {
			pos = r["position"].(float64)
		}
	}
	ctx := context.Background()
	for _, stmt := range []string{
		`ALTER TABLE postings DISABLE TRIGGER USER`,
		fmt.Sprintf(`UPDATE postings SET amount = 30 WHERE book = 'main' AND position = %d AND amount > 0`, int64(pos)),
		`ALTER TABLE postings ENABLE TRIGGER USER`,
	} {
		if _, err := h.pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	r := h.must(h.do("GET", "/v1/audit/verify", nil), 200).json(t)
	if r["ok"] != false || r["chain_ok"] != false || r["balanced"] != false || r["first_bad_position"] != pos {
		t.Fatalf("tampered at %v: %v", pos, r)
	}
}

func TestAuditRequestsAreChecked(t *testing.T) {
	h := newHarness(t)
	a := h.open("u", "USD")
	h.fund(a, "5", "USD")
	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"at and position together are refused", "/v1/audit/trial-balance?position=1&at=2026-01-01T00:00:00Z", 400, "invalid_request"},
		{"a position beyond the journal is refused", "/v1/audit/trial-balance?position=99", 400, "invalid_request"},
		{"a position must be positive", "/v1/audit/trial-balance?position=0", 400, "invalid_request"},
		{"a time must be RFC 3339", "/v1/audit/trial-balance?at=yesterday", 400, "invalid_request"},
		{"an unknown book is not found", "/v1/audit/trial-balance?book=nope", 404, "not_found"},
		{"a malformed book is refused", "/v1/audit/verify?book=No%20Such", 400, "invalid_request"},
		{"verify of an unknown book is not found", "/v1/audit/verify?book=nope", 404, "not_found"},
		{"a statement takes dates", "/v1/accounts/" + a + "/statement?from=2026-01-01T00:00:00Z", 400, "invalid_request"},
		{"a statement's from may not follow its to", "/v1/accounts/" + a + "/statement?from=2026-02-01&to=2026-01-01", 400, "invalid_request"},
		{"a statement covers at most a year", "/v1/accounts/" + a + "/statement?from=2024-01-01&to=2026-01-01", 400, "invalid_request"},
		{"a statement of an unknown account is not found", "/v1/accounts/acc_01KAAAAAAAAAAAAAAAAAAAAAAA/statement", 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", tc.path, nil)
			if r.status != tc.status || r.str(t, "code") != tc.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	t.Run("a time before the first event is the empty ledger", func(t *testing.T) {
		tb := h.trialBalance("at=2000-01-01T00:00:00Z")
		if tb.Position != 0 || len(tb.Accounts) != 0 || len(tb.Totals) != 0 || !tb.Balanced {
			t.Fatalf("%+v", tb)
		}
	})
	t.Run("the statement defaults to this month", func(t *testing.T) {
		h.catchUp()
		st := h.must(h.do("GET", "/v1/accounts/"+a+"/statement", nil), 200).json(t)
		now := time.Now().UTC()
		if st["from"] != now.Format("2006-01")+"-01" || st["to"] != now.Format(time.DateOnly) || st["closing"] != "5.00" {
			t.Fatalf("%v", st)
		}
	})
	t.Run("audit routes need an API key", func(t *testing.T) {
		if r := h.do("GET", "/v1/audit/verify", nil, "Authorization", ""); r.status != 401 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}
