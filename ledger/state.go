package ledger

import (
	"encoding/json"
	"fmt"
)

// State is the slice of the ledger a batch of commands decides against: the
// accounts they touch (balances, held amounts, limits, statuses) and the
// deposits, transfers, refunds, holds and transactions they name, as lookups.
// The rules live with each kind of record (account.go, transfer.go,
// adjustment.go, hold.go, transaction.go, deposit.go, refund.go). Decide is
// pure; Apply moves the state forward by the events that Decide produced.
type State struct {
	accounts map[string]*Account // by id
	wallets  map[string]*Account // by wallet number
	system   map[SystemRef]*Account

	deposits depositIndex

	transfers    map[string]*TransferRecord
	refunds      map[string]*Refund
	holds        map[string]*Hold
	transactions map[string]*TransactionRecord

	withdrawals map[string]*Withdrawal // by id; see withdrawal.go
	proposals   map[string]*AdjustmentProposal
}

// NewState returns a state holding the given accounts.
func NewState(accounts []Account) *State {
	s := &State{
		accounts: make(map[string]*Account, len(accounts)),
		wallets:  make(map[string]*Account),
		system:   make(map[SystemRef]*Account),

		deposits: newDepositIndex(),

		transfers:    make(map[string]*TransferRecord),
		refunds:      make(map[string]*Refund),
		holds:        make(map[string]*Hold),
		transactions: make(map[string]*TransactionRecord),
		proposals:    make(map[string]*AdjustmentProposal),
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
// EInsufficientFunds if the sender cannot cover the amount down to minus
// its overdraft limit; a hold and each leg of a transaction return the same.
// Adjust returns ENotFound, ESystemAccount, ECurrencyMismatch, EAccountClosed,
// or EInsufficientFunds for a debit past the limit.
// ProposeAdjustment, ApproveAdjustment and RejectAdjustment: see approval.go.
// ChangeStatus returns ENotFound, ESystemAccount, EAccountClosed or EBalanceNotZero;
// a change to the status the account already has yields no event.
// The other commands' refusals are documented with them (hold.go,
// transaction.go, deposit.go, refund.go).
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
	case ChangeLimit:
		return s.decideLimit(c, env)
	case CreateHold:
		return s.decideCreateHold(c, env)
	case CaptureHold:
		return s.decideCaptureHold(c, env)
	case VoidHold:
		return s.decideVoidHold(c, env)
	case ExpireHold:
		return s.decideExpireHold(c, env)
	case RefundHold:
		return s.decideRefundHold(c, env)
	case PostTransaction:
		return s.decidePostTransaction(c, env)
	case ReverseTransaction:
		return s.decideReverseTransaction(c, env)
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
	case RequestWithdrawal, RecordPayoutSubmission, FailWithdrawal, EraseDestination:
		return s.decideWithdrawal(c, env)
	case ProposeAdjustment:
		return s.decidePropose(c, env)
	case ApproveAdjustment:
		return s.decideApprove(c, env)
	case RejectAdjustment:
		return s.decideReject(c, env)
	}
	return nil, fmt.Errorf("ledger: unknown command %T", cmd)
}

func newEvent(book string, typ EventType, data any, env Env) Event {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode %s data: %v", typ, err))
	}
	e := Event{Book: book, ID: env.NewID(PrefixEvent), Type: typ, OccurredAt: Truncate(env.Now), Data: raw}
	if keepData(data, raw) {
		e.dataValue, e.dataOf = data, &raw[0]
	}
	return e
}

// Apply moves the state forward by one decided event and fills in each
// posting's BalanceAfter. It returns an error if the postings do not sum to
// zero per currency: such an event must never reach the journal.
func (s *State) Apply(e *Event) error {
	if err := CheckBalanced(e.Postings); err != nil {
		return fmt.Errorf("ledger: event %s: %w", e.Type, err)
	}
	switch e.Type {
	case AccountOpened, AccountFrozen, AccountUnfrozen, AccountClosed, AccountLimitChanged:
		if err := s.applyAccount(e); err != nil {
			return err
		}
	case HoldCreated, HoldCaptured, HoldVoided, HoldExpired, HoldRefunded:
		if err := s.applyHold(e); err != nil {
			return err
		}
	case TransactionPosted:
		if err := s.applyTransaction(e); err != nil {
			return err
		}
	case DepositInitiated, DepositCheckoutOpened, DepositSucceededEvent, DepositFailedEvent, DepositExpiredEvent, DepositFlaggedEvent,
		DepositApprovedEvent, DepositCaptureAnsweredEvent:
		if err := s.applyDeposit(e); err != nil {
			return err
		}
	case TransferRefunded, RefundRequested, RefundSubmitted, RefundSucceededEvent, RefundFailedEvent:
		if err := s.applyRefund(e); err != nil {
			return err
		}
	case AdjustmentProposed, AdjustmentPosted, AdjustmentRejected:
		if err := s.applyProposal(e); err != nil {
			return err
		}
	default:
		if isWithdrawalEvent(e.Type) {
			if err := s.applyWithdrawal(e); err != nil {
				return err
			}
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

// Clone returns a copy of the state that deciding and applying on cannot
// change s: an atomic batch decides on a clone and keeps it only if every
// item succeeded.
func (s *State) Clone() *State {
	c := NewState(nil)
	for _, a := range s.accounts {
		c.add(*a)
	}
	for _, d := range s.deposits.byID {
		c.AddDeposit(*d)
	}
	for _, t := range s.transfers {
		c.AddTransfer(*t)
	}
	for _, r := range s.refunds {
		c.AddRefund(*r)
	}
	for _, h := range s.holds {
		c.AddHold(*h)
	}
	for _, t := range s.transactions {
		c.AddTransaction(*t)
	}
	return c
}

// systemAccount returns the id of a book's system account, with the event
// that opens it if it does not exist yet.
func (s *State) systemAccount(book string, cur Currency, name string, env Env) ([]Event, string) {
	if sys := s.system[SystemRef{book, cur, name}]; sys != nil {
		return nil, sys.ID
	}
	// If an earlier command of this batch decided to open it, that event is
	// applied before this one is decided, so it is in s.system by now.
	id := env.NewID(PrefixAccount)
	return []Event{newEvent(book, AccountOpened, AccountOpenedData{AccountID: id, Kind: KindSystem, Currency: cur, Name: name}, env)}, id
}
