package sandbox

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/tallyledger/tally/gateways"
)

// FuzzParseWebhook feeds arbitrary bodies and signature headers. A correctly signed body must
// parse or be ErrMalformed, never panic; an arbitrary header must never verify by accident.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"id":"sbxevt_1","type":"payment.succeeded","data":{"reference":"DEP-1","gateway_reference":"sbx_1","amount":"5000.00","currency":"NGN","metadata":{"tally_account":"acc_1"}}}`), "t=1,v1=00")
	f.Add([]byte(`{"id":"sbxevt_3","type":"refund.succeeded","data":{"reference":"DEP-1","refund_reference":"sbxre_1","amount":"10.50","currency":"ngn","metadata":{"tally_refund":"ref_1"}}}`), "v1=,t=")
	f.Add([]byte(`{"id":"e","type":"payment.declined","data":{"amount":"1e-999999","currency":"NGN"}}`), "t=99999999999999999999,v1=zz")
	g, err := New(Config{BaseURL: "http://tally.test", Secret: testSecret, Lookup: deposits(f)})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, header string) {
		h := http.Header{}
		h.Set(SignatureHeader, header)
		if _, err := g.ParseWebhook(h, body); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("arbitrary header %q verified: err = %v", header, err)
		}
		h.Set(SignatureHeader, Sign(testSecret, body, time.Now()))
		n, err := g.ParseWebhook(h, body)
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
			if _, err := gateways.NormalizeCurrency(n.Currency); err != nil {
				t.Fatalf("currency %q accepted", n.Currency)
			}
			if n.Amount.Form != apd.Finite || n.Amount.Negative {
				t.Fatalf("amount %s accepted", n.Amount.String())
			}
		}
	})
}
