package ledger

import (
	"fmt"
	"time"
)

// Refund event types.
const (
	TransferRefunded     EventType = "transfer.refunded"
	RefundRequested      EventType = "refund.requested"
	RefundSubmitted      EventType = "refund.submitted"
	RefundSucceededEvent EventType = "refund.succeeded"
	RefundFailedEvent    EventType = "refund.failed"
)

// SystemRefundsPending is the system account that holds deposit refunds
// between the request and the gateway's answer, so the money cannot be spent
// twice.
const SystemRefundsPending = "refunds:pending"

// RefundStatus is where a refund stands.
type RefundStatus string

// Refund statuses.
const (
	RefundStatusPending   RefundStatus = "pending"
	RefundStatusSucceeded RefundStatus = "succeeded"
	RefundStatusFailed    RefundStatus = "failed"
)

// Refund is a refund of a deposit (through its gateway) or of a transfer.
type Refund struct {
	ID              string
	Book            string
	DepositID       string // one of DepositID, TransferID and HoldID is set
	TransferID      string
	HoldID          string
	Account         string // the wallet the money leaves
	Amount          Money
	Status          RefundStatus
	Gateway         string
	GatewayRefundID string
	// GatewayInitiated marks a refund made in the gateway's dashboard, which
	// Tally records as a fact even if it takes the wallet below zero.
	GatewayInitiated bool
	Reason           string
	CreatedAt        time.Time
}

// RefundKey finds refunds in a batch: by id, all refunds of a deposit, or
// the pending refunds of an account (ref: its id or wallet number).
type RefundKey struct {
	ID           string
	DepositID    string
	PendingOfRef string
}

// RefundReader is implemented by commands that decide on transfers or
// refunds, so the journal loads (and locks) them with the batch.
type RefundReader interface {
	Transfers() []string
	Refunds() []RefundKey
}

// RefundTransfer sends (part of) a transfer back from its recipient to its sender.
type RefundTransfer struct {
	RefundID   string
	TransferID string
	Amount     string // empty: all that is left; otherwise a decimal in the transfer's currency
	Reason     string
}

// RequestDepositRefund moves (part of) a deposit from its wallet to
// refunds:pending before the gateway is asked to pay it back.
type RequestDepositRefund struct {
	RefundID  string
	DepositID string
	Amount    string // empty: all that is left
	Reason    string
}

// RecordRefundSubmission records the gateway's acceptance of a refund request.
// If the gateway already settled it (Status succeeded), the refund succeeds.
// With OutcomeUnknown it records that the call went out and got no answer
// (a timeout, a lost connection, a 5xx): the refund stays pending, its money
// in refunds:pending, until the gateway settles or refuses it.
type RecordRefundSubmission struct {
	RefundID        string
	DepositID       string
	GatewayRefundID string
	Succeeded       bool
	OutcomeUnknown  bool
}

// FailRefund returns a refund's money to the wallet: the gateway refused it.
type FailRefund struct {
	RefundID  string
	DepositID string
	Reason    string
}

// AccountRefs implements Command.
func (c RefundTransfer) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RefundTransfer) SystemAccounts() []SystemRef { return nil }

// Transfers implements RefundReader.
func (c RefundTransfer) Transfers() []string { return []string{c.TransferID} }

// Refunds implements RefundReader.
func (c RefundTransfer) Refunds() []RefundKey { return nil }

// AccountRefs implements Command.
func (c RequestDepositRefund) AccountRefs() []string { return nil }

// SystemAccounts implements Command: the currency is the deposit's, which the
// journal reads with the deposit; see SystemAccountsFor.
func (c RequestDepositRefund) SystemAccounts() []SystemRef { return nil }

// Deposits implements DepositReader.
func (c RequestDepositRefund) Deposits() []DepositKey { return []DepositKey{{ID: c.DepositID}} }

// AccountRefs implements Command.
func (c RecordRefundSubmission) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RecordRefundSubmission) SystemAccounts() []SystemRef { return nil }

// Transfers implements RefundReader.
func (c RecordRefundSubmission) Transfers() []string { return nil }

// Refunds implements RefundReader.
func (c RecordRefundSubmission) Refunds() []RefundKey { return []RefundKey{{ID: c.RefundID}} }

// Deposits implements DepositReader: settling a refund posts to the
// deposit's gateway clearing account.
func (c RecordRefundSubmission) Deposits() []DepositKey { return []DepositKey{{ID: c.DepositID}} }

// AccountRefs implements Command.
func (c FailRefund) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c FailRefund) SystemAccounts() []SystemRef { return nil }

// Transfers implements RefundReader.
func (c FailRefund) Transfers() []string { return nil }

// Refunds implements RefundReader.
func (c FailRefund) Refunds() []RefundKey { return []RefundKey{{ID: c.RefundID}} }

// Deposits implements DepositReader.
func (c FailRefund) Deposits() []DepositKey { return []DepositKey{{ID: c.DepositID}} }

// Refunds implements RefundReader for notifications: every refund of the
// deposit the notification is about (loaded through Deposits).
func (c GatewayNotification) Refunds() []RefundKey {
	if c.RefundID != "" {
		return []RefundKey{{ID: c.RefundID}}
	}
	return nil
}

// Transfers implements RefundReader.
func (c GatewayNotification) Transfers() []string { return nil }

// SystemAccountsFor names the system accounts deposit refunds post against,
// which the journal can only know once it has read the deposit.
func SystemAccountsFor(d Deposit) []SystemRef {
	cur := d.Amount.Currency()
	return []SystemRef{{d.Book, cur, SystemRefundsPending}, {d.Book, cur, GatewayClearing(d.Gateway)}}
}

// RefundData is the data of transfer.refunded, refund.requested,
// refund.submitted, refund.succeeded and refund.failed.
type RefundData struct {
	RefundID         string `json:"refund_id"`
	DepositID        string `json:"deposit_id,omitempty"`
	TransferID       string `json:"transfer_id,omitempty"`
	Account          string `json:"account,omitempty"` // the wallet the money leaves (or returns to)
	Counterparty     string `json:"counterparty,omitempty"`
	Amount           string `json:"amount"`
	Currency         string `json:"currency"`
	Gateway          string `json:"gateway,omitempty"`
	GatewayRefundID  string `json:"gateway_refund_id,omitempty"`
	GatewayEventID   string `json:"gateway_event_id,omitempty"`
	GatewayInitiated bool   `json:"gateway_initiated,omitempty"`
	// Reinstated marks the success of a refund that had been recorded as
	// failed: its money leaves the wallet, not refunds:pending.
	Reinstated bool `json:"reinstated,omitempty"`
	// OutcomeUnknown marks a refund.submitted whose gateway call got no
	// answer: the refund stays pending until the gateway says.
	OutcomeUnknown bool   `json:"outcome_unknown,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func (s *State) refundAmount(requested string, original, refunded Money) (Money, error) {
	left := original.Sub(refunded)
	if requested == "" {
		if left.Sign() <= 0 {
			return Money{}, Errorf(ERefundExceedsOriginal, "nothing is left to refund: %s of %s already refunded", refunded, original)
		}
		return left, nil
	}
	amount, err := ParseMoney(requested, string(original.Currency()))
	if err != nil {
		return Money{}, err
	}
	if amount.Cmp(left) > 0 {
		return Money{}, Errorf(ERefundExceedsOriginal, "%s is more than the %s %s left to refund (%s of %s already refunded)",
			amount, left, original.Currency(), refunded, original).WithField("amount")
	}
	return amount, nil
}

func (s *State) decideRefundTransfer(c RefundTransfer, env Env) ([]Event, error) {
	t := s.transfers[c.TransferID]
	if t == nil {
		return nil, Errorf(ENotFound, "transfer %s not found", c.TransferID).WithField("transfer")
	}
	amount, err := s.refundAmount(c.Amount, t.Amount, t.RefundedAmount)
	if err != nil {
		return nil, err
	}
	recipient, sender := s.accounts[t.To], s.accounts[t.From]
	if recipient == nil || sender == nil {
		return nil, fmt.Errorf("ledger: transfer %s: accounts not loaded", t.ID)
	}
	if err := usable(recipient); err != nil {
		return nil, err
	}
	if err := usable(sender); err != nil {
		return nil, err
	}
	if err := recipient.mayPay(amount); err != nil {
		return nil, err
	}
	e := newEvent(t.Book, TransferRefunded, RefundData{
		RefundID: c.RefundID, TransferID: t.ID, Account: recipient.ID, Counterparty: sender.ID,
		Amount: amount.String(), Currency: string(amount.Currency()), Reason: c.Reason,
	}, env)
	e.Postings = []Posting{{Account: recipient.ID, Amount: amount.Neg()}, {Account: sender.ID, Amount: amount}}
	return []Event{e}, nil
}

func (s *State) decideRequestDepositRefund(c RequestDepositRefund, env Env) ([]Event, error) {
	d := s.deposits.byID[c.DepositID]
	if d == nil {
		return nil, Errorf(ENotFound, "deposit %s not found", c.DepositID).WithField("deposit")
	}
	if d.Status != DepositSucceeded {
		return nil, Errorf(ENotRefundable, "deposit %s is %s: only succeeded deposits can be refunded", d.ID, d.Status)
	}
	amount, err := s.refundAmount(c.Amount, d.Amount, d.RefundedAmount)
	if err != nil {
		return nil, err
	}
	wallet := s.accounts[d.Account]
	if wallet == nil {
		return nil, fmt.Errorf("ledger: deposit %s: wallet not loaded", d.ID)
	}
	if err := usable(wallet); err != nil {
		return nil, err
	}
	if err := wallet.mayPay(amount); err != nil {
		return nil, err
	}
	events, pending := s.systemAccount(d.Book, amount.Currency(), SystemRefundsPending, env)
	e := newEvent(d.Book, RefundRequested, RefundData{
		RefundID: c.RefundID, DepositID: d.ID, Account: wallet.ID, Amount: amount.String(),
		Currency: string(amount.Currency()), Gateway: d.Gateway, Reason: c.Reason,
	}, env)
	e.Postings = []Posting{{Account: wallet.ID, Amount: amount.Neg()}, {Account: pending, Amount: amount}}
	return append(events, e), nil
}

func (s *State) decideRecordRefundSubmission(c RecordRefundSubmission, env Env) ([]Event, error) {
	r := s.refunds[c.RefundID]
	if r == nil {
		return nil, Errorf(ENotFound, "refund %s not found", c.RefundID)
	}
	if r.Status != RefundStatusPending {
		return nil, nil // the gateway's webhook settled it first
	}
	if c.Succeeded {
		return s.settleRefund(r, c.GatewayRefundID, "", env)
	}
	if c.GatewayRefundID != "" && c.GatewayRefundID == r.GatewayRefundID {
		return nil, nil // a resumed request or the reconciler recorded it already
	}
	return []Event{newEvent(r.Book, RefundSubmitted, RefundData{
		RefundID: r.ID, DepositID: r.DepositID, Account: r.Account, Amount: r.Amount.String(), Currency: string(r.Amount.Currency()),
		Gateway: r.Gateway, GatewayRefundID: c.GatewayRefundID, OutcomeUnknown: c.OutcomeUnknown && c.GatewayRefundID == "",
	}, env)}, nil
}

func (s *State) decideFailRefund(c FailRefund, env Env) ([]Event, error) {
	r := s.refunds[c.RefundID]
	if r == nil {
		return nil, Errorf(ENotFound, "refund %s not found", c.RefundID)
	}
	if r.Status != RefundStatusPending {
		return nil, nil
	}
	return s.failRefund(r, "", "", c.Reason, env)
}

// settleRefund completes a deposit refund: refunds:pending pays the
// gateway's clearing account. A refund recorded as failed (say, the gateway
// call timed out) that the gateway then reports as paid is a fact too: the
// money leaves the wallet again, even below zero.
func (s *State) settleRefund(r *Refund, gatewayRefundID, eventID string, env Env) ([]Event, error) {
	d := s.deposits.byID[r.DepositID]
	if d == nil {
		return nil, fmt.Errorf("ledger: refund %s: deposit not loaded", r.ID)
	}
	events, pending := s.systemAccount(r.Book, r.Amount.Currency(), SystemRefundsPending, env)
	reinstated := r.Status == RefundStatusFailed
	if reinstated {
		events, pending = nil, r.Account
	}
	more, clearing := s.systemAccount(r.Book, r.Amount.Currency(), GatewayClearing(d.Gateway), env)
	if gatewayRefundID == "" {
		gatewayRefundID = r.GatewayRefundID
	}
	e := newEvent(r.Book, RefundSucceededEvent, RefundData{
		RefundID: r.ID, DepositID: r.DepositID, Account: r.Account, Amount: r.Amount.String(),
		Currency: string(r.Amount.Currency()), Gateway: d.Gateway, GatewayRefundID: gatewayRefundID, GatewayEventID: eventID,
		Reinstated: reinstated,
	}, env)
	e.Postings = []Posting{{Account: pending, Amount: r.Amount.Neg()}, {Account: clearing, Amount: r.Amount}}
	return append(append(events, more...), e), nil
}

// failRefund returns a refund's money to its wallet: from refunds:pending if
// it was pending, from the gateway's clearing account if the gateway reverses
// a refund it had reported as succeeded.
func (s *State) failRefund(r *Refund, gatewayRefundID, eventID, reason string, env Env) ([]Event, error) {
	d := s.deposits.byID[r.DepositID]
	if d == nil {
		return nil, fmt.Errorf("ledger: refund %s: deposit not loaded", r.ID)
	}
	name := SystemRefundsPending
	if r.Status == RefundStatusSucceeded {
		name = GatewayClearing(d.Gateway)
	}
	events, from := s.systemAccount(r.Book, r.Amount.Currency(), name, env)
	if gatewayRefundID == "" {
		gatewayRefundID = r.GatewayRefundID
	}
	e := newEvent(r.Book, RefundFailedEvent, RefundData{
		RefundID: r.ID, DepositID: r.DepositID, Account: r.Account, Amount: r.Amount.String(),
		Currency: string(r.Amount.Currency()), Gateway: d.Gateway, GatewayRefundID: gatewayRefundID,
		GatewayEventID: eventID, Reason: reason,
	}, env)
	e.Postings = []Posting{{Account: from, Amount: r.Amount.Neg()}, {Account: r.Account, Amount: r.Amount}}
	return append(events, e), nil
}

// decideRefundNotification applies a gateway's refund event to the deposit
// it is about. The refund is found by our id (echoed in metadata or, at
// Paystack, in the merchant note) or by the gateway's refund id, never by its
// amount alone. A refund the gateway reports that Tally did not ask for
// (made in its dashboard) is recorded as a fact, even if it takes the wallet
// below zero; one that cannot be told apart from a pending refund of ours
// is recorded as unmatched, for the reconciler to settle by asking the gateway.
func (s *State) decideRefundNotification(d *Deposit, c GatewayNotification, env Env) ([]Event, error) {
	amount, err := receivedMoney(c.Amount, c.Currency)
	if err != nil || amount.Currency() != d.Amount.Currency() {
		return s.unmatched(env.Book, c, "the refund's amount or currency does not fit its deposit", env), nil
	}
	r, ambiguous := s.matchRefund(d, c)
	if r == nil && ambiguous && c.Kind != NotifyRefundPending {
		return s.unmatched(env.Book, c, "a refund that names neither Tally's refund id nor the gateway's, while refunds Tally asked for are pending: it is not guessed by amount", env), nil
	}
	switch c.Kind {
	case NotifyRefundPending:
		return nil, nil // wait for the outcome
	case NotifyRefundSucceeded:
		if r == nil {
			return s.gatewayInitiatedRefund(d, c, amount, env)
		}
		if r.Status == RefundStatusSucceeded {
			return nil, nil // already settled: a duplicate or another event of the same refund
		}
		return s.settleRefund(r, c.RefundReference, c.EventID, env)
	case NotifyRefundFailed:
		if r == nil {
			return s.unmatched(env.Book, c, "a failed refund Tally does not know", env), nil
		}
		if r.Status == RefundStatusFailed {
			return nil, nil
		}
		return s.failRefund(r, c.RefundReference, c.EventID, c.Message, env)
	}
	return nil, fmt.Errorf("ledger: %s is not a refund notification", c.Kind)
}

// matchRefund finds the refund a notification is about, by our id or the
// gateway's. When it finds none, ambiguous says whether the notification
// could still be about a refund of ours: the gateway does not always echo
// our id, and a refund of the deposit is pending whose gateway id is
// unknown or not named by the notification.
func (s *State) matchRefund(d *Deposit, c GatewayNotification) (match *Refund, ambiguous bool) {
	if r := s.refunds[c.RefundID]; c.RefundID != "" && r != nil && r.DepositID == d.ID {
		return r, false
	}
	for _, r := range s.refunds {
		if r.DepositID != d.ID {
			continue
		}
		if c.RefundReference != "" && r.GatewayRefundID == c.RefundReference {
			return r, false
		}
		if !c.RefundIDsEchoed && c.RefundID == "" && r.Status == RefundStatusPending && !r.GatewayInitiated &&
			(c.RefundReference == "" || r.GatewayRefundID == "") {
			ambiguous = true
		}
	}
	return nil, ambiguous
}

func (s *State) gatewayInitiatedRefund(d *Deposit, c GatewayNotification, amount Money, env Env) ([]Event, error) {
	if d.Status != DepositSucceeded {
		// The wallet was never credited: nothing to take back from it.
		return s.unmatched(env.Book, c, "a refund of deposit "+d.ID+", which was never credited ("+string(d.Status)+")", env), nil
	}
	events, clearing := s.systemAccount(d.Book, amount.Currency(), GatewayClearing(d.Gateway), env)
	e := newEvent(d.Book, RefundSucceededEvent, RefundData{
		RefundID: env.NewID(PrefixRefund), DepositID: d.ID, Account: d.Account, Amount: amount.String(),
		Currency: string(amount.Currency()), Gateway: d.Gateway, GatewayRefundID: c.RefundReference,
		GatewayEventID: c.EventID, GatewayInitiated: true,
		Reason: "refunded in the gateway's dashboard, not through Tally",
	}, env)
	e.Postings = []Posting{{Account: d.Account, Amount: amount.Neg()}, {Account: clearing, Amount: amount}}
	return append(events, e), nil
}

// AddRefund puts a loaded refund into the state.
func (s *State) AddRefund(r Refund) { s.refunds[r.ID] = &r }

// Refund returns a refund of the state by id.
func (s *State) Refund(id string) (Refund, bool) {
	r := s.refunds[id]
	if r == nil {
		return Refund{}, false
	}
	return *r, true
}

func (s *State) applyRefund(e *Event) error {
	var d RefundData
	if err := DecodeData(e, &d); err != nil {
		return err
	}
	amount, err := ParseMoney(d.Amount, d.Currency)
	if err != nil {
		return err
	}
	r := s.refunds[d.RefundID]
	switch e.Type {
	case TransferRefunded:
		t := s.transfers[d.TransferID]
		if t == nil {
			return fmt.Errorf("ledger: %s of unknown transfer %s", e.Type, d.TransferID)
		}
		t.RefundedAmount = t.RefundedAmount.Add(amount)
		s.AddRefund(Refund{ID: d.RefundID, Book: e.Book, TransferID: t.ID, Account: d.Account, Amount: amount,
			Status: RefundStatusSucceeded, Reason: d.Reason, CreatedAt: e.RecordedAt})
		return nil
	case RefundRequested:
		s.AddRefund(Refund{ID: d.RefundID, Book: e.Book, DepositID: d.DepositID, Account: d.Account, Amount: amount,
			Status: RefundStatusPending, Gateway: d.Gateway, Reason: d.Reason, CreatedAt: e.RecordedAt})
		return s.addRefunded(d.DepositID, amount)
	case RefundSucceededEvent:
		if r == nil && d.GatewayInitiated {
			s.AddRefund(Refund{ID: d.RefundID, Book: e.Book, DepositID: d.DepositID, Account: d.Account, Amount: amount,
				Status: RefundStatusSucceeded, Gateway: d.Gateway, GatewayRefundID: d.GatewayRefundID,
				GatewayInitiated: true, Reason: d.Reason, CreatedAt: e.RecordedAt})
			return s.addRefunded(d.DepositID, amount)
		}
	}
	if r == nil {
		return fmt.Errorf("ledger: %s of unknown refund %s", e.Type, d.RefundID)
	}
	if d.GatewayRefundID != "" {
		r.GatewayRefundID = d.GatewayRefundID
	}
	switch e.Type {
	case RefundSucceededEvent:
		wasFailed := r.Status == RefundStatusFailed
		r.Status = RefundStatusSucceeded
		if wasFailed {
			return s.addRefunded(r.DepositID, amount)
		}
	case RefundFailedEvent:
		r.Status = RefundStatusFailed
		return s.addRefunded(r.DepositID, amount.Neg())
	}
	return nil
}

// addRefunded moves a deposit's refunded amount: up when a refund is
// requested (so concurrent requests cannot exceed the deposit), down when it fails.
func (s *State) addRefunded(depositID string, amount Money) error {
	dep := s.deposits.byID[depositID]
	if dep == nil {
		return fmt.Errorf("ledger: refund of unknown deposit %s", depositID)
	}
	dep.RefundedAmount = dep.RefundedAmount.Add(amount)
	return nil
}
