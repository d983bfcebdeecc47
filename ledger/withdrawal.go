package ledger

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Withdrawals are payouts from a wallet to a bank account through a gateway.
// withdrawal.requested moves the amount from the wallet to the book's
// payouts:pending account before the gateway is called, so it cannot be
// spent twice; only the gateway settles it: withdrawal.succeeded pays the
// gateway's clearing account, withdrawal.failed and withdrawal.reversed give
// the money back. Bank details are personal data and stay out of the hash
// chain: events carry the destination's id and its masked account number.

// Withdrawal event types.
const (
	WithdrawalRequested      EventType = "withdrawal.requested"
	WithdrawalSubmitted      EventType = "withdrawal.submitted"
	WithdrawalSucceededEvent EventType = "withdrawal.succeeded"
	WithdrawalFailedEvent    EventType = "withdrawal.failed"
	WithdrawalReversedEvent  EventType = "withdrawal.reversed"
	// DestinationErased records that an operator erased a withdrawal
	// destination's bank details; it carries no personal data.
	DestinationErased EventType = "destination.erased"
)

// Id prefixes of withdrawals and their bank-account destinations.
const (
	PrefixWithdrawal  = "wd"
	PrefixDestination = "dst"
)

// SystemPayoutsPending is the system account that holds withdrawals between
// the request and the gateway's settlement.
const SystemPayoutsPending = "payouts:pending"

// Payout notification kinds: what a gateway's webhook says about a withdrawal.
const (
	NotifyPayoutSucceeded NotificationKind = "payout.succeeded"
	NotifyPayoutFailed    NotificationKind = "payout.failed"
	NotifyPayoutReversed  NotificationKind = "payout.reversed"
)

// WithdrawalStatus is where a withdrawal stands.
type WithdrawalStatus string

// Withdrawal statuses.
const (
	WithdrawalPending   WithdrawalStatus = "pending"
	WithdrawalSucceeded WithdrawalStatus = "succeeded"
	WithdrawalFailed    WithdrawalStatus = "failed"
	WithdrawalReversed  WithdrawalStatus = "reversed"
)

// Withdrawal is a payout as the ledger decides on it.
type Withdrawal struct {
	ID               string
	Book             string
	Account          string
	Amount           Money
	Gateway          string
	DestinationID    string
	BankCode         string
	MaskedNumber     string // "******6789"
	Reason           string
	Status           WithdrawalStatus
	GatewayReference string
	FailureReason    string
	Position         int64 // of the last event that changed it
	CreatedAt        time.Time
}

// MaskAccountNumber hides all but the last four digits of a bank account
// number: "0123456789" → "******6789". Numbers of four digits or fewer are
// hidden entirely.
func MaskAccountNumber(n string) string {
	if len(n) <= 4 {
		return strings.Repeat("*", len(n))
	}
	return strings.Repeat("*", len(n)-4) + n[len(n)-4:]
}

// WithdrawalKey finds withdrawals in a batch: by id, or the pending
// withdrawals of an account (PendingOfRef: its id or wallet number).
type WithdrawalKey struct {
	ID           string
	PendingOfRef string
}

// WithdrawalReader is implemented by commands that decide on withdrawals,
// so the journal loads (and locks) them with the batch.
type WithdrawalReader interface {
	Withdrawals() []WithdrawalKey
}

// RequestWithdrawal moves the amount from the wallet to payouts:pending
// before the gateway is asked to pay it out.
type RequestWithdrawal struct {
	WithdrawalID  string
	Account       string
	Amount        Money
	Gateway       string
	DestinationID string
	BankCode      string
	MaskedNumber  string
	Reason        string
}

// RecordPayoutSubmission records the gateway's acceptance of a payout: its
// reference, or with OutcomeUnknown that the call got no answer. The
// withdrawal stays pending until the gateway's webhook settles it.
type RecordPayoutSubmission struct {
	WithdrawalID     string
	GatewayReference string
	OutcomeUnknown   bool
}

// FailWithdrawal returns a withdrawal's money to its wallet: the gateway
// refused the payout.
type FailWithdrawal struct {
	WithdrawalID string
	Reason       string
}

// EraseDestination records that an operator erased a destination's bank
// details (outside the journal, which never held them).
type EraseDestination struct {
	DestinationID string
	Reason        string
}

// AccountRefs implements Command.
func (c RequestWithdrawal) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c RequestWithdrawal) SystemAccounts() []SystemRef {
	return []SystemRef{{"", c.Amount.Currency(), SystemPayoutsPending}}
}

// AccountRefs implements Command.
func (c RecordPayoutSubmission) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RecordPayoutSubmission) SystemAccounts() []SystemRef { return nil }

// Withdrawals implements WithdrawalReader.
func (c RecordPayoutSubmission) Withdrawals() []WithdrawalKey {
	return []WithdrawalKey{{ID: c.WithdrawalID}}
}

// AccountRefs implements Command.
func (c FailWithdrawal) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c FailWithdrawal) SystemAccounts() []SystemRef { return nil }

// Withdrawals implements WithdrawalReader.
func (c FailWithdrawal) Withdrawals() []WithdrawalKey { return []WithdrawalKey{{ID: c.WithdrawalID}} }

// AccountRefs implements Command.
func (c EraseDestination) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c EraseDestination) SystemAccounts() []SystemRef { return nil }

// Withdrawals implements WithdrawalReader: closing a wallet reads its
// pending withdrawals, whose money may still come back to it.
func (c ChangeStatus) Withdrawals() []WithdrawalKey {
	if c.Action != Close {
		return nil
	}
	return []WithdrawalKey{{PendingOfRef: c.Account}}
}

// Withdrawals implements WithdrawalReader for payout notifications.
func (c GatewayNotification) Withdrawals() []WithdrawalKey {
	if c.WithdrawalID == "" {
		return nil
	}
	return []WithdrawalKey{{ID: c.WithdrawalID}}
}

// SystemAccountsForWithdrawal names the system accounts a withdrawal posts
// against, which the journal knows once it has read the withdrawal.
func SystemAccountsForWithdrawal(w Withdrawal) []SystemRef {
	cur := w.Amount.Currency()
	return []SystemRef{{w.Book, cur, SystemPayoutsPending}, {w.Book, cur, GatewayClearing(w.Gateway)}}
}

// NormalizeWithdrawalID returns our withdrawal id as a gateway echoed it
// (some upper-case it, some lower-case it), or "" if it is not one.
func NormalizeWithdrawalID(ref string) string {
	rest, ok := strings.CutPrefix(strings.ToLower(ref), PrefixWithdrawal+"_")
	if !ok {
		return ""
	}
	id := PrefixWithdrawal + "_" + strings.ToUpper(rest)
	if !HasPrefix(id, PrefixWithdrawal) {
		return ""
	}
	return id
}

// WithdrawalData is the data of the withdrawal.* events. AccountNumber is
// always masked; the full number lives only in the erasable destinations table.
type WithdrawalData struct {
	WithdrawalID     string `json:"withdrawal_id"`
	Account          string `json:"account"`
	Amount           string `json:"amount"`
	Currency         string `json:"currency"`
	Gateway          string `json:"gateway"`
	DestinationID    string `json:"destination_id,omitempty"`
	BankCode         string `json:"bank_code,omitempty"`
	AccountNumber    string `json:"account_number,omitempty"`
	GatewayReference string `json:"gateway_reference,omitempty"`
	GatewayEventID   string `json:"gateway_event_id,omitempty"`
	// OutcomeUnknown marks a withdrawal.submitted whose gateway call got no
	// answer: the withdrawal stays pending until the gateway says.
	OutcomeUnknown bool `json:"outcome_unknown,omitempty"`
	// Reinstated marks the success of a withdrawal recorded as failed: its
	// money leaves the wallet again, not payouts:pending.
	Reinstated bool   `json:"reinstated,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// DestinationErasedData is the data of destination.erased.
type DestinationErasedData struct {
	DestinationID string `json:"destination_id"`
	Reason        string `json:"reason,omitempty"`
}

// AddWithdrawal puts a loaded withdrawal into the state.
func (s *State) AddWithdrawal(w Withdrawal) {
	if s.withdrawals == nil {
		s.withdrawals = map[string]*Withdrawal{}
	}
	s.withdrawals[w.ID] = &w
}

// Withdrawal returns a withdrawal of the state by id.
func (s *State) Withdrawal(id string) (Withdrawal, bool) {
	w := s.withdrawals[id]
	if w == nil {
		return Withdrawal{}, false
	}
	return *w, true
}

// pendingWithdrawalsOf names the account's pending withdrawals among those
// the batch loaded: their money may still come back to the account, so it
// cannot be closed (see moneyHeldFor).
func (s *State) pendingWithdrawalsOf(account string) []string {
	var ids []string
	for _, w := range s.withdrawals {
		if w.Account == account && w.Status == WithdrawalPending {
			ids = append(ids, w.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func (s *State) decideWithdrawal(cmd Command, env Env) ([]Event, error) {
	switch c := cmd.(type) {
	case RequestWithdrawal:
		return s.decideRequestWithdrawal(c, env)
	case RecordPayoutSubmission:
		return s.decideRecordPayoutSubmission(c, env)
	case FailWithdrawal:
		w := s.withdrawals[c.WithdrawalID]
		if w == nil {
			return nil, Errorf(ENotFound, "withdrawal %s not found", c.WithdrawalID)
		}
		if w.Status != WithdrawalPending {
			return nil, nil // the gateway's webhook settled it first
		}
		return s.returnWithdrawal(w, WithdrawalFailedEvent, "", "", c.Reason, env)
	case EraseDestination:
		return []Event{newEvent(env.Book, DestinationErased, DestinationErasedData(c), env)}, nil
	}
	return nil, fmt.Errorf("ledger: unknown withdrawal command %T", cmd)
}

// decideRequestWithdrawal refuses what a transfer out of the wallet would
// refuse: unknown or system accounts, another currency, a frozen or closed
// wallet, insufficient funds.
func (s *State) decideRequestWithdrawal(c RequestWithdrawal, env Env) ([]Event, error) {
	a := s.lookup(c.Account)
	if a == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.Account).WithField("account")
	}
	if a.Kind != KindWallet {
		return nil, Errorf(ESystemAccount, "withdrawals pay out of wallets only")
	}
	cur := c.Amount.Currency()
	if a.Currency != cur {
		return nil, Errorf(ECurrencyMismatch, "withdrawal is in %s but the account holds %s", cur, a.Currency).WithField("currency")
	}
	if err := usable(a); err != nil {
		return nil, err
	}
	if err := a.mayPay(c.Amount); err != nil { // the same funds rule as a transfer's, overdraft limit included
		return nil, err
	}
	events, pending := s.systemAccount(a.Book, cur, SystemPayoutsPending, env)
	e := newEvent(a.Book, WithdrawalRequested, WithdrawalData{
		WithdrawalID: c.WithdrawalID, Account: a.ID, Amount: c.Amount.String(), Currency: string(cur), Gateway: c.Gateway,
		DestinationID: c.DestinationID, BankCode: c.BankCode, AccountNumber: c.MaskedNumber, Reason: c.Reason,
	}, env)
	e.Postings = []Posting{{Account: a.ID, Amount: c.Amount.Neg()}, {Account: pending, Amount: c.Amount}}
	return append(events, e), nil
}

func (s *State) decideRecordPayoutSubmission(c RecordPayoutSubmission, env Env) ([]Event, error) {
	w := s.withdrawals[c.WithdrawalID]
	if w == nil {
		return nil, Errorf(ENotFound, "withdrawal %s not found", c.WithdrawalID)
	}
	if w.Status != WithdrawalPending {
		return nil, nil // the gateway's webhook settled it first
	}
	if c.GatewayReference != "" && c.GatewayReference == w.GatewayReference {
		return nil, nil // a resumed request recorded it already
	}
	d := w.data()
	d.GatewayReference, d.OutcomeUnknown = c.GatewayReference, c.OutcomeUnknown && c.GatewayReference == ""
	return []Event{newEvent(w.Book, WithdrawalSubmitted, d, env)}, nil
}

// decideWithdrawalNotification settles a withdrawal by its gateway's
// webhook, once: a success pays the gateway's clearing account; a failure
// gives the money back from payouts:pending; a reversal gives it back from
// wherever it is. Duplicates and late events of a settled state change nothing.
func (s *State) decideWithdrawalNotification(c GatewayNotification, env Env) ([]Event, error) {
	c.Payload = "" // payout payloads carry bank details: never into the journal
	w := s.withdrawals[c.WithdrawalID]
	switch {
	case w == nil:
		return s.unmatched(env.Book, c, "no withdrawal has this reference", env), nil
	case w.Gateway != c.Gateway:
		return s.unmatched(env.Book, c, "the withdrawal "+w.ID+" was paid out through another gateway", env), nil
	}
	if c.Amount != "" {
		cur := c.Currency
		if cur == "" {
			cur = string(w.Amount.Currency()) // Xendit's disbursement callbacks name no currency
		}
		got, err := receivedMoney(c.Amount, cur)
		if err != nil || got.Currency() != w.Amount.Currency() || got.Cmp(w.Amount) != 0 {
			return s.unmatched(env.Book, c, fmt.Sprintf("the gateway reported %s %s for withdrawal %s of %s %s", c.Amount, cur, w.ID, w.Amount, w.Amount.Currency()), env), nil
		}
	}
	switch c.Kind {
	case NotifyPayoutSucceeded:
		switch w.Status {
		case WithdrawalPending:
			return s.settleWithdrawal(w, c, false, env)
		case WithdrawalFailed:
			// The gateway paid a payout recorded as failed: a fact, even if
			// it takes the wallet below zero.
			return s.settleWithdrawal(w, c, true, env)
		}
		return nil, nil
	case NotifyPayoutFailed:
		if w.Status != WithdrawalPending {
			return nil, nil
		}
		return s.returnWithdrawal(w, WithdrawalFailedEvent, c.GatewayReference, c.EventID, c.Message, env)
	case NotifyPayoutReversed:
		if w.Status != WithdrawalPending && w.Status != WithdrawalSucceeded {
			return nil, nil
		}
		return s.returnWithdrawal(w, WithdrawalReversedEvent, c.GatewayReference, c.EventID, c.Message, env)
	}
	return nil, fmt.Errorf("ledger: %s is not a payout notification", c.Kind)
}

func (w *Withdrawal) data() WithdrawalData {
	return WithdrawalData{
		WithdrawalID: w.ID, Account: w.Account, Amount: w.Amount.String(), Currency: string(w.Amount.Currency()),
		Gateway: w.Gateway, DestinationID: w.DestinationID, BankCode: w.BankCode, AccountNumber: w.MaskedNumber,
		GatewayReference: w.GatewayReference,
	}
}

func (s *State) settleWithdrawal(w *Withdrawal, c GatewayNotification, reinstated bool, env Env) ([]Event, error) {
	events, from := s.systemAccount(w.Book, w.Amount.Currency(), SystemPayoutsPending, env)
	if reinstated {
		events, from = nil, w.Account
	}
	more, clearing := s.systemAccount(w.Book, w.Amount.Currency(), GatewayClearing(w.Gateway), env)
	d := w.data()
	if c.GatewayReference != "" {
		d.GatewayReference = c.GatewayReference
	}
	d.GatewayEventID, d.Reinstated = c.EventID, reinstated
	e := newEvent(w.Book, WithdrawalSucceededEvent, d, env)
	e.Postings = []Posting{{Account: from, Amount: w.Amount.Neg()}, {Account: clearing, Amount: w.Amount}}
	return append(append(events, more...), e), nil
}

// returnWithdrawal gives a withdrawal's money back to its wallet: from
// payouts:pending while it is pending, from the gateway's clearing account
// once it had succeeded (a reversal). The money is the customer's, so it
// returns even to a frozen wallet.
func (s *State) returnWithdrawal(w *Withdrawal, typ EventType, gatewayRef, eventID, reason string, env Env) ([]Event, error) {
	name := SystemPayoutsPending
	if w.Status == WithdrawalSucceeded {
		name = GatewayClearing(w.Gateway)
	}
	events, from := s.systemAccount(w.Book, w.Amount.Currency(), name, env)
	d := w.data()
	if gatewayRef != "" {
		d.GatewayReference = gatewayRef
	}
	d.GatewayEventID, d.Reason = eventID, reason
	e := newEvent(w.Book, typ, d, env)
	e.Postings = []Posting{{Account: from, Amount: w.Amount.Neg()}, {Account: w.Account, Amount: w.Amount}}
	return append(events, e), nil
}

var withdrawalStatusAfter = map[EventType]WithdrawalStatus{
	WithdrawalRequested:      WithdrawalPending,
	WithdrawalSubmitted:      WithdrawalPending,
	WithdrawalSucceededEvent: WithdrawalSucceeded,
	WithdrawalFailedEvent:    WithdrawalFailed,
	WithdrawalReversedEvent:  WithdrawalReversed,
}

// WithdrawalStatusAfter is the status a withdrawal event leaves its withdrawal in.
func WithdrawalStatusAfter(t EventType) (WithdrawalStatus, bool) {
	st, ok := withdrawalStatusAfter[t]
	return st, ok
}

func (s *State) applyWithdrawal(e *Event) error {
	if e.Type == DestinationErased {
		return nil
	}
	var d WithdrawalData
	if err := DecodeData(e, &d); err != nil {
		return err
	}
	if e.Type == WithdrawalRequested {
		amount, err := ParseMoney(d.Amount, d.Currency)
		if err != nil {
			return err
		}
		s.AddWithdrawal(Withdrawal{
			ID: d.WithdrawalID, Book: e.Book, Account: d.Account, Amount: amount, Gateway: d.Gateway,
			DestinationID: d.DestinationID, BankCode: d.BankCode, MaskedNumber: d.AccountNumber, Reason: d.Reason,
			Status: WithdrawalPending, Position: e.Position, CreatedAt: e.RecordedAt,
		})
		return nil
	}
	w := s.withdrawals[d.WithdrawalID]
	if w == nil {
		return fmt.Errorf("ledger: %s of unknown withdrawal %s", e.Type, d.WithdrawalID)
	}
	w.Status, w.Position = withdrawalStatusAfter[e.Type], e.Position
	if d.GatewayReference != "" {
		w.GatewayReference = d.GatewayReference
	}
	if (e.Type == WithdrawalFailedEvent || e.Type == WithdrawalReversedEvent) && d.Reason != "" {
		w.FailureReason = d.Reason
	}
	return nil
}

// isWithdrawalEvent reports whether Apply hands the event to applyWithdrawal.
func isWithdrawalEvent(t EventType) bool {
	_, ok := withdrawalStatusAfter[t]
	return ok || t == DestinationErased
}
