package sandbox

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
)

// FuzzVerifySignature checks the Tally-Sandbox-Signature parser on its own:
// a valid signature verifies with any other parts beside it (other schemes,
// more v1 candidates, as during a secret rotation); the same signature with
// its timestamp moved, or outside the 300 s tolerance, does not; and no
// header made up without the secret verifies.
func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"id":"sbxevt_1","type":"payment.succeeded","data":{"reference":"DEP-1","amount":"5000.00","currency":"NGN"}}`)
	for _, s := range []string{"v0=abc", "v1=", "v1=zz", "x", "=", "t=", "v1=" + strings.Repeat("00", 32)} {
		f.Add(body, s, int64(0))
	}
	f.Add(body, "v1=00", int64(301))
	f.Add(body, "", int64(-301))
	f.Fuzz(func(t *testing.T, body []byte, extra string, shift int64) {
		now := time.Now()
		if err := VerifySignature(testSecret, extra, body, now); !errors.Is(err, gateways.ErrInvalidSignature) {
			t.Fatalf("made-up header %q: err = %v, want an invalid signature", extra, err)
		}
		valid := Sign(testSecret, body, now)
		// Any part that does not set t leaves a valid signature valid.
		part := strings.ReplaceAll(extra, ",", "")
		if k, _, _ := strings.Cut(strings.TrimSpace(part), "="); k == "t" {
			part = "x" + part
		}
		for _, h := range []string{part + "," + valid, valid + "," + part} {
			if err := VerifySignature(testSecret, h, body, now); err != nil {
				t.Fatalf("valid signature beside %q refused: %v", part, err)
			}
		}
		// Moving the signed timestamp breaks the signature; signing at a
		// time outside the tolerance is refused even with the right MAC.
		ts, sig, _ := strings.Cut(strings.TrimPrefix(valid, "t="), ",")
		unix, _ := strconv.ParseInt(ts, 10, 64)
		if moved := "t=" + strconv.FormatInt(unix+1, 10) + "," + sig; VerifySignature(testSecret, moved, body, now) == nil {
			t.Fatalf("signature verified with its timestamp changed: %q", moved)
		}
		// Signatures carry whole seconds, so the age is measured from the
		// signed second.
		at := time.Unix(now.Add(time.Duration(shift%100_000)*time.Second).Unix(), 0)
		err := VerifySignature(testSecret, Sign(testSecret, body, at), body, now)
		if age := now.Sub(at); (age > Tolerance || age < -Tolerance) != (err != nil) {
			t.Fatalf("signed %v from now: err = %v", at.Sub(now), err)
		}
	})
}
