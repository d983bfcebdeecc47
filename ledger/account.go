package ledger

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// AccountKind separates customer wallets from the system accounts that stand
// for the outside world.
type AccountKind string

// Account kinds.
const (
	// KindWallet is a customer's account; no API request may drive it below
	// minus its overdraft limit.
	KindWallet AccountKind = "wallet"
	// KindSystem is a per-book, per-currency account such as "adjustments" or
	// "gateway:paystack"; it may be negative.
	KindSystem AccountKind = "system"
)

// AccountStatus is where an account is in its life.
type AccountStatus string

// Account statuses.
const (
	StatusActive AccountStatus = "active"
	StatusFrozen AccountStatus = "frozen"
	StatusClosed AccountStatus = "closed"
)

// System account names, one account of each per book and currency.
const (
	SystemAdjustments = "adjustments"
)

// DefaultBook is the book accounts open in when none is named.
const DefaultBook = "main"

// Account event types.
const (
	AccountOpened       EventType = "account.opened"
	AccountFrozen       EventType = "account.frozen"
	AccountUnfrozen     EventType = "account.unfrozen"
	AccountClosed       EventType = "account.closed"
	AccountLimitChanged EventType = "account.limit_changed"
)

// Account is an account as the ledger decides on it: identity, status and balance.
type Account struct {
	ID           string
	Book         string
	WalletNumber string // wallets only
	Name         string // system accounts only
	Owner        string
	Currency     Currency
	Kind         AccountKind
	Status       AccountStatus
	Metadata     map[string]string
	CreatedAt    time.Time
	Balance      Money
	// Held is the sum of the account's pending holds: money that has left
	// Balance for holds:pending and may still come back.
	Held Money
	// OverdraftLimit is how far below zero requests may take a wallet.
	OverdraftLimit Money
}

// HeldOrZero is Held, or zero of the account's currency if it was never set.
func (a Account) HeldOrZero() Money {
	if a.Held.Currency() == "" {
		return Zero(a.Currency)
	}
	return a.Held
}

// Limit is the overdraft limit, or zero of the account's currency if none was set.
func (a Account) Limit() Money {
	if a.OverdraftLimit.Currency() == "" {
		return Zero(a.Currency)
	}
	return a.OverdraftLimit
}

// covers reports whether the wallet may pay amount: its balance less the
// amount stays at or above minus its overdraft limit.
func (a *Account) covers(amount Money) bool {
	return a.Balance.Sub(amount).Add(a.Limit()).Sign() >= 0
}

// mayPay is the one funds rule of every debit a request makes of a wallet
// (transfers, holds, withdrawals, adjustments and every kind of refund): the
// wallet's balance, which already excludes its held money, less the amount
// must stay at or above minus its overdraft limit. A refusal is
// insufficient_funds on the request's amount. System accounts stand for the
// outside world and are never checked (no request debits them directly).
func (a *Account) mayPay(amount Money) error {
	if a.Kind == KindSystem || a.covers(amount) {
		return nil
	}
	return a.insufficient(amount).WithField("amount")
}

// insufficient is the refusal of a payment the account does not cover.
func (a *Account) insufficient(amount Money) *Error {
	if a.Limit().IsZero() {
		return Errorf(EInsufficientFunds, "account %s holds %s %s, less than %s", a.ID, a.Balance, a.Currency, amount)
	}
	return Errorf(EInsufficientFunds, "account %s holds %s %s with an overdraft limit of %s, less than %s",
		a.ID, a.Balance, a.Currency, a.Limit(), amount)
}

// StatusAction is a change of an account's status.
type StatusAction string

// Status actions.
const (
	Freeze   StatusAction = "freeze"
	Unfreeze StatusAction = "unfreeze"
	Close    StatusAction = "close"
)

// OpenAccount opens a wallet (or, for the ledger itself, a system account).
type OpenAccount struct {
	AccountID      string
	Book           string
	Owner          string
	Currency       Currency
	Kind           AccountKind
	Name           string // system accounts
	WalletNumber   string // wallets; replaced if it is already taken
	Metadata       map[string]string
	OverdraftLimit Money // wallets; zero value: none
}

// ChangeStatus freezes, unfreezes or closes a wallet.
type ChangeStatus struct {
	Account string
	Action  StatusAction
	Reason  string
}

// ChangeLimit sets a wallet's overdraft limit (finance only).
type ChangeLimit struct {
	Account string
	Limit   Money
}

// AccountRefs implements Command.
func (c OpenAccount) AccountRefs() []string {
	if c.WalletNumber == "" {
		return nil
	}
	return []string{c.WalletNumber}
}

// SystemAccounts implements Command.
func (c OpenAccount) SystemAccounts() []SystemRef {
	if c.Kind == KindSystem {
		return []SystemRef{{c.Book, c.Currency, c.Name}}
	}
	return nil
}

// AccountRefs implements Command.
func (c ChangeStatus) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c ChangeStatus) SystemAccounts() []SystemRef { return nil }

// AccountRefs implements Command.
func (c ChangeLimit) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c ChangeLimit) SystemAccounts() []SystemRef { return nil }

// AccountOpenedData is the data of account.opened.
type AccountOpenedData struct {
	AccountID    string            `json:"account_id"`
	Kind         AccountKind       `json:"kind"`
	Currency     Currency          `json:"currency"`
	WalletNumber string            `json:"wallet_number,omitempty"`
	Name         string            `json:"name,omitempty"`
	Owner        string            `json:"owner,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	// OverdraftLimit is set only when the wallet opens with one.
	OverdraftLimit string `json:"overdraft_limit,omitempty"`
}

// AccountStatusData is the data of account.frozen, account.unfrozen and account.closed.
type AccountStatusData struct {
	AccountID string `json:"account_id"`
	Reason    string `json:"reason,omitempty"`
}

// AccountLimitData is the data of account.limit_changed.
type AccountLimitData struct {
	AccountID      string   `json:"account_id"`
	OverdraftLimit string   `json:"overdraft_limit"`
	Previous       string   `json:"previous"`
	Currency       Currency `json:"currency"`
}

func (s *State) decideOpen(c OpenAccount, env Env) ([]Event, error) {
	d := AccountOpenedData{AccountID: c.AccountID, Kind: c.Kind, Currency: c.Currency, Owner: c.Owner, Metadata: c.Metadata}
	switch c.Kind {
	case KindWallet:
		d.WalletNumber = c.WalletNumber
		for d.WalletNumber == "" || s.wallets[d.WalletNumber] != nil {
			d.WalletNumber = env.NewWalletNumber()
		}
		if c.OverdraftLimit.Currency() != "" && !c.OverdraftLimit.IsZero() {
			if c.OverdraftLimit.Currency() != c.Currency || c.OverdraftLimit.Sign() < 0 {
				return nil, Errorf(EInvalidAmount, "overdraft_limit must be a non-negative amount in %s", c.Currency).WithField("overdraft_limit")
			}
			d.OverdraftLimit = c.OverdraftLimit.String()
		}
	case KindSystem:
		if s.system[SystemRef{c.Book, c.Currency, c.Name}] != nil {
			return nil, Errorf(EInvalidRequest, "system account %s %s already exists in book %s", c.Name, c.Currency, c.Book)
		}
		d.Name = c.Name
	default:
		return nil, Errorf(EInvalidRequest, "unknown account kind %q", c.Kind)
	}
	return []Event{newEvent(c.Book, AccountOpened, d, env)}, nil
}

func (s *State) decideStatus(c ChangeStatus, env Env) ([]Event, error) {
	a := s.lookup(c.Account)
	if a == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.Account)
	}
	if a.Kind != KindWallet {
		return nil, Errorf(ESystemAccount, "system accounts cannot be frozen, unfrozen or closed")
	}
	if a.Status == StatusClosed {
		return nil, Errorf(EAccountClosed, "account %s is closed", a.ID)
	}
	var typ EventType
	switch c.Action {
	case Freeze:
		if a.Status == StatusFrozen {
			return nil, nil
		}
		typ = AccountFrozen
	case Unfreeze:
		if a.Status == StatusActive {
			return nil, nil
		}
		typ = AccountUnfrozen
	case Close:
		if !a.Balance.IsZero() {
			return nil, Errorf(EBalanceNotZero, "account %s holds %s %s: move it out before closing", a.ID, a.Balance, a.Currency)
		}
		// Held money comes back to the wallet when its holds end.
		if held := a.HeldOrZero(); !held.IsZero() {
			return nil, Errorf(EBalanceNotZero, "account %s has %s %s in pending holds: capture or void them before closing", a.ID, held, a.Currency)
		}
		if held := s.moneyHeldFor(a.ID); len(held) > 0 {
			return nil, Errorf(EBalanceNotZero, "account %s still has money held by %s: close it once that is settled", a.ID, strings.Join(held, ", "))
		}
		typ = AccountClosed
	default:
		return nil, Errorf(EInvalidRequest, "unknown status action %q", c.Action)
	}
	return []Event{newEvent(a.Book, typ, AccountStatusData{AccountID: a.ID, Reason: c.Reason}, env)}, nil
}

// decideLimit sets a wallet's overdraft limit. A limit below what the wallet
// already owes is allowed: it only stops further payments. The same limit
// again yields no event.
func (s *State) decideLimit(c ChangeLimit, env Env) ([]Event, error) {
	a := s.lookup(c.Account)
	if a == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.Account)
	}
	if a.Kind != KindWallet {
		return nil, Errorf(ESystemAccount, "system accounts have no overdraft limit")
	}
	if a.Status == StatusClosed {
		return nil, Errorf(EAccountClosed, "account %s is closed", a.ID)
	}
	if c.Limit.Currency() != a.Currency {
		return nil, Errorf(ECurrencyMismatch, "the limit is in %s but the account holds %s", c.Limit.Currency(), a.Currency).WithField("overdraft_limit")
	}
	if c.Limit.Sign() < 0 {
		return nil, Errorf(EInvalidAmount, "overdraft_limit must not be negative").WithField("overdraft_limit")
	}
	if c.Limit.Cmp(a.Limit()) == 0 {
		return nil, nil
	}
	return []Event{newEvent(a.Book, AccountLimitChanged, AccountLimitData{
		AccountID: a.ID, OverdraftLimit: c.Limit.String(), Previous: a.Limit().String(), Currency: a.Currency,
	}, env)}, nil
}

// usable refuses closed and frozen accounts.
func usable(a *Account) error {
	switch a.Status {
	case StatusClosed:
		return Errorf(EAccountClosed, "account %s is closed", a.ID)
	case StatusFrozen:
		return Errorf(EAccountFrozen, "account %s is frozen", a.ID)
	}
	return nil
}

// applyAccount moves an account's identity, status or limit by its event.
func (s *State) applyAccount(e *Event) error {
	switch e.Type {
	case AccountOpened:
		var d AccountOpenedData
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		a := Account{
			ID: d.AccountID, Book: e.Book, WalletNumber: d.WalletNumber, Name: d.Name, Owner: d.Owner,
			Currency: d.Currency, Kind: d.Kind, Status: StatusActive, Metadata: d.Metadata,
			CreatedAt: e.RecordedAt, Balance: Zero(d.Currency), Held: Zero(d.Currency), OverdraftLimit: Zero(d.Currency),
		}
		if d.OverdraftLimit != "" {
			limit, err := ParseMoney(d.OverdraftLimit, string(d.Currency))
			if err != nil {
				return err
			}
			a.OverdraftLimit = limit
		}
		s.add(a)
	case AccountFrozen, AccountUnfrozen, AccountClosed:
		var d AccountStatusData
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		a := s.accounts[d.AccountID]
		if a == nil {
			return fmt.Errorf("ledger: %s for unknown account %s", e.Type, d.AccountID)
		}
		a.Status = map[EventType]AccountStatus{AccountFrozen: StatusFrozen, AccountUnfrozen: StatusActive, AccountClosed: StatusClosed}[e.Type]
	case AccountLimitChanged:
		var d AccountLimitData
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		a := s.accounts[d.AccountID]
		if a == nil {
			return fmt.Errorf("ledger: %s for unknown account %s", e.Type, d.AccountID)
		}
		limit, err := ParseLimit(d.OverdraftLimit, string(a.Currency))
		if err != nil {
			return err
		}
		a.OverdraftLimit = limit
	}
	return nil
}

// ParseLimit parses an overdraft limit: like ParseMoney, but zero is allowed.
func ParseLimit(amount, currency string) (Money, error) {
	if zero.MatchString(amount) {
		if m, err := ParseMoney("1"+strings.TrimPrefix(amount, "0"), currency); err != nil {
			return m, err // an unknown currency, or more digits than it has
		}
		cur, _ := LookupCurrency(currency)
		return Zero(cur), nil
	}
	return ParseMoney(amount, currency)
}

var zero = regexp.MustCompile(`^0(\.0+)?$`)
