package ledger

import "time"

// Command is a request to change the ledger. Commands are decided by
// State.Decide against the current state; the journal appends what they yield.
type Command interface {
	// AccountRefs lists the accounts (ids or wallet numbers) the command reads,
	// so the journal can load and lock them before deciding.
	AccountRefs() []string
	// SystemAccounts lists the system accounts the command posts against.
	SystemAccounts() []SystemRef
}

// SystemRef names one system account of a book. An empty Book means the book
// the command is decided in.
type SystemRef struct {
	Book     string
	Currency Currency
	Name     string
}

// Env is what a decision may take from the world: the time and fresh ids.
// Passing it in keeps decisions pure and testable.
type Env struct {
	Book            string // the book being decided in
	Now             time.Time
	NewID           func(prefix string) string
	NewWalletNumber func() string
}
