package console_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// focused describes the element that has the keyboard focus.
func (p *page) focused() string {
	p.t.Helper()
	return eval[string](p, `(document.activeElement.className || document.activeElement.tagName) + ":" + document.activeElement.textContent.trim()`)
}

// tabTo presses Tab until the focused element's description is want.
func (p *page) tabTo(want string) {
	p.t.Helper()
	for range 40 {
		p.run(chromedp.KeyEvent(kb.Tab))
		if p.focused() == want {
			return
		}
	}
	p.t.Fatalf("Tab never reached %q", want)
}

// A keyboard alone signs in, skips to the content, moves through the
// navigation and runs a verify.
func TestKeyboardOnly(t *testing.T) {
	tl := newTally(t)
	tl.adjust(tl.open("ada", "NGN"), "credit", "5.00", "NGN")
	p := newPage(t, tl)
	p.open("/console/sign-in")
	if got := p.focused(); got != "INPUT:" {
		t.Fatalf("the key field does not have the focus on arrival: %s", got)
	}
	p.run(chromedp.KeyEvent(adminKey), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("nav")))
	p.run(chromedp.KeyEvent(kb.Tab))
	if got := p.focused(); got != "skip:Skip to content" {
		t.Fatalf("the first Tab reaches %q, want the skip link", got)
	}
	p.tabTo("INPUT:") // skip past the navigation and header to the journal's filters: they are reachable
	p.open("/console/journal")
	p.tabTo("A:Verify")
	p.run(chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("verify-form")))
	p.tabTo("BUTTON:Run verify")
	p.run(chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`#verify-report .report`)))
	if got := p.focused(); got[:3] != "ok:" {
		t.Fatalf("the report does not take the focus: %s", got)
	}
}
