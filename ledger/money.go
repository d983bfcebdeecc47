package ledger

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// Money is an exact amount of one currency. The zero value is not valid money;
// build it with ParseMoney, MoneyFromDecimal or Zero.
type Money struct {
	amount   apd.Decimal
	currency Currency
}

// arith is the context for all money arithmetic: wide enough for any sum of
// 18-digit amounts, and trapping on any rounding so nothing is lost silently.
var arith = apd.Context{
	Precision:   60,
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.DefaultTraps | apd.Inexact | apd.Rounded,
}

// amountSyntax is the wire form of an amount: no sign, exponent or spaces,
// at most 18 integer digits and no superfluous leading zeros.
var amountSyntax = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})(\.[0-9]+)?$`)

// ParseMoney parses a wire amount ("12.5") in the given currency. It returns
// EUnknownCurrency for a code Tally does not know and EInvalidAmount when the
// text is not a positive decimal with at most the currency's minor-unit digits.
// Nothing is ever rounded.
func ParseMoney(amount, currency string) (Money, error) {
	cur, ok := LookupCurrency(currency)
	if !ok {
		return Money{}, Errorf(EUnknownCurrency, "unknown currency %q: use an upper-case ISO 4217 code such as NGN or USD", currency).WithField("currency")
	}
	if !amountSyntax.MatchString(amount) {
		return Money{}, Errorf(EInvalidAmount, "amount must be a decimal string such as \"12.50\": digits, an optional fraction, no sign or exponent, at most 18 integer digits").WithField("amount")
	}
	if i := strings.IndexByte(amount, '.'); i >= 0 && len(amount)-i-1 > cur.Exponent() {
		return Money{}, Errorf(EInvalidAmount, "%s allows at most %d decimal places; %q would need rounding", cur, cur.Exponent(), amount).WithField("amount")
	}
	var m Money
	if _, _, err := m.amount.SetString(amount); err != nil {
		return Money{}, Errorf(EInvalidAmount, "amount %q is not a decimal", amount).WithField("amount")
	}
	if m.amount.Sign() <= 0 {
		return Money{}, Errorf(EInvalidAmount, "amount must be greater than zero").WithField("amount")
	}
	m.currency = cur
	return m, nil
}

// exact is arith for rescaling: dropping trailing zeros is fine ("50.000"
// is 50.00), losing any other digit is not.
var exact = func() apd.Context {
	c := arith
	c.Traps = apd.DefaultTraps | apd.Inexact
	return c
}()

// MoneyFromDecimal wraps an exact decimal (for example read from NUMERIC) as
// money of the currency. It refuses values that the currency's digits cannot
// hold exactly.
func MoneyFromDecimal(d *apd.Decimal, cur Currency) (Money, error) {
	var m Money
	m.currency = cur
	if _, err := exact.Quantize(&m.amount, d, -int32(cur.Exponent())); err != nil {
		return Money{}, fmt.Errorf("ledger: %s is not an exact %s amount: %w", d, cur, err)
	}
	return m, nil
}

// MustMoney is ParseMoney for amounts written in code and tests; it panics on error.
// Unlike ParseMoney it accepts a leading minus sign and zero.
func MustMoney(amount, currency string) Money {
	cur, ok := LookupCurrency(currency)
	if !ok {
		panic("ledger: unknown currency " + currency)
	}
	d, _, err := apd.NewFromString(amount)
	if err != nil {
		panic(err)
	}
	m, err := MoneyFromDecimal(d, cur)
	if err != nil {
		panic(err)
	}
	return m
}

// Zero is no money of the currency.
func Zero(cur Currency) Money {
	var m Money
	m.currency = cur
	m.amount.SetFinite(0, -int32(cur.Exponent()))
	return m
}

// Currency is the money's currency.
func (m Money) Currency() Currency { return m.currency }

// Decimal returns a copy of the exact amount.
func (m Money) Decimal() *apd.Decimal { return new(apd.Decimal).Set(&m.amount) }

// Sign is -1, 0 or +1.
func (m Money) Sign() int { return m.amount.Sign() }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.amount.IsZero() }

// Cmp compares two amounts of the same currency.
func (m Money) Cmp(o Money) int {
	m.mustMatch(o)
	return m.amount.Cmp(&o.amount)
}

// Add returns m + o. Both must be of the same currency.
func (m Money) Add(o Money) Money {
	m.mustMatch(o)
	var r Money
	r.currency = m.currency
	if _, err := arith.Add(&r.amount, &m.amount, &o.amount); err != nil {
		panic(fmt.Sprintf("ledger: exact addition failed: %v", err))
	}
	return r
}

// Sub returns m - o. Both must be of the same currency.
func (m Money) Sub(o Money) Money { return m.Add(o.Neg()) }

// Neg returns -m.
func (m Money) Neg() Money {
	var r Money
	r.currency = m.currency
	r.amount.Neg(&m.amount)
	return r
}

// String is the canonical wire form with exactly the currency's digits ("12.50").
func (m Money) String() string {
	var q apd.Decimal
	if _, err := exact.Quantize(&q, &m.amount, -int32(m.currency.Exponent())); err != nil {
		panic(fmt.Sprintf("ledger: %s does not fit %s: %v", m.amount.String(), m.currency, err))
	}
	if q.IsZero() {
		q.Negative = false
	}
	return q.Text('f')
}

func (m Money) mustMatch(o Money) {
	if m.currency != o.currency {
		panic(fmt.Sprintf("ledger: currency mismatch %s vs %s", m.currency, o.currency))
	}
}
