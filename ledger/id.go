package ledger

import (
	"crypto/rand"
	"math/big"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Id prefixes: every id says what it names.
const (
	PrefixAccount    = "acc"
	PrefixEvent      = "evt"
	PrefixTransfer   = "tr"
	PrefixDeposit    = "dep"
	PrefixRefund     = "ref"
	PrefixAdjustment = "adj"
	PrefixKey        = "key"
	PrefixHold       = "hold"
	PrefixTxn        = "txn"
)

// NewID returns a new prefixed ULID such as "tr_01JD…". ULIDs sort by creation
// time, which keeps ids index-friendly and lists stable.
func NewID(prefix string) string {
	return prefix + "_" + ulid.Make().String()
}

// HasPrefix reports whether id is a well-formed id with the given prefix.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}

// NewWalletNumber returns a random 10-digit wallet number whose last digit is
// a Luhn check digit, so that a mistyped number is rejected instead of paying
// a stranger.
func NewWalletNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000))
	if err != nil {
		panic(err)
	}
	body := big.NewInt(0).Add(n, big.NewInt(100_000_000)).String()
	return body + string(rune('0'+luhnDigit(body)))
}

// ValidWalletNumber reports whether s is 10 digits with a correct Luhn check digit.
func ValidWalletNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return int(s[9]-'0') == luhnDigit(s[:9])
}

// luhnDigit computes the Luhn check digit for the digits in body.
func luhnDigit(body string) int {
	sum := 0
	double := true // the rightmost body digit is doubled once the check digit is appended
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}
