package paystack

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

// FuzzParseWebhook feeds arbitrary bodies, correctly signed so they reach the parser, and checks
// that parsing never panics and that whatever it accepts is a well-formed notification.
func FuzzParseWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event":"charge.success","data":{"amount":"1","currency":"NGN","metadata":"{\"tally_account\":1}"}}`))
	g := newTestGateway(f)

	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := g.ParseWebhook(http.Header{}, body); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("unsigned body: err = %v", err)
		}
		n, err := g.ParseWebhook(signed(body), body)
		if err != nil {
			if !errors.Is(err, gateways.ErrMalformed) {
				t.Fatalf("signed body: err = %v, want ErrMalformed", err)
			}
			return
		}
		if n.Gateway != Name || n.EventID == "" {
			t.Fatalf("notification = %+v", n)
		}
		if n.Kind != gateways.Ignored {
			if _, ok := Exponent(n.Currency); !ok {
				t.Fatalf("currency %q accepted", n.Currency)
			}
			if n.Amount.Form != apd.Finite || n.Amount.Negative {
				t.Fatalf("amount %s accepted", n.Amount.String())
			}
		}
	})
}
