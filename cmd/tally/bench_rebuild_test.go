package main

import (
	"testing"

	"github.com/cockroachdb/apd/v3"
)

// The replay's integer fast path gives exactly what decimal arithmetic
// gives, and falls back to decimals when an int64 would overflow or
// amounts differ in precision.
func TestRunningBalanceIsExact(t *testing.T) {
	tests := []struct {
		name    string
		amounts []string
		want    string
	}{
		{"cents", []string{"10.00", "-2.50", "0.01"}, "7.51"},
		{"negative total", []string{"-1.00", "-2.00"}, "-3.00"},
		{"overflow goes decimal", []string{"999999999999999999", "999999999999999999", "1"}, "1999999999999999999"},
		{"mixed precision goes decimal", []string{"1.5", "2.25"}, "3.75"},
		{"zero decimals", []string{"100", "-40"}, "60"},
	}
	arith := apd.BaseContext.WithPrecision(60)
	arith.Traps |= apd.Inexact | apd.Rounded
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b runningBalance
			for _, a := range tt.amounts {
				if err := b.add([]byte(a), arith); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.text(); got != tt.want {
				t.Fatalf("balance %s, want %s", got, tt.want)
			}
		})
	}
}
