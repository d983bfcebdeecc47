package ledger

// TransferCompleted is the event type of a transfer between two wallets.
const TransferCompleted EventType = "transfer.completed"

// TransferRecord is a transfer as refund decisions need it (the journal loads it for them).
type TransferRecord struct {
	ID             string
	Book           string
	From, To       string
	Amount         Money
	RefundedAmount Money
}

// AddTransfer puts a loaded transfer into the state.
func (s *State) AddTransfer(t TransferRecord) { s.transfers[t.ID] = &t }

// Transfer moves money between two wallets of one book.
type Transfer struct {
	TransferID  string
	From, To    string
	Amount      Money
	Description string
	Metadata    map[string]string
}

// AccountRefs implements Command.
func (c Transfer) AccountRefs() []string { return []string{c.From, c.To} }

// SystemAccounts implements Command.
func (c Transfer) SystemAccounts() []SystemRef { return nil }

// TransferCompletedData is the data of transfer.completed.
type TransferCompletedData struct {
	TransferID  string            `json:"transfer_id"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	Amount      string            `json:"amount"`
	Currency    Currency          `json:"currency"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func (s *State) decideTransfer(c Transfer, env Env) ([]Event, error) {
	from, to, err := s.payment(c.From, c.To, c.Amount, "")
	if err != nil {
		return nil, err
	}
	if err := from.mayPay(c.Amount); err != nil {
		return nil, err
	}
	e := newEvent(from.Book, TransferCompleted, TransferCompletedData{
		TransferID: c.TransferID, From: from.ID, To: to.ID, Amount: c.Amount.String(), Currency: c.Amount.Currency(),
		Description: c.Description, Metadata: c.Metadata,
	}, env)
	e.Postings = []Posting{{Account: from.ID, Amount: c.Amount.Neg()}, {Account: to.ID, Amount: c.Amount}}
	return []Event{e}, nil
}

// payment checks what every movement between two wallets must satisfy
// (transfers, holds, transaction legs), except funds: both accounts exist,
// differ, are wallets of one book in the amount's currency, and are
// neither frozen nor closed. prefix names the request's fields ("legs[2].").
func (s *State) payment(fromRef, toRef string, amount Money, prefix string) (from, to *Account, err error) {
	from, to = s.lookup(fromRef), s.lookup(toRef)
	if from == nil {
		return nil, nil, Errorf(ENotFound, "account %s not found", fromRef).WithField(prefix + "from")
	}
	if to == nil {
		return nil, nil, Errorf(ENotFound, "account %s not found", toRef).WithField(prefix + "to")
	}
	if from.ID == to.ID {
		return nil, nil, Errorf(ESameAccount, "from and to are the same account").WithField(prefix + "to")
	}
	if from.Kind != KindWallet || to.Kind != KindWallet {
		return nil, nil, Errorf(ESystemAccount, "money moves between wallets only").WithField(prefix + "from")
	}
	if from.Book != to.Book {
		return nil, nil, Errorf(ECurrencyMismatch, "accounts are in different books (%s, %s); money moves only within a book", from.Book, to.Book).WithField(prefix + "to")
	}
	cur := amount.Currency()
	if from.Currency != cur || to.Currency != cur {
		return nil, nil, Errorf(ECurrencyMismatch, "the amount is in %s but the accounts hold %s and %s", cur, from.Currency, to.Currency).WithField(prefix + "currency")
	}
	if err := usable(from); err != nil {
		return nil, nil, err.(*Error).WithField(prefix + "from")
	}
	if err := usable(to); err != nil {
		return nil, nil, err.(*Error).WithField(prefix + "to")
	}
	return from, to, nil
}
