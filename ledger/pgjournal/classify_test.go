package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tallyledger/tally/ledger"
)

// The errors a database outage produced in TestDatabaseOutage (httpapi),
// in the shapes pgx returns them, must all read as "unavailable" (503, retry
// with the same key); a query the database refused must not.
func TestUnavailableClassifiesOutageErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A real connection error: nothing listens on port 1.
	_, refused := pgconn.Connect(ctx, "postgres://tally@127.0.0.1:1/tally?sslmode=disable&connect_timeout=2")
	if refused == nil {
		t.Fatal("connected to port 1")
	}
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"a refused connection is unavailable", refused, true},
		{"a server shutting down (57P03) is unavailable", &pgconn.PgError{Code: "57P03", Message: "the database system is shutting down"}, true},
		{"a session ended by the administrator (57P01) is unavailable, also wrapped", fmt.Errorf("projection transfers: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"a connection exception (class 08) is unavailable", &pgconn.PgError{Code: "08006"}, true},
		{"a connection cut mid-message is unavailable", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"a deadline passed waiting for a hung database is unavailable", fmt.Errorf("acquire: %w", context.DeadlineExceeded), true},
		{"a unique violation is not", &pgconn.PgError{Code: "23505"}, false},
		{"a serialization failure is not", &pgconn.PgError{Code: "40001"}, false},
		{"a business refusal is not", ledger.Errorf(ledger.EInsufficientFunds, "no"), false},
		{"an unknown error is not", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unavailable(tc.err); got != tc.unavailable {
				t.Fatalf("Unavailable(%v) = %v", tc.err, got)
			}
			code := ledger.ErrorCode(classify(tc.err))
			if want := tc.unavailable; (code == ledger.EUnavailable) != want {
				t.Fatalf("classify(%v) has code %s", tc.err, code)
			}
		})
	}
}
