package console_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// book is what seed puts in a fresh ledger.
type book struct {
	a, b, usd string    // wallets
	asOf      time.Time // between a's funding and the transfer
	deposit   string    // paid through the sandbox, then partly refunded
	flagged   string    // paid with the wrong amount
	paidOut   string    // a withdrawal the sandbox paid out
	rejected  string    // a withdrawal the sandbox's bank rejected
}

// The bank account numbers seed withdraws to: the sandbox pays out to the
// first and rejects the second (it ends in 0000). Neither may appear in
// full on a page.
const (
	payoutNumber   = "0123456789"
	rejectedNumber = "0123450000"
)

// seed makes a small book through the API: adjustments, a transfer, a
// sandbox deposit paid and refunded, a flagged deposit, a pending hold, an
// unmatched gateway event and two sandbox withdrawals (one paid out, one
// rejected).
func seed(tl *tally) book {
	tl.t.Helper()
	var s book
	s.a, s.b, s.usd = tl.open("ada", "NGN"), tl.open("bola", "NGN"), tl.open("chidi", "USD")
	tl.adjust(s.a, "credit", "1000.00", "NGN")
	time.Sleep(1100 * time.Millisecond)
	s.asOf = time.Now().UTC().Truncate(time.Second)
	time.Sleep(50 * time.Millisecond)
	tl.transfer(s.a, s.b, "250.50", "NGN")
	tl.adjust(s.b, "debit", "0.50", "NGN")
	tl.adjust(s.usd, "credit", "10.25", "USD")

	dep := tl.api("POST", "/v1/deposits", map[string]any{"account": s.a, "amount": "100.00", "currency": "NGN", "gateway": "sandbox"}, "", 201)
	s.deposit = dep["id"].(string)
	resp, err := http.Post(dep["checkout_url"].(string)+"/pay", "application/x-www-form-urlencoded", nil)
	if err != nil {
		tl.t.Fatal(err)
	}
	resp.Body.Close()
	tl.api("POST", "/v1/refunds", map[string]any{"deposit": s.deposit, "amount": "40.00"}, "", 201)

	flagged := tl.api("POST", "/v1/deposits", map[string]any{"account": s.b, "amount": "50.00", "currency": "NGN", "gateway": "sandbox"}, "", 201)
	s.flagged = flagged["id"].(string)
	tl.webhook("payment.succeeded", flagged["reference"].(string), "45.00", "NGN")
	tl.api("POST", "/v1/holds", map[string]any{"from": s.a, "to": s.b, "amount": "20.00", "currency": "NGN", "description": "order 7"}, "", 201)
	tl.webhook("payment.succeeded", "DEP-NOT-OURS", "12.00", "NGN")
	s.paidOut = tl.withdraw(s.a, "30.00", payoutNumber)
	s.rejected = tl.withdraw(s.a, "15.00", rejectedNumber)
	_ = tl.sandbox.Close() // waits for the refund's and the payouts' webhooks
	if st := tl.api("GET", "/v1/deposits/"+s.flagged, nil, "", 200)["status"]; st != "flagged" {
		tl.t.Fatalf("the mismatched deposit is %v, want flagged", st)
	}
	for id, want := range map[string]string{s.paidOut: "succeeded", s.rejected: "failed"} {
		if st := tl.api("GET", "/v1/withdrawals/"+id, nil, "", 200)["status"]; st != want {
			tl.t.Fatalf("withdrawal %s is %v, want %s", id, st, want)
		}
	}
	return s
}

// withdraw asks the sandbox to pay amount NGN out of account to a bank
// account, and returns the withdrawal's id.
func (tl *tally) withdraw(account, amount, number string) string {
	tl.t.Helper()
	return tl.api("POST", "/v1/withdrawals", map[string]any{"account": account, "amount": amount, "currency": "NGN", "gateway": "sandbox",
		"destination": map[string]any{"bank_code": "058", "account_number": number, "account_name": "Ada Obi"}}, "", 201)["id"].(string)
}

// apiEvents is the whole journal of main as GET /v1/events returns it.
func (tl *tally) apiEvents(query string) []map[string]any {
	tl.t.Helper()
	raw := tl.api("GET", "/v1/events?book=main&limit=500"+query, nil, "", 200)["data"].([]any)
	out := make([]map[string]any, len(raw))
	for i, e := range raw {
		out[i] = e.(map[string]any)
	}
	return out
}

// fitsPhone checks that the page needs no sideways scrolling at 360 px,
// and that every form field has a label (keyboard and screen-reader use).
func (p *page) fitsPhone(name string) {
	p.t.Helper()
	if unlabelled := eval[[]string](p, `Array.from(document.querySelectorAll("input:not([type=hidden]), select")).filter(e => e.labels.length === 0).map(e => e.name)`); len(unlabelled) > 0 {
		p.t.Errorf("%s has fields without a label: %v", name, unlabelled)
	}
	p.run(chromedp.EmulateViewport(360, 740))
	defer p.run(chromedp.EmulateViewport(1280, 900))
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 360 {
		widest := eval[string](p, `Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > 362).map(e => e.tagName + "." + e.className).slice(0, 5).join(" ")`)
		p.t.Errorf("%s is %d px wide on a 360 px phone (%s)", name, w, widest)
	}
}

func TestPagesAgreeWithTheAPI(t *testing.T) {
	tl := newTally(t)
	s := seed(tl)
	p := newPage(t, tl)
	p.signIn(adminKey)

	t.Run("the journal shows every event with its postings and hashes", func(t *testing.T) {
		p.open("/console/journal")
		want := tl.apiEvents("")
		positions := p.texts(".event .pos")
		hashes := p.texts(".event .hash")
		if len(positions) != len(want) || len(hashes) != len(want) {
			t.Fatalf("the page shows %d events, the API %d", len(positions), len(want))
		}
		for i, e := range want {
			if positions[i] != fmt.Sprintf("#%v", e["position"]) || hashes[i] != e["hash"] {
				t.Fatalf("event %d: page %s %s, API %v %v", i, positions[i], hashes[i], e["position"], e["hash"])
			}
		}
		// prev_hash of each event is the hash of the one before, linked.
		prevs := p.texts(".hashes dd:first-of-type code")
		if prevs[0] != strings.Repeat("0", 64) || prevs[3] != hashes[2] {
			t.Fatalf("prev_hash %q after %q", prevs[3], hashes[2])
		}
		amounts := p.texts(".postings td.num:nth-child(2)")
		var apiAmounts []string
		for _, e := range want {
			for _, ps := range e["postings"].([]any) {
				apiAmounts = append(apiAmounts, ps.(map[string]any)["amount"].(string))
			}
		}
		if strings.Join(amounts, ",") != strings.Join(apiAmounts, ",") {
			t.Fatalf("posting amounts\npage %v\napi  %v", amounts, apiAmounts)
		}
		if align := eval[string](p, `getComputedStyle(document.querySelector(".postings td.num")).textAlign`); align != "right" {
			t.Fatalf("amounts are aligned %s", align)
		}
		p.screenshot("journal")
		p.fitsPhone("the journal")
	})
	t.Run("the journal filters by type and by account as the API does", func(t *testing.T) {
		p.open("/console/journal")
		p.submit("form.filters", map[string]string{"account": s.usd}, `button[type="submit"]`)
		if got, want := p.texts(".event .hash"), tl.apiEvents("&account="+s.usd); len(got) != len(want) || got[0] != want[0]["hash"] {
			t.Fatalf("the filter form shows %d events for %s, the API %d", len(got), s.usd, len(want))
		}
		for _, q := range []string{"&type=transfer.completed", "&type=gateway.unmatched", "&account=" + s.b} {
			p.open("/console/journal?book=main" + q)
			got := p.texts(".event .hash")
			want := tl.apiEvents(q)
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("%s: page %d events, API %d", q, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i]["hash"] {
					t.Fatalf("%s: event %d differs", q, i)
				}
			}
		}
	})
	t.Run("an account shows the API's balance and history to the cent", func(t *testing.T) {
		p.open("/console/accounts/" + s.a)
		if got, want := p.text("#balance"), tl.balance(s.a)+" NGN"; got != want {
			t.Fatalf("balance %q, API %q", got, want)
		}
		held := tl.api("GET", "/v1/accounts/"+s.a, nil, "", 200)["held"].(string)
		if got := p.text("#held"); got != held+" NGN" || held != "20.00" {
			t.Fatalf("held %q, API %q", got, held)
		}
		var apiAfter []string
		for _, e := range tl.api("GET", "/v1/accounts/"+s.a+"/entries?limit=500", nil, "", 200)["data"].([]any) {
			apiAfter = append(apiAfter, e.(map[string]any)["balance_after"].(string))
		}
		if got := p.texts("#history tbody td:last-child"); strings.Join(got, ",") != strings.Join(apiAfter, ",") {
			t.Fatalf("balance_after\npage %v\napi  %v", got, apiAfter)
		}
		if n := eval[int](p, `document.querySelectorAll("svg.chart polyline").length`); n != 1 {
			t.Fatal("no balance chart")
		}
		p.screenshot("account")
		p.fitsPhone("an account")
	})
	t.Run("the balance as of a time is the API's", func(t *testing.T) {
		p.open("/console/accounts/" + s.a + "?at=" + s.asOf.Format("2006-01-02T15:04:05"))
		want := tl.api("GET", "/v1/accounts/"+s.a+"/balance?at="+s.asOf.Format(time.RFC3339), nil, "", 200)["balance"].(string)
		if want != "1000.00" {
			t.Fatalf("the API says %s as of the time between funding and transfer", want)
		}
		if got := p.text("#as-of strong"); got != want+" NGN" {
			t.Fatalf("as of %s: page %q, API %q", s.asOf, got, want)
		}
	})
	t.Run("the trial balance is the API's and sums to zero per currency", func(t *testing.T) {
		p.open("/console/trial-balance")
		api := tl.api("GET", "/v1/audit/trial-balance?book=main", nil, "", 200)
		totals := p.texts("#totals tbody td.num")
		if len(totals) != 2 || totals[0] != "0.00" || totals[1] != "0.00" {
			t.Fatalf("totals %v", totals)
		}
		lines := p.texts("#lines tbody td.num")
		accounts := api["accounts"].([]any)
		if len(lines) != len(accounts) {
			t.Fatalf("%d lines, API %d", len(lines), len(accounts))
		}
		for i, a := range accounts {
			if lines[i] != a.(map[string]any)["balance"] {
				t.Fatalf("line %d: page %s, API %v", i, lines[i], a)
			}
		}
		if !strings.HasPrefix(p.text("#balanced"), "Balanced") {
			t.Fatal("not shown as balanced")
		}
		p.screenshot("trial-balance")
		p.fitsPhone("the trial balance")
	})
	t.Run("the trial balance as of a position is the API's", func(t *testing.T) {
		p.open("/console/trial-balance?position=5")
		api := tl.api("GET", "/v1/audit/trial-balance?book=main&position=5", nil, "", 200)
		var want []string
		for _, a := range api["accounts"].([]any) {
			want = append(want, a.(map[string]any)["balance"].(string))
		}
		if got := p.texts("#lines tbody td.num"); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("at position 5\npage %v\napi  %v", got, want)
		}
	})
	t.Run("payments list deposits, refunds, holds and withdrawals by status", func(t *testing.T) {
		p.open("/console/payments")
		deposits := tl.api("GET", "/v1/deposits?limit=500", nil, "", 200)["data"].([]any)
		if got := p.texts("#deposits tbody tr"); len(got) != len(deposits) {
			t.Fatalf("%d deposit rows, API %d", len(got), len(deposits))
		}
		holds := tl.api("GET", "/v1/holds?status=pending", nil, "", 200)["data"].([]any)
		p.open("/console/payments?holds=pending")
		if got := p.texts("#holds tbody td:first-child code"); len(got) != 1 || len(holds) != 1 || got[0] != holds[0].(map[string]any)["id"] {
			t.Fatalf("pending holds %v, API %v", got, holds)
		}
		withdrawals := tl.api("GET", "/v1/withdrawals?limit=500", nil, "", 200)["data"].([]any)
		p.open("/console/payments")
		if got := p.texts("#withdrawals tbody td:first-child code"); len(got) != 2 || len(withdrawals) != 2 {
			t.Fatalf("withdrawals %v, API %v", got, withdrawals)
		}
		for _, id := range []string{s.paidOut, s.rejected} {
			api := tl.api("GET", "/v1/withdrawals/"+id, nil, "", 200)
			p.open("/console/payments?withdrawals=" + api["status"].(string))
			cells := p.texts("#withdrawals tbody td")
			if len(cells) != 8 {
				t.Fatalf("withdrawal %s: row %v", id, cells)
			}
			got := []string{cells[0], p.text("#withdrawals tbody .status"), cells[2], cells[3], cells[4], cells[5], cells[6]}
			want := []string{id, api["status"].(string), "sandbox", api["account"].(string), "058 " + api["destination"].(map[string]any)["account_number"].(string),
				api["amount"].(string), api["currency"].(string)}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("withdrawal %s\npage %v\napi  %v", id, got, want)
			}
			if reason, _ := api["failure_reason"].(string); strings.Join(p.texts("#withdrawals tbody .reason"), "") != reason || (id == s.rejected) != (reason != "") {
				t.Fatalf("withdrawal %s: reason %v, API %q", id, p.texts("#withdrawals tbody .reason"), reason)
			}
		}
		p.open("/console/payments")
		p.screenshot("payments")
		p.fitsPhone("payments")
		p.open("/console/payments?deposits=flagged&refunds=succeeded")
		if got := p.texts("#deposits tbody td:first-child code"); len(got) != 1 || got[0] != s.flagged {
			t.Fatalf("flagged deposits %v, want %s", got, s.flagged)
		}
		refunds := tl.api("GET", "/v1/refunds?deposit="+s.deposit, nil, "", 200)["data"].([]any)
		if got := p.texts("#refunds tbody td:first-child code"); len(got) != 1 || got[0] != refunds[0].(map[string]any)["id"] {
			t.Fatalf("succeeded refunds %v, API %v", got, refunds)
		}
	})
	t.Run("no page shows a withdrawal's full account number, only the masked one", func(t *testing.T) {
		for _, path := range []string{"/console/payments", "/console/journal", "/console/accounts/" + s.a} {
			p.open(path)
			html := eval[string](p, `document.documentElement.outerHTML`)
			for _, full := range []string{payoutNumber, rejectedNumber} {
				if strings.Contains(html, full) {
					t.Errorf("%s shows the full account number %s", path, full)
				}
			}
			if path == "/console/payments" && (!strings.Contains(html, "******6789") || !strings.Contains(html, "******0000")) {
				t.Errorf("%s does not show the masked account numbers", path)
			}
		}
	})
	t.Run("the queue lists the flagged deposit and the unmatched event with what to do", func(t *testing.T) {
		p.open("/console/queue")
		flagged := p.texts("#flagged article h3 code")
		unmatched := p.texts("#unmatched article")
		if len(flagged) != 1 || flagged[0] != s.flagged || len(unmatched) != 1 {
			t.Fatalf("flagged %v, unmatched %d", flagged, len(unmatched))
		}
		// The action pre-fills a proposal crediting what was received.
		p.click("#flagged article a.button")
		if got := eval[string](p, `document.querySelector('#propose-form [name="amount"]').value`); got != "45.00" {
			t.Fatalf("the proposal form is pre-filled with %q, want 45.00", got)
		}
		p.open("/console/queue")
		p.screenshot("queue")
		p.fitsPhone("the queue")
	})
	t.Run("a statement downloads as CSV with the API's figures", func(t *testing.T) {
		if err := tl.runner.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		dir := p.downloads()
		p.open("/console/accounts/" + s.a)
		p.run(chromedp.Click(chromedp.CSS(`form[action$="statement.csv"] button`)))
		rows := readCSV(t, waitForFile(t, dir, ".csv"))
		day := time.Now().UTC().Format(time.DateOnly)
		api := tl.api("GET", "/v1/accounts/"+s.a+"/statement?from="+day+"&to="+day, nil, "", 200)
		last := rows[len(rows)-1]
		if rows[0][0] != "account" || last[3] != api["opening"] || last[4] != api["credits"] || last[5] != api["debits"] || last[6] != api["closing"] {
			t.Fatalf("statement %v, API %v", rows, api)
		}
		if last[6] != tl.balance(s.a) {
			t.Fatalf("statement closes at %s, balance is %s", last[6], tl.balance(s.a))
		}
	})
	t.Run("the journal export downloads every event, hashes intact", func(t *testing.T) {
		dir := p.downloads()
		p.open("/console/journal")
		p.run(chromedp.Click(chromedp.CSS(`a[href*="format=jsonl"]`)))
		f, err := os.Open(waitForFile(t, dir, ".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		want := tl.apiEvents("")
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		n := 0
		for ; sc.Scan(); n++ {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if n >= len(want) || e["hash"] != want[n]["hash"] {
				t.Fatalf("line %d: %v", n, e["hash"])
			}
		}
		if n != len(want) {
			t.Fatalf("export has %d events, API %d", n, len(want))
		}
	})
	t.Run("the accounts list and adjustments pages fit a phone", func(t *testing.T) {
		p.open("/console/accounts")
		if got := len(p.texts("tbody tr")); got < 3 {
			t.Fatalf("%d accounts listed", got)
		}
		p.screenshot("accounts")
		p.fitsPhone("accounts")
		p.open("/console/verify")
		p.fitsPhone("verify")
	})
}

// downloads makes the browser save downloads to a fresh directory.
func (p *page) downloads() string {
	p.t.Helper()
	dir := p.t.TempDir()
	yes := true
	_, err := chromedp.CallBrowser(p.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &yes,
		BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return dir
}

// waitForFile waits for a finished download ending in ext.
func waitForFile(t *testing.T, dir, ext string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		matches, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
		if len(matches) == 1 {
			return matches[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s file was downloaded", ext)
	return ""
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
