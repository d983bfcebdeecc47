package ledger

import "time"

// AccountKind separates customer wallets from the system accounts that stand
// for the outside world.
type AccountKind string

// Account kinds.
const (
	// KindWallet is a customer's account; no API request may drive it below zero.
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
}
