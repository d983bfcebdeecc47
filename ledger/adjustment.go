package ledger

// AdjustmentPosted is the event type of finance's manual entries.
const AdjustmentPosted EventType = "adjustment.posted"

// Direction says which way an adjustment moves money for the wallet.
type Direction string

// Adjustment directions.
const (
	Credit Direction = "credit"
	Debit  Direction = "debit"
)

// Adjust is finance's manual entry against the book's adjustments account.
type Adjust struct {
	AdjustmentID string
	Account      string
	Direction    Direction
	Amount       Money
	Reason       string
}

// AccountRefs implements Command.
func (c Adjust) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c Adjust) SystemAccounts() []SystemRef {
	return []SystemRef{{"", c.Amount.Currency(), SystemAdjustments}}
}

// AdjustmentPostedData is the data of adjustment.posted.
type AdjustmentPostedData struct {
	AdjustmentID string    `json:"adjustment_id"`
	Account      string    `json:"account"`
	Direction    Direction `json:"direction"`
	Amount       string    `json:"amount"`
	Currency     Currency  `json:"currency"`
	Reason       string    `json:"reason"`
	// ProposedBy and ApprovedBy are the key lineages of the two admins when
	// the adjustment posted by four eyes (see approval.go); absent otherwise.
	ProposedBy string `json:"proposed_by,omitempty"`
	ApprovedBy string `json:"approved_by,omitempty"`
}

func (s *State) decideAdjust(c Adjust, env Env) ([]Event, error) {
	a := s.lookup(c.Account)
	if a == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.Account).WithField("account")
	}
	if a.Kind != KindWallet {
		return nil, Errorf(ESystemAccount, "adjustments post to wallets; system accounts move only as their counterpart")
	}
	cur := c.Amount.Currency()
	if a.Currency != cur {
		return nil, Errorf(ECurrencyMismatch, "adjustment is in %s but the account holds %s", cur, a.Currency).WithField("currency")
	}
	// Finance may correct a frozen wallet; a closed one is final.
	if a.Status == StatusClosed {
		return nil, Errorf(EAccountClosed, "account %s is closed", a.ID)
	}
	if c.Direction == Debit {
		if err := a.mayPay(c.Amount); err != nil {
			return nil, err
		}
	}
	events, sysID := s.systemAccount(a.Book, cur, SystemAdjustments, env)
	e := newEvent(a.Book, AdjustmentPosted, AdjustmentPostedData{
		AdjustmentID: c.AdjustmentID, Account: a.ID, Direction: c.Direction,
		Amount: c.Amount.String(), Currency: cur, Reason: c.Reason,
	}, env)
	switch c.Direction {
	case Credit:
		e.Postings = []Posting{{Account: sysID, Amount: c.Amount.Neg()}, {Account: a.ID, Amount: c.Amount}}
	case Debit:
		e.Postings = []Posting{{Account: a.ID, Amount: c.Amount.Neg()}, {Account: sysID, Amount: c.Amount}}
	default:
		return nil, Errorf(EInvalidRequest, "direction must be credit or debit").WithField("direction")
	}
	return append(events, e), nil
}
