package ledger

import (
	"fmt"
	"time"
)

// Hold event types.
const (
	HoldCreated  EventType = "hold.created"
	HoldCaptured EventType = "hold.captured"
	HoldVoided   EventType = "hold.voided"
	HoldExpired  EventType = "hold.expired"
	HoldRefunded EventType = "hold.refunded"
)

// SystemHoldsPending is the per-book, per-currency system account that holds
// the money of pending holds, so that held money cannot be spent twice.
const SystemHoldsPending = "holds:pending"

// Hold expiry bounds.
const (
	DefaultHoldExpiry = 7 * 24 * time.Hour
	MaxHoldExpiry     = 720 * time.Hour
)

// HoldStatus is where a hold stands. Only a pending hold can change, and
// only once: captured, voided and expired are final.
type HoldStatus string

// Hold statuses.
const (
	HoldStatusPending  HoldStatus = "pending"
	HoldStatusCaptured HoldStatus = "captured"
	HoldStatusVoided   HoldStatus = "voided"
	HoldStatusExpired  HoldStatus = "expired"
)

// Hold is money reserved from one wallet for another: moved into
// holds:pending when created, then captured (all or part) to the recipient,
// or voided or expired back to the sender.
type Hold struct {
	ID             string
	Book           string
	From, To       string
	Amount         Money
	CapturedAmount Money
	RefundedAmount Money
	Status         HoldStatus
	ExpiresAt      time.Time
}

// HoldReader is implemented by commands that decide on existing holds, so
// the journal loads (and locks) them, and their accounts, with the batch.
type HoldReader interface {
	Holds() []string
}

// CreateHold reserves money from a wallet for another.
type CreateHold struct {
	HoldID      string
	From, To    string
	Amount      Money
	ExpiresIn   time.Duration // 0: DefaultHoldExpiry
	Description string
	Metadata    map[string]string
}

// CaptureHold moves (part of) a pending hold to its recipient and returns
// the rest to its sender.
type CaptureHold struct {
	HoldID string
	Amount string // empty: the whole hold; otherwise a decimal in its currency
}

// VoidHold returns a pending hold to its sender.
type VoidHold struct{ HoldID string }

// ExpireHold returns a pending hold whose time has passed to its sender. The
// service's expirer sends it; it changes nothing for a hold that is not
// pending or not yet due.
type ExpireHold struct{ HoldID string }

// RefundHold sends (part of) a captured hold back from its recipient to its
// sender, as a transfer refund does.
type RefundHold struct {
	RefundID string
	HoldID   string
	Amount   string // empty: all that is left
	Reason   string
}

// AccountRefs implements Command.
func (c CreateHold) AccountRefs() []string { return []string{c.From, c.To} }

// SystemAccounts implements Command.
func (c CreateHold) SystemAccounts() []SystemRef {
	return []SystemRef{{"", c.Amount.Currency(), SystemHoldsPending}}
}

// AccountRefs implements Command: the hold's accounts are loaded with it.
func (c CaptureHold) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c CaptureHold) SystemAccounts() []SystemRef { return nil }

// Holds implements HoldReader.
func (c CaptureHold) Holds() []string { return []string{c.HoldID} }

// AccountRefs implements Command.
func (c VoidHold) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c VoidHold) SystemAccounts() []SystemRef { return nil }

// Holds implements HoldReader.
func (c VoidHold) Holds() []string { return []string{c.HoldID} }

// AccountRefs implements Command.
func (c ExpireHold) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c ExpireHold) SystemAccounts() []SystemRef { return nil }

// Holds implements HoldReader.
func (c ExpireHold) Holds() []string { return []string{c.HoldID} }

// AccountRefs implements Command.
func (c RefundHold) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RefundHold) SystemAccounts() []SystemRef { return nil }

// Holds implements HoldReader.
func (c RefundHold) Holds() []string { return []string{c.HoldID} }

// SystemAccountsForHold names the system account a loaded hold posts against.
func SystemAccountsForHold(h Hold) []SystemRef {
	return []SystemRef{{h.Book, h.Amount.Currency(), SystemHoldsPending}}
}

// HoldData is the data of hold.created, hold.captured, hold.voided and
// hold.expired. Amount is always the whole hold; a capture says how much
// went to the recipient and how much came back to the sender.
type HoldData struct {
	HoldID         string            `json:"hold_id"`
	From           string            `json:"from"`
	To             string            `json:"to"`
	Amount         string            `json:"amount"`
	Currency       Currency          `json:"currency"`
	CapturedAmount string            `json:"captured_amount,omitempty"`
	ReleasedAmount string            `json:"released_amount,omitempty"`
	ExpiresAt      string            `json:"expires_at,omitempty"`
	Description    string            `json:"description,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// HoldRefundedData is the data of hold.refunded: money back from the
// recipient (Account) to the sender (Counterparty).
type HoldRefundedData struct {
	RefundID     string   `json:"refund_id"`
	HoldID       string   `json:"hold_id"`
	Account      string   `json:"account"`
	Counterparty string   `json:"counterparty"`
	Amount       string   `json:"amount"`
	Currency     Currency `json:"currency"`
	Reason       string   `json:"reason,omitempty"`
}

// AddHold puts a loaded hold into the state.
func (s *State) AddHold(h Hold) { s.holds[h.ID] = &h }

// Holds returns the state's holds as they stand.
func (s *State) Holds() []Hold {
	out := make([]Hold, 0, len(s.holds))
	for _, h := range s.holds {
		out = append(out, *h)
	}
	return out
}

// Hold returns a hold of the state by id.
func (s *State) Hold(id string) (Hold, bool) {
	h := s.holds[id]
	if h == nil {
		return Hold{}, false
	}
	return *h, true
}

// decideCreateHold checks a hold as a transfer (accounts, currency, status,
// funds) and moves its amount from the sender into holds:pending.
func (s *State) decideCreateHold(c CreateHold, env Env) ([]Event, error) {
	expiresIn := c.ExpiresIn
	if expiresIn == 0 {
		expiresIn = DefaultHoldExpiry
	}
	if expiresIn < time.Second || expiresIn > MaxHoldExpiry {
		return nil, Errorf(EInvalidRequest, "expires_in must be from 1s to 720h").WithField("expires_in")
	}
	from, to, err := s.payment(c.From, c.To, c.Amount, "")
	if err != nil {
		return nil, err
	}
	if err := from.mayPay(c.Amount); err != nil {
		return nil, err
	}
	events, pending := s.systemAccount(from.Book, c.Amount.Currency(), SystemHoldsPending, env)
	e := newEvent(from.Book, HoldCreated, HoldData{
		HoldID: c.HoldID, From: from.ID, To: to.ID, Amount: c.Amount.String(), Currency: c.Amount.Currency(),
		ExpiresAt: Truncate(env.Now.Add(expiresIn)).Format(TimeFormat), Description: c.Description, Metadata: c.Metadata,
	}, env)
	e.Postings = []Posting{{Account: from.ID, Amount: c.Amount.Neg()}, {Account: pending, Amount: c.Amount}}
	return append(events, e), nil
}

// pendingHold finds a hold that can still be captured or voided.
func (s *State) pendingHold(id string) (*Hold, error) {
	h := s.holds[id]
	if h == nil {
		return nil, Errorf(ENotFound, "hold %s not found", id)
	}
	if h.Status != HoldStatusPending {
		return nil, Errorf(EHoldNotPending, "hold %s is %s: only a pending hold can be captured or voided", h.ID, h.Status)
	}
	return h, nil
}

func (s *State) decideCaptureHold(c CaptureHold, env Env) ([]Event, error) {
	h := s.holds[c.HoldID]
	if h != nil && (h.Status == HoldStatusExpired || h.Status == HoldStatusPending && !env.Now.Before(h.ExpiresAt)) {
		return nil, Errorf(EHoldExpired, "hold %s expired at %s", h.ID, h.ExpiresAt.UTC().Format(TimeFormat))
	}
	h, err := s.pendingHold(c.HoldID)
	if err != nil {
		return nil, err
	}
	captured := h.Amount
	if c.Amount != "" {
		if captured, err = ParseMoney(c.Amount, string(h.Amount.Currency())); err != nil {
			return nil, err
		}
		if captured.Cmp(h.Amount) > 0 {
			return nil, Errorf(ECaptureExceedsHold, "%s is more than the hold's %s %s", captured, h.Amount, h.Amount.Currency()).WithField("amount")
		}
	}
	to := s.accounts[h.To]
	if to == nil || s.accounts[h.From] == nil {
		return nil, fmt.Errorf("ledger: hold %s: accounts not loaded", h.ID)
	}
	if err := usable(to); err != nil {
		return nil, err
	}
	released := h.Amount.Sub(captured)
	events, pending := s.systemAccount(h.Book, h.Amount.Currency(), SystemHoldsPending, env)
	d := h.data()
	d.CapturedAmount, d.ReleasedAmount = captured.String(), released.String()
	e := newEvent(h.Book, HoldCaptured, d, env)
	e.Postings = []Posting{{Account: pending, Amount: h.Amount.Neg()}, {Account: h.To, Amount: captured}}
	if !released.IsZero() {
		e.Postings = append(e.Postings, Posting{Account: h.From, Amount: released})
	}
	return append(events, e), nil
}

func (s *State) decideVoidHold(c VoidHold, env Env) ([]Event, error) {
	h, err := s.pendingHold(c.HoldID)
	if err != nil {
		return nil, err
	}
	return s.release(h, HoldVoided, env), nil
}

func (s *State) decideExpireHold(c ExpireHold, env Env) ([]Event, error) {
	h := s.holds[c.HoldID]
	if h == nil {
		return nil, Errorf(ENotFound, "hold %s not found", c.HoldID)
	}
	if h.Status != HoldStatusPending || env.Now.Before(h.ExpiresAt) {
		return nil, nil // captured or voided first, or not due: nothing to do
	}
	return s.release(h, HoldExpired, env), nil
}

// release returns the whole hold to its sender.
func (s *State) release(h *Hold, typ EventType, env Env) []Event {
	events, pending := s.systemAccount(h.Book, h.Amount.Currency(), SystemHoldsPending, env)
	e := newEvent(h.Book, typ, h.data(), env)
	e.Postings = []Posting{{Account: pending, Amount: h.Amount.Neg()}, {Account: h.From, Amount: h.Amount}}
	return append(events, e)
}

func (h *Hold) data() HoldData {
	return HoldData{HoldID: h.ID, From: h.From, To: h.To, Amount: h.Amount.String(), Currency: h.Amount.Currency()}
}

// decideRefundHold refunds a captured hold like a transfer: from the
// recipient back to the sender, at most what was captured, needing the
// recipient's funds.
func (s *State) decideRefundHold(c RefundHold, env Env) ([]Event, error) {
	h := s.holds[c.HoldID]
	if h == nil {
		return nil, Errorf(ENotFound, "hold %s not found", c.HoldID).WithField("hold")
	}
	if h.Status != HoldStatusCaptured {
		return nil, Errorf(ENotRefundable, "hold %s is %s: only a captured hold can be refunded", h.ID, h.Status).WithField("hold")
	}
	amount, err := s.refundAmount(c.Amount, h.CapturedAmount, h.RefundedAmount)
	if err != nil {
		return nil, err
	}
	recipient, sender := s.accounts[h.To], s.accounts[h.From]
	if recipient == nil || sender == nil {
		return nil, fmt.Errorf("ledger: hold %s: accounts not loaded", h.ID)
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
	e := newEvent(h.Book, HoldRefunded, HoldRefundedData{
		RefundID: c.RefundID, HoldID: h.ID, Account: recipient.ID, Counterparty: sender.ID,
		Amount: amount.String(), Currency: amount.Currency(), Reason: c.Reason,
	}, env)
	e.Postings = []Posting{{Account: recipient.ID, Amount: amount.Neg()}, {Account: sender.ID, Amount: amount}}
	return []Event{e}, nil
}

// applyHold moves a hold, and its sender's held amount, by a hold event.
func (s *State) applyHold(e *Event) error {
	if e.Type == HoldRefunded {
		var d HoldRefundedData
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		h := s.holds[d.HoldID]
		if h == nil {
			return fmt.Errorf("ledger: %s of unknown hold %s", e.Type, d.HoldID)
		}
		amount, err := ParseMoney(d.Amount, string(d.Currency))
		if err != nil {
			return err
		}
		h.RefundedAmount = h.RefundedAmount.Add(amount)
		return nil
	}
	var d HoldData
	if err := DecodeData(e, &d); err != nil {
		return err
	}
	amount, err := ParseMoney(d.Amount, string(d.Currency))
	if err != nil {
		return err
	}
	from := s.accounts[d.From]
	if from == nil {
		return fmt.Errorf("ledger: %s from unknown account %s", e.Type, d.From)
	}
	h := s.holds[d.HoldID]
	if e.Type == HoldCreated {
		expires, err := time.Parse(TimeFormat, d.ExpiresAt)
		if err != nil {
			return err
		}
		s.AddHold(Hold{ID: d.HoldID, Book: e.Book, From: d.From, To: d.To, Amount: amount, Status: HoldStatusPending,
			CapturedAmount: Zero(d.Currency), RefundedAmount: Zero(d.Currency), ExpiresAt: expires})
		from.Held = from.HeldOrZero().Add(amount)
		return nil
	}
	if h == nil {
		return fmt.Errorf("ledger: %s of unknown hold %s", e.Type, d.HoldID)
	}
	h.Status = holdStatusAfter[e.Type]
	if e.Type == HoldCaptured {
		if h.CapturedAmount, err = ParseMoney(d.CapturedAmount, string(d.Currency)); err != nil {
			return err
		}
	}
	from.Held = from.HeldOrZero().Sub(amount)
	return nil
}

var holdStatusAfter = map[EventType]HoldStatus{
	HoldCaptured: HoldStatusCaptured,
	HoldVoided:   HoldStatusVoided,
	HoldExpired:  HoldStatusExpired,
}
