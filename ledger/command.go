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

// Direction says which way an adjustment moves money for the wallet.
type Direction string

// Adjustment directions.
const (
	Credit Direction = "credit"
	Debit  Direction = "debit"
)

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
	AccountID    string
	Book         string
	Owner        string
	Currency     Currency
	Kind         AccountKind
	Name         string // system accounts
	WalletNumber string // wallets; replaced if it is already taken
	Metadata     map[string]string
}

// ChangeStatus freezes, unfreezes or closes a wallet.
type ChangeStatus struct {
	Account string
	Action  StatusAction
	Reason  string
}

// Transfer moves money between two wallets of one book.
type Transfer struct {
	TransferID  string
	From, To    string
	Amount      Money
	Description string
	Metadata    map[string]string
}

// Adjust is finance's manual entry against the book's adjustments account.
type Adjust struct {
	AdjustmentID string
	Account      string
	Direction    Direction
	Amount       Money
	Reason       string
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
func (c Transfer) AccountRefs() []string { return []string{c.From, c.To} }

// SystemAccounts implements Command.
func (c Transfer) SystemAccounts() []SystemRef { return nil }

// AccountRefs implements Command.
func (c Adjust) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c Adjust) SystemAccounts() []SystemRef {
	return []SystemRef{{"", c.Amount.Currency(), SystemAdjustments}}
}

// Env is what a decision may take from the world: the time and fresh ids.
// Passing it in keeps decisions pure and testable.
type Env struct {
	Book            string // the book being decided in
	Now             time.Time
	NewID           func(prefix string) string
	NewWalletNumber func() string
}
