package console_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// runVerify presses Run verify and waits for the report the script puts in
// place (the page does not reload).
func (p *page) runVerify() {
	p.t.Helper()
	eval[any](p, `window.__sameDocument = true`)
	p.run(chromedp.Click(chromedp.CSS(`#verify-form button`)), chromedp.WaitVisible(chromedp.CSS(`#verify-report .report`)))
	if !eval[bool](p, `window.__sameDocument === true`) {
		p.t.Fatal("the verify reloaded the page instead of showing live progress")
	}
}

func TestVerifyInTheBrowser(t *testing.T) {
	tl := newTally(t)
	s := seed(tl)
	p := newPage(t, tl)
	_, auditor := tl.key("", "events:read")
	p.signIn(auditor)

	t.Run("a sound book verifies, with live progress, as the API does", func(t *testing.T) {
		p.open("/console/verify")
		p.runVerify()
		if ok := eval[string](p, `document.querySelector(".report").dataset.ok`); ok != "true" {
			t.Fatalf("report ok=%s: %s", ok, p.text(".report"))
		}
		api := tl.api("GET", "/v1/audit/verify?book=main", nil, "", 200)
		facts := p.texts(".report .facts dd")
		if facts[0] != strconv.Itoa(int(api["events"].(float64))) || facts[2] != api["last_hash"] {
			t.Fatalf("report %v, API %v", facts, api)
		}
		if max := eval[float64](p, `document.getElementById("verify-bar").max`); max < 1 {
			t.Fatalf("the progress bar never learned the total (max %v)", max)
		}
		if n := len(p.texts(".projections tbody tr")); n < 7 {
			t.Fatalf("%d projections reported", n)
		}
		p.screenshot("verify")
	})
	t.Run("a projection that disagrees with the journal is reported with its rows", func(t *testing.T) {
		if _, err := tl.pool.Exec(context.Background(), `UPDATE balances SET balance = balance + 1 WHERE account_id = $1`, s.b); err != nil {
			t.Fatal(err)
		}
		p.open("/console/verify")
		p.runVerify()
		if ok := eval[string](p, `document.querySelector(".report").dataset.ok`); ok != "false" {
			t.Fatal("a tampered balance verified")
		}
		mismatches := p.texts(".mismatches li")
		if len(mismatches) != 1 || !strings.Contains(mismatches[0], s.b) {
			t.Fatalf("mismatches listed: %v", mismatches)
		}
		p.screenshot("verify-mismatch")
	})
	t.Run("without JavaScript the form posts and the page shows the report", func(t *testing.T) {
		p.open("/console/verify")
		eval[any](p, `document.getElementById("verify-form").submit()`)
		time.Sleep(100 * time.Millisecond)
		p.run(chromedp.WaitVisible(chromedp.CSS(`#verify-report .report`)))
		if ok := eval[string](p, `document.querySelector(".report").dataset.ok`); ok != "false" {
			t.Fatal("the posted verify missed the tampered balance")
		}
	})
}
