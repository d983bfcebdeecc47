package ledger

import (
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		name, amount, currency string
		want                   string // canonical form; empty when the parse must fail
		code                   Code
	}{
		{"two-digit currency pads to its digits", "12.5", "USD", "12.50", ""},
		{"integer amount gets its fraction", "1000", "NGN", "1000.00", ""},
		{"zero-digit currency has no fraction", "1000", "JPY", "1000", ""},
		{"three-digit currency keeps three", "1.001", "KWD", "1.001", ""},
		{"18 integer digits are allowed", "999999999999999999.99", "USD", "999999999999999999.99", ""},
		{"more decimals than the currency has are rejected, not rounded", "1.001", "USD", "", EInvalidAmount},
		{"any fraction on a zero-digit currency is rejected", "1.0", "JPY", "", EInvalidAmount},
		{"zero is rejected", "0", "USD", "", EInvalidAmount},
		{"zero with a fraction is rejected", "0.00", "USD", "", EInvalidAmount},
		{"negative is rejected", "-1.00", "USD", "", EInvalidAmount},
		{"plus sign is rejected", "+1.00", "USD", "", EInvalidAmount},
		{"exponent is rejected", "1e3", "USD", "", EInvalidAmount},
		{"spaces are rejected", " 1.00", "USD", "", EInvalidAmount},
		{"19 integer digits are rejected", "1000000000000000000", "USD", "", EInvalidAmount},
		{"leading zeros are rejected", "01.00", "USD", "", EInvalidAmount},
		{"a bare point is rejected", "1.", "USD", "", EInvalidAmount},
		{"a leading point is rejected", ".5", "USD", "", EInvalidAmount},
		{"empty is rejected", "", "USD", "", EInvalidAmount},
		{"NaN is rejected", "NaN", "USD", "", EInvalidAmount},
		{"lower-case currency is unknown", "1.00", "usd", "", EUnknownCurrency},
		{"made-up currency is unknown", "1.00", "XYZ", "", EUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMoney(tt.amount, tt.currency)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseMoney(%q, %q) = %s, want error %s", tt.amount, tt.currency, m, tt.code)
				}
				if got := ErrorCode(err); got != tt.code {
					t.Fatalf("error code = %s, want %s (%v)", got, tt.code, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMoney(%q, %q): %v", tt.amount, tt.currency, err)
			}
			if got := m.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMoneyArithmeticIsExact(t *testing.T) {
	a := MustMoney("0.10", "USD")
	sum := Zero("USD")
	for range 10 {
		sum = sum.Add(a)
	}
	if sum.String() != "1.00" {
		t.Fatalf("ten times 0.10 = %s, want 1.00", sum)
	}
	big := MustMoney("999999999999999999.99", "USD")
	if got := big.Add(big).String(); got != "1999999999999999999.98" {
		t.Fatalf("sum of two maximal amounts = %s", got)
	}
	if got := a.Sub(MustMoney("0.30", "USD")).String(); got != "-0.20" {
		t.Fatalf("0.10 - 0.30 = %s, want -0.20", got)
	}
	if got := Zero("USD").Neg().String(); got != "0.00" {
		t.Fatalf("-0 renders as %q, want 0.00", got)
	}
}

func TestMoneyFromDecimalIsExact(t *testing.T) {
	for _, tc := range []struct{ in, cur, want string }{
		{"50.000", "NGN", "50.00"},
		{"100.00", "ISK", "100"},
		{"-3", "USD", "-3.00"},
	} {
		d, _, _ := apd.NewFromString(tc.in)
		m, err := MoneyFromDecimal(d, Currency(tc.cur))
		if err != nil || m.String() != tc.want {
			t.Errorf("MoneyFromDecimal(%s %s) = %s, %v; want %s", tc.in, tc.cur, m, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, cur string }{{"50.001", "NGN"}, {"100.50", "ISK"}, {"0.0001", "KWD"}} {
		d, _, _ := apd.NewFromString(tc.in)
		if m, err := MoneyFromDecimal(d, Currency(tc.cur)); err == nil {
			t.Errorf("MoneyFromDecimal(%s %s) = %s; it must refuse to round", tc.in, tc.cur, m)
		}
	}
}

func TestCurrencyTable(t *testing.T) {
	for code, want := range map[string]int{"USD": 2, "NGN": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "CLF": 4, "EUR": 2} {
		c, ok := LookupCurrency(code)
		if !ok || c.Exponent() != want {
			t.Errorf("%s: known=%v exponent=%d, want %d", code, ok, c.Exponent(), want)
		}
	}
	if len(minorUnits) < 150 {
		t.Errorf("currency table has %d entries; ISO 4217 has over 150", len(minorUnits))
	}
}

// FuzzParseMoney checks the API's amount rules on arbitrary text: parsing
// never panics; refusals carry invalid_amount or unknown_currency; what is
// accepted is a positive plain decimal of at most 18 integer digits and at
// most the currency's minor-unit digits (never rounded), whose canonical
// form has exactly those digits and parses back to the same amount.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"12.50", "1", "0.001", "1e5", "-3", "999999999999999999.99", "00", ".", "1.2.3",
		"1000000000000000000", "0.00", " 1", "1.", "+1", "١٢", "1_000", "0x10", "NaN", "Infinity"} {
		f.Add(s, "USD")
		f.Add(s, "JPY")
		f.Add(s, "KWD")
	}
	f.Add("12.5", "usd")
	f.Add("12.5", "XXX")
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := ParseMoney(amount, currency)
		if err != nil {
			if c := ErrorCode(err); c != EInvalidAmount && c != EUnknownCurrency {
				t.Fatalf("unexpected code %s", c)
			}
			return
		}
		if m.Sign() <= 0 {
			t.Fatalf("accepted non-positive %q", amount)
		}
		cur, _ := LookupCurrency(currency)
		if m.Currency() != cur || string(cur) != currency {
			t.Fatalf("%q %q parsed as %s", amount, currency, m.Currency())
		}
		whole, frac, _ := strings.Cut(amount, ".")
		if len(whole) == 0 || len(whole) > 18 || len(frac) > cur.Exponent() || strings.Trim(whole+frac, "0123456789") != "" {
			t.Fatalf("accepted %q %s, outside the wire syntax", amount, currency)
		}
		if _, f, _ := strings.Cut(m.String(), "."); len(f) != cur.Exponent() {
			t.Fatalf("canonical %q has %d decimals, %s has %d", m.String(), len(f), cur, cur.Exponent())
		}
		// The canonical form must parse back to the same amount.
		back, err := ParseMoney(m.String(), currency)
		if err != nil || back.Cmp(m) != 0 {
			t.Fatalf("canonical %q does not round-trip: %v", m.String(), err)
		}
	})
}
