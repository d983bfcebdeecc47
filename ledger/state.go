package ledger

import (
	"encoding/json"
	"fmt"
	"strings"
)

// State is the slice of the ledger a batch of commands decides against: the
// accounts they touch, with balances and statuses. Decide is pure; Apply moves
// the state forward by the events that Decide produced.
type State struct {
	accounts map[string]*Account // by id
	wallets  map[string]*Account // by wallet number
	system   map[SystemRef]*Account

	deposits     map[string]*Deposit // by id
	byReference  map[string]*Deposit // by our reference
	byGatewayRef map[string]*Deposit // by gateway + "\x00" + gateway reference

	transfers map[string]*TransferRecord
	refunds   map[string]*Refund
}

// NewState returns a state holding the given accounts.
func NewState(accounts []Account) *State {
	s := &State{
		accounts: make(map[string]*Account, len(accounts)),
		wallets:  make(map[string]*Account),
		system:   make(map[SystemRef]*Account),

		deposits:     make(map[string]*Deposit),
		byReference:  make(map[string]*Deposit),
		byGatewayRef: make(map[string]*Deposit),

		transfers: make(map[string]*TransferRecord),
		refunds:   make(map[string]*Refund),
	}
	for i := range accounts {
		s.add(accounts[i])
	}
	return s
}

func (s *State) add(a Account) {
	p := &a
	s.accounts[a.ID] = p
	if a.WalletNumber != "" {
		s.wallets[a.WalletNumber] = p
	}
	if a.Kind == KindSystem {
		s.system[SystemRef{a.Book, a.Currency, a.Name}] = p
	}
}

// Accounts returns every account the state holds, as it stands now.
func (s *State) Accounts() []Account {
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, *a)
	}
	return out
}

// Account finds an account by id or wallet number.
func (s *State) Account(ref string) (Account, bool) {
	a := s.lookup(ref)
	if a == nil {
		return Account{}, false
	}
	return *a, true
}

func (s *State) lookup(ref string) *Account {
	if a, ok := s.accounts[ref]; ok {
		return a
	}
	return s.wallets[ref]
}

// Decide turns a command into the events it causes, or returns an *Error that
// says why the command is refused. It does not change the state.
//
// Transfer returns ENotFound if either account is unknown, ESameAccount,
// ESystemAccount, ECurrencyMismatch, EAccountClosed, EAccountFrozen, or
// EInsufficientFunds if the sender cannot cover the amount.
// Adjust returns ENotFound, ESystemAccount, ECurrencyMismatch, EAccountClosed,
// or EInsufficientFunds for a debit below zero.
// ChangeStatus returns ENotFound, ESystemAccount, EAccountClosed or EBalanceNotZero;
// a change to the status the account already has yields no event.
func (s *State) Decide(cmd Command, env Env) ([]Event, error) {
	switch c := cmd.(type) {
	case OpenAccount:
		return s.decideOpen(c, env)
	case ChangeStatus:
		return s.decideStatus(c, env)
	case Transfer:
		return s.decideTransfer(c, env)
	case Adjust:
		return s.decideAdjust(c, env)
	case InitiateDeposit:
		return s.decideInitiateDeposit(c, env)
	case RecordCheckout:
		return s.decideRecordCheckout(c, env)
	case FailDeposit:
		return s.decideFailDeposit(c, env)
	case RecordCapture:
		return s.decideRecordCapture(c, env)
	case GatewayNotification:
		return s.decideNotification(c, env)
	case RefundTransfer:
		return s.decideRefundTransfer(c, env)
	case RequestDepositRefund:
		return s.decideRequestDepositRefund(c, env)
	case RecordRefundSubmission:
		return s.decideRecordRefundSubmission(c, env)
	case FailRefund:
		return s.decideFailRefund(c, env)
	}
	return nil, fmt.Errorf("ledger: unknown command %T", cmd)
}

func (s *State) decideOpen(c OpenAccount, env Env) ([]Event, error) {
	d := AccountOpenedData{AccountID: c.AccountID, Kind: c.Kind, Currency: c.Currency, Owner: c.Owner, Metadata: c.Metadata}
	switch c.Kind {
	case KindWallet:
		d.WalletNumber = c.WalletNumber
		for d.WalletNumber == "" || s.wallets[d.WalletNumber] != nil {
			d.WalletNumber = env.NewWalletNumber()
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
		if held := s.moneyHeldFor(a.ID); len(held) > 0 {
			return nil, Errorf(EBalanceNotZero, "account %s still has money held by %s: close it once that is settled", a.ID, strings.Join(held, ", "))
		}
		typ = AccountClosed
	default:
		return nil, Errorf(EInvalidRequest, "unknown status action %q", c.Action)
	}
	return []Event{newEvent(a.Book, typ, AccountStatusData{AccountID: a.ID, Reason: c.Reason}, env)}, nil
}

func (s *State) decideTransfer(c Transfer, env Env) ([]Event, error) {
	from, to := s.lookup(c.From), s.lookup(c.To)
	if from == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.From).WithField("from")
	}
	if to == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.To).WithField("to")
	}
	if from.ID == to.ID {
		return nil, Errorf(ESameAccount, "from and to are the same account").WithField("to")
	}
	if from.Kind != KindWallet || to.Kind != KindWallet {
		return nil, Errorf(ESystemAccount, "transfers move money between wallets only")
	}
	if from.Book != to.Book {
		return nil, Errorf(ECurrencyMismatch, "accounts are in different books (%s, %s); money moves only within a book", from.Book, to.Book)
	}
	cur := c.Amount.Currency()
	if from.Currency != cur || to.Currency != cur {
		return nil, Errorf(ECurrencyMismatch, "transfer is in %s but the accounts hold %s and %s", cur, from.Currency, to.Currency).WithField("currency")
	}
	if err := usable(from); err != nil {
		return nil, err
	}
	if err := usable(to); err != nil {
		return nil, err
	}
	if from.Balance.Cmp(c.Amount) < 0 {
		return nil, Errorf(EInsufficientFunds, "account %s holds %s %s, less than %s", from.ID, from.Balance, cur, c.Amount).WithField("amount")
	}
	e := newEvent(from.Book, TransferCompleted, TransferCompletedData{
		TransferID: c.TransferID, From: from.ID, To: to.ID, Amount: c.Amount.String(), Currency: cur,
		Description: c.Description, Metadata: c.Metadata,
	}, env)
	e.Postings = []Posting{{Account: from.ID, Amount: c.Amount.Neg()}, {Account: to.ID, Amount: c.Amount}}
	return []Event{e}, nil
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
	if c.Direction == Debit && a.Balance.Cmp(c.Amount) < 0 {
		return nil, Errorf(EInsufficientFunds, "account %s holds %s %s, less than %s", a.ID, a.Balance, cur, c.Amount).WithField("amount")
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

func newEvent(book string, typ EventType, data any, env Env) Event {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode %s data: %v", typ, err))
	}
	return Event{Book: book, ID: env.NewID(PrefixEvent), Type: typ, OccurredAt: Truncate(env.Now), Data: raw}
}

// Apply moves the state forward by one decided event and fills in each
// posting's BalanceAfter. It returns an error if the postings do not sum to
// zero per currency: such an event must never reach the journal.
func (s *State) Apply(e *Event) error {
	if err := CheckBalanced(e.Postings); err != nil {
		return fmt.Errorf("ledger: event %s: %w", e.Type, err)
	}
	switch e.Type {
	case AccountOpened:
		var d AccountOpenedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		s.add(Account{
			ID: d.AccountID, Book: e.Book, WalletNumber: d.WalletNumber, Name: d.Name, Owner: d.Owner,
			Currency: d.Currency, Kind: d.Kind, Status: StatusActive, Metadata: d.Metadata,
			CreatedAt: e.RecordedAt, Balance: Zero(d.Currency),
		})
	case AccountFrozen, AccountUnfrozen, AccountClosed:
		var d AccountStatusData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		a := s.accounts[d.AccountID]
		if a == nil {
			return fmt.Errorf("ledger: %s for unknown account %s", e.Type, d.AccountID)
		}
		a.Status = map[EventType]AccountStatus{AccountFrozen: StatusFrozen, AccountUnfrozen: StatusActive, AccountClosed: StatusClosed}[e.Type]
	case DepositInitiated, DepositCheckoutOpened, DepositSucceededEvent, DepositFailedEvent, DepositExpiredEvent, DepositFlaggedEvent,
		DepositApprovedEvent, DepositCaptureAnsweredEvent:
		if err := s.applyDeposit(e); err != nil {
			return err
		}
	case TransferRefunded, RefundRequested, RefundSubmitted, RefundSucceededEvent, RefundFailedEvent:
		if err := s.applyRefund(e); err != nil {
			return err
		}
	}
	for i := range e.Postings {
		p := &e.Postings[i]
		a := s.accounts[p.Account]
		if a == nil {
			return fmt.Errorf("ledger: posting to unknown account %s", p.Account)
		}
		if a.Currency != p.Amount.Currency() {
			return fmt.Errorf("ledger: posting of %s to %s account %s", p.Amount.Currency(), a.Currency, a.ID)
		}
		a.Balance = a.Balance.Add(p.Amount)
		p.BalanceAfter = a.Balance
	}
	return nil
}

// CheckBalanced returns an error unless the postings sum to zero in every currency.
func CheckBalanced(ps []Posting) error {
	sums := map[Currency]Money{}
	for _, p := range ps {
		c := p.Amount.Currency()
		if s, ok := sums[c]; ok {
			sums[c] = s.Add(p.Amount)
		} else {
			sums[c] = p.Amount
		}
	}
	for c, s := range sums {
		if !s.IsZero() {
			return fmt.Errorf("postings sum to %s %s, not zero", s, c)
		}
	}
	return nil
}

func (s *State) applyDeposit(e *Event) error {
	if e.Type == DepositInitiated {
		var d DepositInitiatedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		amount, err := ParseMoney(d.Amount, string(d.Currency))
		if err != nil {
			return err
		}
		s.AddDeposit(Deposit{
			ID: d.DepositID, Book: e.Book, Account: d.Account, Reference: d.Reference, Gateway: d.Gateway,
			Amount: amount, Status: DepositPending, RefundedAmount: Zero(amount.Currency()), CreatedAt: e.RecordedAt,
		})
		return nil
	}
	if e.Type == DepositCheckoutOpened {
		var d DepositCheckoutData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		dep := s.deposits[d.DepositID]
		if dep == nil {
			return fmt.Errorf("ledger: %s for unknown deposit %s", e.Type, d.DepositID)
		}
		dep.CheckoutURL = d.CheckoutURL
		s.setGatewayReference(dep, d.GatewayReference)
		return nil
	}
	if e.Type == DepositCaptureAnsweredEvent {
		var d DepositCaptureData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		dep := s.deposits[d.DepositID]
		if dep == nil {
			return fmt.Errorf("ledger: %s for unknown deposit %s", e.Type, d.DepositID)
		}
		s.setGatewayReference(dep, d.GatewayReference)
		return nil
	}
	var d DepositOutcomeData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return err
	}
	dep := s.deposits[d.DepositID]
	if dep != nil && e.Type == DepositApprovedEvent {
		s.setGatewayReference(dep, d.GatewayReference) // the status stays pending until the capture's webhook
		return nil
	}
	if dep == nil && e.Type == DepositSucceededEvent && d.Unsolicited {
		amount, err := ParseMoney(d.Amount, d.Currency)
		if err != nil {
			return err
		}
		s.AddDeposit(Deposit{
			ID: d.DepositID, Book: e.Book, Account: d.Account, Reference: d.Reference, Gateway: d.Gateway,
			Amount: amount, RefundedAmount: Zero(amount.Currency()), CreatedAt: e.RecordedAt,
		})
		dep = s.deposits[d.DepositID]
	}
	if dep == nil {
		return fmt.Errorf("ledger: %s for unknown deposit %s", e.Type, d.DepositID)
	}
	dep.Status = depositStatusAfter[e.Type]
	s.setGatewayReference(dep, d.GatewayReference)
	return nil
}

var depositStatusAfter = map[EventType]DepositStatus{
	DepositSucceededEvent: DepositSucceeded,
	DepositFailedEvent:    DepositFailed,
	DepositExpiredEvent:   DepositExpired,
	DepositFlaggedEvent:   DepositFlagged,
}

func (s *State) setGatewayReference(d *Deposit, ref string) {
	if ref == "" || d.GatewayReference == ref {
		return
	}
	d.GatewayReference = ref
	s.byGatewayRef[d.Gateway+"\x00"+ref] = d
}
