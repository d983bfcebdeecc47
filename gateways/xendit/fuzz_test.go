package xendit

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

// FuzzParseWebhook feeds arbitrary bodies with the right callback token and checks that parsing
// never panics and that whatever it accepts is a well-formed notification.
func FuzzParseWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x","external_id":"DEP-1","status":"PAID","paid_amount":1e400,"currency":"IDR"}`))
	g := newTestGateway(f)

	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := g.ParseWebhook(http.Header{}, body); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("body without token: err = %v", err)
		}
		n, err := g.ParseWebhook(authed(), body)
		if err != nil {
			if !errors.Is(err, gateways.ErrMalformed) {
				t.Fatalf("authenticated body: err = %v, want ErrMalformed", err)
			}
			return
		}
		if n.Gateway != Name || n.EventID == "" {
			t.Fatalf("notification = %+v", n)
		}
		if n.Kind != gateways.Ignored {
			if _, err := gateways.NormalizeCurrency(n.Currency); err != nil {
				t.Fatalf("currency %q accepted", n.Currency)
			}
			if n.Amount.Form != apd.Finite || n.Amount.Negative {
				t.Fatalf("amount %s accepted", n.Amount.String())
			}
		}
	})
}
