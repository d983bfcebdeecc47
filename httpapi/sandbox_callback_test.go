package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The deposit's callback_url is where the payer goes back to: the sandbox's
// result page links it as "Return to the merchant". Tally keeps it in the
// deposit.initiated event, which the page reads.
func TestSandboxResultLinksTheCallbackURL(t *testing.T) {
	h, _ := newSandboxHarness(t)
	a := h.open("ada", "NGN")
	for i, c := range []struct{ name, callback, want string }{
		{"a deposit with a callback_url links back to it", "https://shop.example.com/wallet?order=7&from=tally",
			`<a href="https://shop.example.com/wallet?order=7&amp;from=tally">Return to the merchant</a>`},
		{"a deposit without one shows no link", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"account": a, "amount": "10.00", "currency": "NGN", "gateway": "sandbox"}
			if c.callback != "" {
				body["callback_url"] = c.callback
			}
			dep := h.must(h.do("POST", "/v1/deposits", body, "Idempotency-Key", "callback-"+string(rune('a'+i))), 201).json(t)
			for _, action := range []string{"/pay", "/pay"} { // the second answers "Nothing sent", with the link too
				resp, err := http.Post(dep["checkout_url"].(string)+action, "application/x-www-form-urlencoded", nil)
				if err != nil {
					t.Fatal(err)
				}
				page, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if c.want != "" && !strings.Contains(string(page), c.want) {
					t.Errorf("result page (%d) lacks %s:\n%s", resp.StatusCode, c.want, page)
				}
				if c.want == "" && strings.Contains(string(page), "Return to the merchant") {
					t.Errorf("result page (%d) links back without a callback_url", resp.StatusCode)
				}
			}
		})
	}
	h.checkJournal("main")
}
