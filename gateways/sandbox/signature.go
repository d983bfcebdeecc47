package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tallyledger/tally/gateways"
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">", Stripe's scheme.
const SignatureHeader = "Tally-Sandbox-Signature"

// Tolerance is how far a signature's timestamp may be from now. It bounds how long a captured
// webhook can be replayed, as Stripe's 300 s do.
const Tolerance = 300 * time.Second

// Sign returns the SignatureHeader value for body signed at t with secret.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a SignatureHeader value against body: any v1 may match (so a secret
// can be rotated), comparisons are constant-time, and a timestamp more than Tolerance away
// from now is rejected. Errors wrap gateways.ErrInvalidSignature.
func VerifySignature(secret []byte, header string, body []byte, now time.Time) error {
	if header == "" {
		return fmt.Errorf("%s: no %s header: %w", Name, SignatureHeader, gateways.ErrInvalidSignature)
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%s: %s header needs t and v1: %w", Name, SignatureHeader, gateways.ErrInvalidSignature)
	}
	if age := now.Sub(time.Unix(unix, 0)); age > Tolerance || age < -Tolerance {
		return fmt.Errorf("%s: signature timestamp is %s away from now: %w", Name, age.Round(time.Second), gateways.ErrInvalidSignature)
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%s: signature mismatch: %w", Name, gateways.ErrInvalidSignature)
}
