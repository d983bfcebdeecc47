package httpapi

import (
	"context"

	"github.com/tallyledger/tally/gateways/sandbox"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// SandboxLookup is how the sandbox gateway's checkout pages find a deposit
// by its reference: only sandbox deposits are shown.
func SandboxLookup(store *pgjournal.Store) func(ctx context.Context, reference string) (sandbox.CheckoutInfo, error) {
	return func(ctx context.Context, reference string) (sandbox.CheckoutInfo, error) {
		d, err := store.Deposit(ctx, reference)
		if ledger.ErrorCode(err) == ledger.ENotFound || (err == nil && d.Gateway != sandbox.Name) {
			return sandbox.CheckoutInfo{}, sandbox.ErrNotFound
		}
		if err != nil {
			return sandbox.CheckoutInfo{}, err
		}
		callback, err := store.DepositCallbackURL(ctx, d.Book, d.ID)
		if err != nil {
			return sandbox.CheckoutInfo{}, err
		}
		return sandbox.CheckoutInfo{
			Reference: d.Reference, GatewayReference: d.GatewayReference, Amount: *d.Amount.Decimal(),
			Currency: string(d.Amount.Currency()), Account: d.Account, Status: string(d.Status),
			CallbackURL: callback,
		}, nil
	}
}
