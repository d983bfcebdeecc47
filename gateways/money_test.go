package gateways

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
)

func dec(t testing.TB, s string) *apd.Decimal {
	t.Helper()
	d, _, err := apd.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMajorUnits(t *testing.T) {
	tests := []struct {
		name     string
		minor    int64
		exponent int
		want     string
	}{
		{"500000 kobo is 5000.00 naira", 500000, 2, "5000.00"},
		{"zero-decimal yen is unchanged", 5000, 0, "5000"},
		{"three-decimal fils keep three digits", 5125, 3, "5.125"},
		{"one minor unit keeps its leading zeros", 1, 2, "0.01"},
		{"zero keeps the currency's digits", 0, 2, "0.00"},
		{"the largest int64 is exact", math.MaxInt64, 2, "92233720368547758.07"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MajorUnits(tt.minor, tt.exponent)
			if got := FormatAmount(&d); got != tt.want {
				t.Fatalf("MajorUnits(%d, %d) = %s, want %s", tt.minor, tt.exponent, got, tt.want)
			}
		})
	}
}

func TestParseMinorUnits(t *testing.T) {
	tests := []struct {
		name, text string
		exponent   int
		want       string
		ok         bool
	}{
		{"a string of kobo converts like a number", "5000", 2, "50.00", true},
		{"more digits than int64 holds stay exact", "123456789012345678901234567890", 2, "1234567890123456789012345678.90", true},
		{"leading zeros are harmless", "007", 2, "0.07", true},
		{"a fraction of a minor unit is refused", "100.5", 2, "", false},
		{"a sign is refused", "-100", 2, "", false},
		{"an exponent is refused", "1e3", 2, "", false},
		{"empty text is refused", "", 2, "", false},
		{"spaces are refused", " 100", 2, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseMinorUnits(tt.text, tt.exponent)
			if !tt.ok {
				if !errors.Is(err, ErrInvalidAmount) {
					t.Fatalf("err = %v, want ErrInvalidAmount", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatAmount(&d); got != tt.want {
				t.Fatalf("= %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		name, text, want string
		ok               bool
	}{
		{"a JSON number with a fraction stays exact", "150000.5", "150000.5", true},
		{"a number float64 cannot hold stays exact", "90071992547409930.01", "90071992547409930.01", true},
		{"an exponent is read exactly", "2.5e3", "2500", true},
		{"zero is a valid amount", "0", "0", true},
		{"a negative amount is refused", "-1", "", false},
		{"NaN is refused", "NaN", "", false},
		{"infinity is refused", "Infinity", "", false},
		{"a huge exponent is refused", "1e999999999", "", false},
		{"an absurdly long number is refused", strings.Repeat("9", 41), "", false},
		{"text is refused", "five", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseAmount(tt.text)
			if !tt.ok {
				if !errors.Is(err, ErrInvalidAmount) {
					t.Fatalf("err = %v, want ErrInvalidAmount", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatAmount(&d); got != tt.want {
				t.Fatalf("= %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMinorUnits(t *testing.T) {
	tests := []struct {
		name     string
		amount   string
		exponent int
		want     int64
		ok       bool
	}{
		{"5000.00 naira is 500000 kobo", "5000.00", 2, 500000, true},
		{"12.5 dollars is 1250 cents", "12.5", 2, 1250, true},
		{"5000 yen is 5000 in a zero-decimal currency", "5000", 0, 5000, true},
		{"5000.00 rupiah is payable where only whole rupiah are", "5000.00", 0, 5000, true},
		{"1.125 dinar is 1125 fils", "1.125", 3, 1125, true},
		{"an exponent-form amount converts", "1E+2", 2, 10000, true},
		{"1.001 dollars is never rounded", "1.001", 2, 0, false},
		{"half a yen is never rounded", "0.5", 0, 0, false},
		{"a negative amount is refused", "-1.00", 2, 0, false},
		{"an amount beyond int64 minor units is refused", "92233720368547758.08", 2, 0, false},
		{"NaN is refused", "NaN", 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MinorUnits(dec(t, tt.amount), tt.exponent)
			if !tt.ok {
				if !errors.Is(err, ErrInvalidAmount) {
					t.Fatalf("err = %v, want ErrInvalidAmount", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MinorUnits(%s, %d) = %d, %v; want %d", tt.amount, tt.exponent, got, err, tt.want)
			}
		})
	}
}

func TestMinorUnitsDoesNotChangeItsArgument(t *testing.T) {
	d := dec(t, "12.50")
	if _, err := MinorUnits(d, 2); err != nil {
		t.Fatal(err)
	}
	if d.Text('f') != "12.50" {
		t.Fatalf("argument changed to %s", d.Text('f'))
	}
}

func TestNormalizeCurrency(t *testing.T) {
	tests := []struct{ in, want string }{
		{"usd", "USD"}, {"NGN", "NGN"}, {"Jpy", "JPY"},
		{"", ""}, {"US", ""}, {"USDT", ""}, {"U$D", ""}, {"ıa", ""}, {"12a", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeCurrency(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeCurrency(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeCurrency(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseAmount checks that any accepted amount converts to minor units and back without
// changing its value, and that parsing never panics.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"150000.5", "0.01", "1e3", "-1", "NaN", "5000.00", "9223372036854775807", "1E-40"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, text string, exp uint8) {
		exponent := int(exp % 4)
		d, err := ParseAmount(text)
		if err != nil {
			return
		}
		minor, err := MinorUnits(&d, exponent)
		if err != nil {
			return
		}
		back := MajorUnits(minor, exponent)
		if back.Cmp(&d) != 0 {
			t.Fatalf("%s -> %d -> %s", text, minor, back.String())
		}
		again, err := ParseMinorUnits(strconv.FormatInt(minor, 10), exponent)
		if err != nil || again.Cmp(&d) != 0 {
			t.Fatalf("ParseMinorUnits(%d) = %s, %v", minor, again.String(), err)
		}
	})
}
