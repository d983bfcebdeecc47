package httpapi

import (
	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
)

// Owner isolation. A key bound to an owner sees and spends only that owner's
// accounts; everything else is "not found", so that a key cannot even learn
// whether another owner's account exists. It may still pay into any account.
// An account's owner never changes, so checking it before handing a command
// to the journal cannot race with the decision.
//
// Routes use these helpers: visible for a single account, visibleAny for a
// record between accounts (a transfer, a refund of one), canSee for an
// account already loaded. For keys without an owner they cost nothing.

// canSee reports whether the caller may see the account.
func canSee(c echo.Context, a ledger.Account) bool {
	owner := principal(c).Owner
	return owner == "" || a.Owner == owner
}

// visible returns ENotFound unless the caller may see the account ref (an id
// or wallet number). Keys without an owner see every account, unchecked.
func (s *Server) visible(c echo.Context, ref string) error {
	if principal(c).Owner == "" {
		return nil
	}
	a, err := s.store.Account(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	if !canSee(c, a) {
		return notFound("account", ref)
	}
	return nil
}

// visibleAny returns nil if the caller may see at least one of the accounts
// refs, and ENotFound for the record (kind and id: "transfer", "tr_…") otherwise.
func (s *Server) visibleAny(c echo.Context, kind, id string, refs ...string) error {
	if principal(c).Owner == "" {
		return nil
	}
	for _, ref := range refs {
		a, err := s.store.Account(c.Request().Context(), ref)
		if ledger.ErrorCode(err) == ledger.ENotFound {
			continue
		}
		if err != nil {
			return err
		}
		if canSee(c, a) {
			return nil
		}
	}
	return notFound(kind, id)
}

// notFound is the answer for anything the caller may not see: the same
// words as for something that does not exist.
func notFound(kind, id string) error {
	return ledger.Errorf(ledger.ENotFound, "%s %s not found", kind, id)
}
