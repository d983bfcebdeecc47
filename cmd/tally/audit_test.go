package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/projections"
	"github.com/tallyledger/tally/schema/testdb"
)

// ledgerFixture is a database with some history, which the commands run
// against through TALLY_DATABASE_URL.
type ledgerFixture struct {
	t        *testing.T
	pool     *pgxpool.Pool
	journal  *pgjournal.Journal
	wallets  []string
	midpoint time.Time // between the two halves of the history
}

func newLedger(t *testing.T) *ledgerFixture {
	url := testdb.New(t)
	t.Setenv("TALLY_DATABASE_URL", url)
	t.Setenv("TALLY_LOG_LEVEL", "")
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	var inline []pgjournal.Projection
	for _, p := range projections.Inline() {
		inline = append(inline, p)
	}
	f := &ledgerFixture{t: t, pool: pool, journal: pgjournal.New(pool, pgjournal.Options{Inline: inline})}
	t.Cleanup(func() { f.journal.Close(); pool.Close() })

	for i, cur := range []string{"NGN", "NGN", "USD", "USD"} {
		f.wallets = append(f.wallets, f.open("main", fmt.Sprint("u", i), cur))
	}
	eu := f.open("eu", "eu", "EUR")
	f.submit(ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: eu, Direction: ledger.Credit, Amount: ledger.MustMoney("7.00", "EUR"), Reason: "float"})
	for i, w := range f.wallets {
		cur := []string{"NGN", "NGN", "USD", "USD"}[i]
		f.submit(ledger.Adjust{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: w, Direction: ledger.Credit, Amount: ledger.MustMoney("100.00", cur), Reason: "float \"quoted\" <&> ünïcode 😀"})
	}
	time.Sleep(3 * time.Millisecond)
	f.midpoint = time.Now()
	time.Sleep(3 * time.Millisecond)
	for i := range 6 {
		f.submit(ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: f.wallets[i%2], To: f.wallets[1-i%2], Amount: ledger.MustMoney(fmt.Sprintf("%d.25", i+1), "NGN"),
			Description: "line\nbreak", Metadata: map[string]string{"ﬁ": "x", "😀": "y"}})
	}
	f.submit(ledger.Transfer{TransferID: ledger.NewID(ledger.PrefixTransfer), From: f.wallets[2], To: f.wallets[3], Amount: ledger.MustMoney("0.01", "USD")})
	return f
}

func (f *ledgerFixture) submit(cmd ledger.Command) {
	f.t.Helper()
	r, err := f.journal.Submit(context.Background(), pgjournal.Request{Command: cmd, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return pgjournal.Response{Body: []byte(o.Err.Code)}
		}
		return pgjournal.Response{Body: []byte("ok")}
	}})
	if err != nil || string(r.Body) != "ok" {
		f.t.Fatalf("%T: %s %v", cmd, r.Body, err)
	}
}

func (f *ledgerFixture) open(book, owner, cur string) string {
	id := ledger.NewID(ledger.PrefixAccount)
	f.t.Helper()
	r, err := f.journal.Submit(context.Background(), pgjournal.Request{Book: book,
		Command: ledger.OpenAccount{AccountID: id, Book: book, Owner: owner, Currency: ledger.Currency(cur), Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber()},
		Render:  func(pgjournal.Outcome) pgjournal.Response { return pgjournal.Response{} }})
	if err != nil {
		f.t.Fatal(err, r)
	}
	return id
}

func (f *ledgerFixture) head(book string) int64 {
	f.t.Helper()
	h, err := pgjournal.BookHead(context.Background(), f.pool, book)
	if err != nil {
		f.t.Fatal(err)
	}
	return h.Position
}

// tamperPosting changes one posting amount around the append-only trigger,
// as a database superuser could, and returns its position.
func (f *ledgerFixture) tamperPosting() int64 {
	f.t.Helper()
	ctx := context.Background()
	var pos int64
	if err := f.pool.QueryRow(ctx, `SELECT position FROM events WHERE book = 'main' AND type = 'transfer.completed' ORDER BY position OFFSET 2 LIMIT 1`).Scan(&pos); err != nil {
		f.t.Fatal(err)
	}
	for _, s := range []string{
		`ALTER TABLE postings DISABLE TRIGGER USER`,
		fmt.Sprintf(`UPDATE postings SET amount = amount + 1 WHERE book = 'main' AND position = %d AND seq = 1`, pos),
		`ALTER TABLE postings ENABLE TRIGGER USER`,
	} {
		if _, err := f.pool.Exec(ctx, s); err != nil {
			f.t.Fatal(err)
		}
	}
	return pos
}

type result struct {
	code           int
	stdout, stderr string
}

func tally(args ...string) result {
	var out, errb bytes.Buffer
	code := runAudit(context.Background(), args[0], args[1:], &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func TestVerifyCommand(t *testing.T) {
	f := newLedger(t)
	r := tally("verify").must(t, exitOK)
	for _, want := range []string{"book eu:", "book main:", "hash chain                         ok", "projection daily_summaries", "OK: every check passed"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("missing %q in:\n%s", want, r.stdout)
		}
	}
	var out struct {
		OK    bool                 `json:"ok"`
		Books []projections.Report `json:"books"`
	}
	r = tally("verify", "--json", "--book", "main").must(t, exitOK)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !out.OK || len(out.Books) != 1 || out.Books[0].Events != f.head("main") {
		t.Fatalf("%v: %s", err, r.stdout)
	}

	pos := f.tamperPosting()
	r = tally("verify").must(t, exitFailed)
	if !strings.Contains(r.stdout, fmt.Sprintf("first bad position: %d", pos)) || !strings.Contains(r.stdout, "FAILED") {
		t.Fatalf("tampered at %d:\n%s", pos, r.stdout)
	}
	r = tally("verify", "--json").must(t, exitFailed)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.OK {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	for _, b := range out.Books {
		switch {
		case b.Book == "main" && (b.OK || b.FirstBadPosition == nil || *b.FirstBadPosition != pos):
			t.Fatalf("book main: %+v", b)
		case b.Book == "eu" && !b.OK:
			t.Fatalf("book eu: %+v", b)
		}
	}
	tally("verify", "--journal-only", "--book", "eu").must(t, exitOK)
}

func TestRebuildCommand(t *testing.T) {
	f := newLedger(t)
	if _, err := f.pool.Exec(context.Background(), `UPDATE balances SET balance = 0`); err != nil {
		t.Fatal(err)
	}
	tally("verify", "--book", "main").must(t, exitFailed)
	r := tally("rebuild", "balances", "--json").must(t, exitOK)
	var rep projections.RebuildReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Projections) != 1 || rep.Projections[0].Tables[0].Written == 0 {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	tally("verify").must(t, exitOK)
	r = tally("rebuild").must(t, exitOK)
	if !strings.Contains(r.stdout, "daily_summaries") || !strings.Contains(r.stdout, "replayed") {
		t.Fatalf("%s", r.stdout)
	}
	if r := tally("rebuild", "nope").must(t, exitError); !strings.Contains(r.stderr, "no projection is named") {
		t.Fatalf("%s", r.stderr)
	}
}

func TestReplayCommand(t *testing.T) {
	f := newLedger(t)
	head := f.head("main")
	for p := int64(1); p <= head; p++ {
		var tb struct {
			Position int64 `json:"position"`
			Accounts []struct{ Account, Balance string }
			Totals   []struct{ Currency, Sum string }
			Balanced bool `json:"balanced"`
		}
		r := tally("replay", "--position", fmt.Sprint(p), "--json").must(t, exitOK)
		if err := json.Unmarshal([]byte(r.stdout), &tb); err != nil || tb.Position != p || !tb.Balanced {
			t.Fatalf("position %d: %v %s", p, err, r.stdout)
		}
	}
	r := tally("replay").must(t, exitOK)
	if !strings.Contains(r.stdout, fmt.Sprintf("at position %d", head)) || !strings.Contains(r.stdout, "NGN") || strings.Contains(r.stdout, "NOT ZERO") {
		t.Fatalf("%s", r.stdout)
	}
	// At the midpoint every wallet held exactly its float.
	at := f.midpoint.UTC().Format(time.RFC3339Nano)
	r = tally("replay", "--at", at, "--account", f.wallets[0]).must(t, exitOK)
	if !strings.Contains(r.stdout, f.wallets[0]+" 100.00 NGN") {
		t.Fatalf("%s", r.stdout)
	}
	r = tally("replay", "--at", "2001-01-01T00:00:00Z", "--account", f.wallets[0], "--json").must(t, exitOK)
	if !strings.Contains(r.stdout, `"balance": "0.00"`) {
		t.Fatalf("%s", r.stdout)
	}
	tally("replay", "--at", at, "--position", "2").must(t, exitError)
	tally("replay", "--position", fmt.Sprint(head+1)).must(t, exitError)
	tally("replay", "--bogus").must(t, exitError)
}

func TestExportIsIndependentlyVerifiable(t *testing.T) {
	f := newLedger(t)
	dir := t.TempDir()
	full := filepath.Join(dir, "main.jsonl")
	r := tally("export", "--format", "jsonl", "--out", full).must(t, exitOK)
	head := f.head("main")
	if !strings.Contains(r.stderr, fmt.Sprintf("positions 1 to %d", head)) {
		t.Fatalf("%s", r.stderr)
	}
	n, last := checkExport(t, full)
	if n != head {
		t.Fatalf("export holds %d events, the book %d", n, head)
	}
	h, _ := pgjournal.BookHead(context.Background(), f.pool, "main")
	if last != h.Hash {
		t.Fatalf("last hash %s, head %s", last, h.Hash)
	}

	// A slice of the journal, by positions or by times, checks on its own
	// and names the hash it follows.
	part := tally("export", "--format", "jsonl", "--from", "3", "--to", "7").must(t, exitOK).stdout
	if lines := strings.Split(strings.TrimSpace(part), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[0], `{"position":3,`) {
		t.Fatalf("positions 3 to 7:\n%s", part)
	}
	later := tally("export", "--format", "jsonl", "--from", f.midpoint.UTC().Format(time.RFC3339Nano)).must(t, exitOK).stdout
	if lines := strings.Split(strings.TrimSpace(later), "\n"); len(lines) != 7 {
		t.Fatalf("after the midpoint, want the 7 transfers:\n%s", later)
	}

	python, err := exec.LookPath("python3")
	if err != nil {
		t.Log("python3 not found: the auditor's script from docs/audit.md is not run")
		return
	}
	script := filepath.Join(dir, "verify_export.py")
	if err := os.WriteFile(script, auditScript(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, script, full).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("ok: %d events of book main", head)) || !strings.Contains(string(out), last) {
		t.Fatalf("the auditor's script: %v\n%s", err, out)
	}
	slice := filepath.Join(dir, "slice.jsonl")
	if err := os.WriteFile(slice, []byte(part), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(python, script, slice).CombinedOutput(); err != nil || !strings.Contains(string(out), "starts after hash") {
		t.Fatalf("the script on a slice: %v\n%s", err, out)
	}

	// The same script catches a tampered posting in the next export.
	pos := f.tamperPosting()
	tampered := filepath.Join(dir, "tampered.jsonl")
	tally("export", "--format", "jsonl", "--out", tampered).must(t, exitOK)
	out, err = exec.Command(python, script, tampered).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("FAILED at position %d", pos)) {
		t.Fatalf("the script missed the tampering at %d: %v\n%s", pos, err, out)
	}
}

func TestExportCSV(t *testing.T) {
	f := newLedger(t)
	r := tally("export", "--format", "csv", "--book", "main").must(t, exitOK)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var postings, events int
	if err := f.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM postings WHERE book = 'main'), (SELECT count(*) FROM events e WHERE book = 'main' AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.book = e.book AND p.position = e.position))`).Scan(&postings, &events); err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "book" || len(rows)-1 != postings+events {
		t.Fatalf("%d rows for %d postings and %d events without postings", len(rows)-1, postings, events)
	}
	// Amounts per currency sum to zero over the whole export.
	sums := map[string]*big.Rat{}
	for _, row := range rows[1:] {
		if row[8] == "" {
			continue
		}
		a, ok := new(big.Rat).SetString(row[8])
		if !ok {
			t.Fatalf("amount %q", row[8])
		}
		if sums[row[9]] == nil {
			sums[row[9]] = new(big.Rat)
		}
		sums[row[9]].Add(sums[row[9]], a)
	}
	for cur, s := range sums {
		if s.Sign() != 0 {
			t.Fatalf("%s sums to %s", cur, s.FloatString(2))
		}
	}
	tally("export").must(t, exitError)
	tally("export", "--format", "xml").must(t, exitError)
	tally("export", "--format", "csv", "--from", "0").must(t, exitError)
}

// auditScript is the Python script docs/audit.md gives auditors.
func auditScript(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/audit.md has no python block")
	}
	return m[1]
}

// checkExport re-checks a JSON Lines export without any of Tally's code:
// its own RFC 8785 rendering, SHA-256, the links, and zero sums with exact
// rationals. It returns the number of events and the last hash.
func checkExport(t *testing.T, path string) (int64, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var n, prev int64
	prevHash := strings.Repeat("0", 64)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		pos, _ := strconv.ParseInt(string(ev["position"].(json.Number)), 10, 64)
		stored := ev["hash"].(string)
		delete(ev, "hash")
		var canon bytes.Buffer
		jcs(&canon, ev)
		sum := sha256.Sum256(canon.Bytes())
		if hex.EncodeToString(sum[:]) != stored {
			t.Fatalf("position %d: hash does not recompute over %s", pos, canon.String())
		}
		if pos != prev+1 || ev["prev_hash"] != prevHash {
			t.Fatalf("position %d does not link to %d", pos, prev)
		}
		sums := map[any]*big.Rat{}
		for _, p := range ev["postings"].([]any) {
			p := p.(map[string]any)
			a, _ := new(big.Rat).SetString(p["amount"].(string))
			if sums[p["currency"]] == nil {
				sums[p["currency"]] = new(big.Rat)
			}
			sums[p["currency"]].Add(sums[p["currency"]], a)
		}
		for cur, s := range sums {
			if s.Sign() != 0 {
				t.Fatalf("position %d: %s sums to %s", pos, cur, s.String())
			}
		}
		prev, prevHash = pos, stored
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n, prevHash
}

// jcs writes v in RFC 8785 form for the JSON Tally exports: objects with
// keys in UTF-16 order, strings with minimal escapes, integers.
func jcs(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, c := utf16.Encode([]rune(keys[i])), utf16.Encode([]rune(keys[j]))
			for k := 0; k < len(a) && k < len(c); k++ {
				if a[k] != c[k] {
					return a[k] < c[k]
				}
			}
			return len(a) < len(c)
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			jcs(b, k)
			b.WriteByte(':')
			jcs(b, v[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			jcs(b, x)
		}
		b.WriteByte(']')
	case string:
		b.WriteByte('"')
		for _, r := range v {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\b':
				b.WriteString(`\b`)
			case r == '\f':
				b.WriteString(`\f`)
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
}
