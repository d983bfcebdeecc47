package console

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ name, next, want string }{
		{"a console page is kept", "/console/accounts/acc_1?at=2026-01-01T00:00", "/console/accounts/acc_1?at=2026-01-01T00:00"},
		{"empty goes to the journal", "", "/console/journal"},
		{"another site is refused", "https://evil.example/console/", "/console/journal"},
		{"a scheme-relative URL is refused", "//evil.example/console/", "/console/journal"},
		{"a path outside the console is refused", "/v1/keys", "/console/journal"},
		{"a double slash after the prefix is refused", "/console//evil.example", "/console/journal"},
		{"a backslash is refused", "/console/\\evil.example", "/console/journal"},
		{"a header injection is refused", "/console/journal\r\nSet-Cookie: x=1", "/console/journal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeNext(tt.next); got != tt.want {
				t.Fatalf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		code ledger.Code
		want int
	}{
		{"a bad form is 400", ledger.EInvalidAmount, http.StatusBadRequest},
		{"no session is 401", ledger.EUnauthenticated, http.StatusUnauthorized},
		{"a missing token is 403", ledger.EForbidden, http.StatusForbidden},
		{"the proposer approving is 403", ledger.EApproverIsProposer, http.StatusForbidden},
		{"an unknown account is 404", ledger.ENotFound, http.StatusNotFound},
		{"a refused adjustment is 422", ledger.EInsufficientFunds, http.StatusUnprocessableEntity},
		{"a decided proposal is 422", ledger.EProposalNotPending, http.StatusUnprocessableEntity},
		{"a second verify is 429", ledger.ERateLimited, http.StatusTooManyRequests},
		{"a database outage is 503", ledger.EUnavailable, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusOf(tt.code); got != tt.want {
				t.Fatalf("StatusOf(%s) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
}

func TestBalanceChartStatesExactFigures(t *testing.T) {
	if balanceChart(nil) != "" {
		t.Fatal("a chart without entries")
	}
	var entries []pgjournal.Entry
	for i, after := range []string{"0.10", "-5.00", "12345678901234567.89"} {
		entries = append(entries, pgjournal.Entry{Position: int64(i + 1), BalanceAfter: ledger.MustMoney(after, "USD")})
	}
	svg := string(balanceChart(entries))
	for _, want := range []string{"from 0.10 at position 1", "to 12345678901234567.89 at position 3", "lowest -5.00", "highest 12345678901234567.89", "<polyline points="} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q: %s", want, svg)
		}
	}
}
