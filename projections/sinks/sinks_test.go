package sinks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/ledger"
)

func TestDefaultBackoffDoublesFromTenSecondsToAnHour(t *testing.T) {
	for attempt, want := range map[int]time.Duration{
		1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 8: 1280 * time.Second,
		9: 2560 * time.Second, 10: time.Hour, 20: time.Hour, 1000: time.Hour,
	} {
		if got := DefaultBackoff(attempt); got != want {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want)
		}
	}
}

func TestEventFilters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filters []string
		typ     ledger.EventType
		want    bool
	}{
		{"* matches everything", []string{"*"}, "hold.created", true},
		{"an exact type matches itself", []string{"deposit.succeeded"}, "deposit.succeeded", true},
		{"an exact type matches nothing else", []string{"deposit.succeeded"}, "deposit.failed", false},
		{"a prefix matches its types", []string{"deposit.*"}, "deposit.checkout_opened", true},
		{"a prefix does not match a longer word", []string{"deposit.*"}, "deposits.x", false},
		{"any filter of the list may match", []string{"refund.*", "transfer.completed"}, "transfer.completed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkFilters(tc.filters); err != nil {
				t.Fatal(err)
			}
			if got := matchesType(tc.filters, tc.typ); got != tc.want {
				t.Fatalf("matches %s: %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
	for _, bad := range [][]string{nil, {""}, {"Deposit.Succeeded"}, {"deposit.*.x"}, {"*.succeeded"}, {"deposit succeeded"}} {
		if checkFilters(bad) == nil {
			t.Errorf("filters %q are accepted", bad)
		}
	}
}

func TestAccountsOfNamesPostedAndMentionedAccounts(t *testing.T) {
	e := ledger.Event{Data: []byte(`{"deposit_id":"dep_1","account_id":"acc_A","nested":{"to":"acc_B"},"note":"x"}`)}
	got := strings.Join(accountsOf(e), ",")
	if !strings.Contains(got, "acc_A") || !strings.Contains(got, "acc_B") || strings.Contains(got, "dep_1") {
		t.Fatalf("accountsOf = %s", got)
	}
}

func TestVerifyRejectsOldAndForgedSignatures(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	h := Sign("whsec_a", now, body)
	for _, tc := range []struct {
		name   string
		secret string
		header string
		at     time.Time
		ok     bool
	}{
		{"the right secret verifies", "whsec_a", h, now, true},
		{"another secret does not", "whsec_b", h, now, false},
		{"a delivery older than the tolerance does not", "whsec_a", h, now.Add(6 * time.Minute), false},
		{"a header without v1 does not", "whsec_a", "t=1700000000", now, false},
		{"garbage does not", "whsec_a", "nonsense", now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.secret, tc.header, body, tc.at, 5*time.Minute); (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// The URL rules are checked again when Tally connects, on the resolved
// address: a name that resolves to a loopback address is refused even
// though no literal address appears in it.
func TestDeliveryClientChecksTheResolvedAddressAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	strict := URLRules{AllowHTTP: true}
	for _, url := range []string{"http://localhost" + port, srv.URL} {
		_, err := strict.Client(2 * time.Second).Get(url)
		if !errors.Is(err, errAddressNotAllowed) {
			t.Fatalf("GET %s with strict rules: %v, want the address refused", url, err)
		}
	}
	resp, err := URLRules{AllowHTTP: true, AllowPrivate: true}.Client(2 * time.Second).Get("http://localhost" + port)
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	resp.Body.Close()
}

func TestDeliveryClientDoesNotFollowRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := URLRules{AllowHTTP: true, AllowPrivate: true}.Client(2 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}
}
