package ledger

import "testing"

func TestWalletNumbers(t *testing.T) {
	for range 1000 {
		n := NewWalletNumber()
		if !ValidWalletNumber(n) {
			t.Fatalf("generated %s fails its own check digit", n)
		}
		// Any single-digit typo must be caught by the Luhn digit.
		for i := range 10 {
			b := []byte(n)
			b[i] = '0' + (b[i]-'0'+1)%10
			if ValidWalletNumber(string(b)) {
				t.Fatalf("typo %s of %s passes the check", b, n)
			}
		}
	}
	for _, bad := range []string{"", "123", "12345678901", "abcdefghij"} {
		if ValidWalletNumber(bad) {
			t.Errorf("%q accepted as a wallet number", bad)
		}
	}
	// A known Luhn example: 7992739871 + check digit 3.
	if !ValidWalletNumber("7992739871"[:9] + string(rune('0'+luhnDigit("799273987")))) {
		t.Error("Luhn self-check failed")
	}
	if luhnDigit("7992739871") != 3 {
		t.Errorf("luhnDigit(7992739871) = %d, want 3", luhnDigit("7992739871"))
	}
}

func TestIDs(t *testing.T) {
	id := NewID(PrefixTransfer)
	if !HasPrefix(id, PrefixTransfer) || HasPrefix(id, PrefixAccount) {
		t.Fatalf("HasPrefix wrong for %s", id)
	}
	if HasPrefix("tr_notaulid", PrefixTransfer) {
		t.Fatal("malformed ULID accepted")
	}
	if a, b := NewID("evt"), NewID("evt"); a >= b {
		t.Fatalf("ids do not sort by creation: %s >= %s", a, b)
	}
}
