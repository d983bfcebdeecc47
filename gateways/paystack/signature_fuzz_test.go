package paystack

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tallyledger/tally/gateways"
)

// FuzzSignatureHeader feeds arbitrary x-paystack-signature headers: one that
// is not the body's HMAC-SHA512 must be refused as an invalid signature -
// never accepted, and never mistaken for a verified body Tally could not read
// (which would be recorded) - and the right one is accepted in either hex case.
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(`{"event":"charge.success","data":{"id":1,"reference":"DEP-1","amount":500000,"currency":"NGN"}}`)
	good := sign(testSecret, body)
	for _, h := range []string{"", good, strings.ToUpper(good), good + "00", good[:64], " " + good, "zz" + good[2:], strings.Repeat("0", 128), "sha512=" + good} {
		f.Add(body, h)
	}
	g := newTestGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		h := http.Header{}
		h.Set(SignatureHeader, header)
		_, err := g.ParseWebhook(h, body)
		mac := hmac.New(sha512.New, []byte(testSecret))
		mac.Write(body)
		if got, derr := hex.DecodeString(header); derr == nil && bytes.Equal(got, mac.Sum(nil)) {
			if errors.Is(err, gateways.ErrInvalidSignature) {
				t.Fatalf("the body's own signature %q was refused: %v", header, err)
			}
			return
		}
		if !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("header %q: err = %v, want an invalid signature", header, err)
		}
	})
}
