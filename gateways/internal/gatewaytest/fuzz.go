package gatewaytest

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

// WebhookFuzz is the fuzz target every adapter runs over its webhook parser: arbitrary bodies,
// unsigned and then correctly signed, must never panic; an unsigned body is refused as an invalid
// signature; a signed one either parses into a well-formed notification or is ErrMalformed.
type WebhookFuzz struct {
	Gateway gateways.Gateway
	// Sign returns the headers that authenticate body.
	Sign func(body []byte) http.Header
	// Currency reports whether an accepted notification's currency is one the gateway takes.
	Currency func(string) bool
	// NeedsEventID says every accepted notification must carry an event id.
	NeedsEventID bool
	// Seeds are added to the corpus besides every testdata/*.json.
	Seeds [][]byte
	// Unverifiable reports bodies the gateway cannot verify even with the right headers (PayPal
	// verifies only JSON objects); they must be refused as an invalid signature. Nil: none.
	Unverifiable func(body []byte) bool
}

// Run seeds f and runs the target.
func (w WebhookFuzz) Run(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range w.Seeds {
		f.Add(s)
	}
	name := w.Gateway.Name()
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := w.Gateway.ParseWebhook(http.Header{}, body); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("unsigned body: err = %v", err)
		}
		n, err := w.Gateway.ParseWebhook(w.Sign(body), body)
		if w.Unverifiable != nil && w.Unverifiable(body) {
			if !errors.Is(err, gateways.ErrInvalidSignature) {
				t.Fatalf("unverifiable body: err = %v, want ErrInvalidSignature", err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, gateways.ErrMalformed) {
				t.Fatalf("signed body: err = %v, want ErrMalformed", err)
			}
			return
		}
		if n.Gateway != name || (w.NeedsEventID && n.EventID == "") {
			t.Fatalf("notification = %+v", n)
		}
		if n.Kind != gateways.Ignored {
			if !w.Currency(n.Currency) {
				t.Fatalf("currency %q accepted", n.Currency)
			}
			if n.Amount.Form != apd.Finite || n.Amount.Negative {
				t.Fatalf("amount %s accepted", n.Amount.String())
			}
		}
	})
}

// ISOCurrency reports whether c is an ISO 4217 code Tally knows.
func ISOCurrency(c string) bool {
	_, err := gateways.NormalizeCurrency(c)
	return err == nil
}
