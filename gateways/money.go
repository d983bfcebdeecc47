package gateways

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// ErrInvalidAmount means an amount cannot be expressed exactly in the form a gateway needs:
// more fraction digits than the currency's minor unit, negative, not finite, or too large.
var ErrInvalidAmount = errors.New("invalid amount")

// maxDigits bounds the amounts this package parses. No real payment needs more, and the bound
// keeps hostile inputs ("1e999999999") from turning into huge computations.
const maxDigits = 40

// MajorUnits converts a count of minor units into major units with exactly exponent fraction
// digits, so MajorUnits(500000, 2) is 5000.00. It is always exact.
func MajorUnits(minor int64, exponent int) apd.Decimal {
	var d apd.Decimal
	d.SetFinite(minor, -int32(exponent))
	return d
}

// ParseMinorUnits converts a count of minor units written as plain decimal digits (as Paystack
// sends "5000" in refund events) into major units, exactly like MajorUnits.
func ParseMinorUnits(text string, exponent int) (apd.Decimal, error) {
	var d apd.Decimal
	if text == "" || len(text) > maxDigits || strings.TrimLeft(text, "0123456789") != "" {
		return d, fmt.Errorf("minor units %q are not a whole number: %w", text, ErrInvalidAmount)
	}
	if _, _, err := d.SetString(text); err != nil {
		return d, fmt.Errorf("minor units %q: %w", text, ErrInvalidAmount)
	}
	d.Exponent = -int32(exponent)
	return d, nil
}

// ParseAmount parses a decimal number exactly, as written in JSON ("150000.5", "2e3"). It never
// goes through float64, so what the gateway wrote is what the ledger sees.
// Negative, non-finite and absurdly long numbers are rejected.
func ParseAmount(text string) (apd.Decimal, error) {
	var d apd.Decimal
	if text == "" || len(text) > maxDigits {
		return d, fmt.Errorf("amount %q: %w", text, ErrInvalidAmount)
	}
	if _, _, err := d.SetString(text); err != nil {
		return d, fmt.Errorf("amount %q: %w", text, ErrInvalidAmount)
	}
	if d.Form != apd.Finite || d.Negative || d.Exponent < -maxDigits || d.Exponent > maxDigits {
		return d, fmt.Errorf("amount %q: %w", text, ErrInvalidAmount)
	}
	return d, nil
}

// MinorUnits converts a major-unit amount into a whole count of minor units with the given
// exponent. It never rounds: an amount with more fraction digits than the exponent allows
// ("1.001" for a two-digit currency) is an error wrapping ErrInvalidAmount.
func MinorUnits(amount *apd.Decimal, exponent int) (int64, error) {
	if amount.Form != apd.Finite || amount.Negative {
		return 0, fmt.Errorf("amount %s: %w", amount.String(), ErrInvalidAmount)
	}
	if amount.Exponent < -maxDigits || amount.Exponent > maxDigits {
		return 0, fmt.Errorf("amount %s is out of range: %w", amount.String(), ErrInvalidAmount)
	}
	var scaled apd.Decimal
	scaled.Set(amount)
	scaled.Exponent += int32(exponent)
	n, err := scaled.Int64()
	if err != nil {
		return 0, fmt.Errorf("amount %s has more than %d fraction digits or is too large: %w",
			amount.String(), exponent, ErrInvalidAmount)
	}
	return n, nil
}

// FormatAmount writes a major-unit amount in plain positional notation ("5000.00"), the form
// JSON numbers and decimal strings sent to gateways need.
func FormatAmount(amount *apd.Decimal) string {
	return amount.Text('f')
}

// NormalizeCurrency upper-cases a currency code and checks that it is three ASCII letters.
// Stripe writes codes in lower case; the ledger speaks ISO 4217 upper case.
func NormalizeCurrency(code string) (string, error) {
	if len(code) != 3 {
		return "", fmt.Errorf("currency %q is not a three-letter code", code)
	}
	var up [3]byte
	for i := 0; i < 3; i++ {
		c := code[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			return "", fmt.Errorf("currency %q is not a three-letter code", code)
		}
		up[i] = c
	}
	return string(up[:]), nil
}
