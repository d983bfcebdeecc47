package ledger

import "strings"

// Currency is an ISO 4217 alphabetic code known to Tally, such as "NGN".
type Currency string

// Exponent is the currency's number of minor-unit digits (USD 2, JPY 0, KWD 3).
func (c Currency) Exponent() int { return minorUnits[string(c)] }

// LookupCurrency returns the currency for an upper-case ISO 4217 code.
// Lower-case or unknown codes are not currencies: "usd" is refused, not guessed.
func LookupCurrency(code string) (Currency, bool) {
	_, ok := minorUnits[code]
	return Currency(code), ok
}

// minorUnits is ISO 4217's list of current currencies and fund codes with their
// minor-unit digits. Codes whose minor unit ISO marks "N.A." (gold, SDR, test
// codes) are left out: they are not money a wallet holds.
var minorUnits = func() map[string]int {
	m := make(map[string]int, 180)
	add := func(exp int, codes string) {
		for _, c := range strings.Fields(codes) {
			m[c] = exp
		}
	}
	add(0, "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF")
	add(3, "BHD IQD JOD KWD LYD OMR TND")
	add(4, "CLF UYW")
	add(2, `AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
		BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP
		DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS
		INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT
		MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR
		PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP
		SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER
		ZAR ZMW ZWG ZWL`)
	return m
}()
