package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// DepositStatus is where a gateway top-up stands.
type DepositStatus string

// Deposit statuses.
const (
	DepositPending   DepositStatus = "pending"
	DepositSucceeded DepositStatus = "succeeded"
	DepositFailed    DepositStatus = "failed"
	DepositExpired   DepositStatus = "expired"
	// DepositFlagged means the gateway reported a payment that does not match
	// the deposit (amount, currency, or a closed wallet); nothing was credited
	// and finance must resolve it.
	DepositFlagged DepositStatus = "flagged"
)

// Deposit event types.
const (
	DepositInitiated      EventType = "deposit.initiated"
	DepositCheckoutOpened EventType = "deposit.checkout_opened"
	DepositSucceededEvent EventType = "deposit.succeeded"
	DepositFailedEvent    EventType = "deposit.failed"
	DepositExpiredEvent   EventType = "deposit.expired"
	DepositFlaggedEvent   EventType = "deposit.flagged"
	GatewayUnmatched      EventType = "gateway.unmatched"
)

// GatewayClearing names the per-book, per-currency system account that stands
// for money held at a gateway: "gateway:paystack".
func GatewayClearing(gateway string) string { return "gateway:" + gateway }

// Deposit is a top-up through a payment gateway, as the ledger decides on it.
type Deposit struct {
	ID               string
	Book             string
	Account          string
	Reference        string // ours, "DEP-…"; empty for unsolicited deposits
	Gateway          string
	Amount           Money
	Status           DepositStatus
	GatewayReference string
	CheckoutURL      string
	RefundedAmount   Money
	CreatedAt        time.Time
}

// NewDepositReference returns the reference a gateway echoes back for a
// deposit: "DEP-" and the deposit's ULID.
func NewDepositReference(depositID string) string {
	return "DEP-" + strings.TrimPrefix(depositID, PrefixDeposit+"_")
}

// depositIndex is the state's deposits, found by id, by our reference or by
// the gateway's payment id.
type depositIndex struct {
	byID         map[string]*Deposit
	byReference  map[string]*Deposit
	byGatewayRef map[string]*Deposit // by gateway + "\x00" + gateway reference
}

func newDepositIndex() depositIndex {
	return depositIndex{byID: map[string]*Deposit{}, byReference: map[string]*Deposit{}, byGatewayRef: map[string]*Deposit{}}
}

// DepositKey finds a deposit in a batch: by our reference, or by the
// gateway's payment id for payments that did not carry our reference.
type DepositKey struct {
	ID               string
	Reference        string
	Gateway          string
	GatewayReference string
}

// DepositReader is implemented by commands that decide on deposits, so the
// journal loads them (and locks them) with the batch.
type DepositReader interface {
	Deposits() []DepositKey
}

// InitiateDeposit records a deposit before the gateway is called.
type InitiateDeposit struct {
	DepositID   string
	Reference   string
	Account     string
	Amount      Money
	Gateway     string
	Email       string
	CallbackURL string
}

// RecordCheckout records the gateway's answer: the hosted checkout is open.
type RecordCheckout struct {
	DepositID        string
	CheckoutURL      string
	GatewayReference string
}

// FailDeposit records that a deposit cannot proceed (the gateway refused or
// did not answer when asked for a checkout).
type FailDeposit struct {
	DepositID string
	Reason    string
}

// GatewayNotification is a verified webhook, normalized, as a command.
type GatewayNotification struct {
	Gateway          string
	Kind             NotificationKind
	EventID          string
	EventType        string
	Reference        string
	GatewayReference string
	Amount           string // major units as the gateway reported them, exact
	Currency         string
	Account          string // metadata.tally_account, for unsolicited deposits
	Message          string
	RefundID         string // our refund id, when the gateway echoes it back
	RefundReference  string // the gateway's refund id
	// RefundIDsEchoed says the gateway echoes our refund id on every refund
	// Tally asked for, so a refund notification without one is not ours.
	RefundIDsEchoed bool
	Payload         string // the verified body, kept for the record
	WithdrawalID    string // our withdrawal id, on payout notifications
}

// NotificationKind is what a gateway notification means.
type NotificationKind string

// Notification kinds the ledger acts on.
const (
	NotifyPaymentSucceeded NotificationKind = "payment.succeeded"
	NotifyPaymentFailed    NotificationKind = "payment.failed"
	NotifyPaymentExpired   NotificationKind = "payment.expired"
	NotifyRefundSucceeded  NotificationKind = "refund.succeeded"
	NotifyRefundFailed     NotificationKind = "refund.failed"
	NotifyRefundPending    NotificationKind = "refund.pending"
	// NotifyUnreadable is a correctly signed body Tally could not parse; it
	// is recorded as gateway.unmatched so that nothing verified is dropped.
	NotifyUnreadable NotificationKind = "unreadable"
)

// AccountRefs implements Command.
func (c InitiateDeposit) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c InitiateDeposit) SystemAccounts() []SystemRef { return nil }

// AccountRefs implements Command.
func (c RecordCheckout) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RecordCheckout) SystemAccounts() []SystemRef { return nil }

// Deposits implements DepositReader.
func (c RecordCheckout) Deposits() []DepositKey { return []DepositKey{{ID: c.DepositID}} }

// AccountRefs implements Command.
func (c FailDeposit) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c FailDeposit) SystemAccounts() []SystemRef { return nil }

// Deposits implements DepositReader.
func (c FailDeposit) Deposits() []DepositKey { return []DepositKey{{ID: c.DepositID}} }

// AccountRefs implements Command: the wallet named in metadata, for unsolicited deposits.
func (c GatewayNotification) AccountRefs() []string {
	if c.Account == "" {
		return nil
	}
	return []string{c.Account}
}

// SystemAccounts implements Command.
func (c GatewayNotification) SystemAccounts() []SystemRef {
	if _, ok := LookupCurrency(c.Currency); !ok {
		return nil
	}
	return []SystemRef{{"", Currency(c.Currency), GatewayClearing(c.Gateway)}}
}

// AboutAPayment says the notification is a payment's outcome (succeeded,
// failed or expired): decided on its deposit, if any, and accounts alone.
func (c GatewayNotification) AboutAPayment() bool {
	switch c.Kind {
	case NotifyPaymentSucceeded, NotifyPaymentFailed, NotifyPaymentExpired:
		return c.WithdrawalID == "" && c.RefundID == ""
	}
	return false
}

// Deposits implements DepositReader.
func (c GatewayNotification) Deposits() []DepositKey {
	if c.WithdrawalID != "" {
		return nil // a payout: see Withdrawals
	}
	return []DepositKey{{Reference: c.Reference, Gateway: c.Gateway, GatewayReference: c.GatewayReference}}
}

// DepositInitiatedData is the data of deposit.initiated.
type DepositInitiatedData struct {
	DepositID   string   `json:"deposit_id"`
	Reference   string   `json:"reference"`
	Account     string   `json:"account"`
	Amount      string   `json:"amount"`
	Currency    Currency `json:"currency"`
	Gateway     string   `json:"gateway"`
	Email       string   `json:"email,omitempty"`
	CallbackURL string   `json:"callback_url,omitempty"`
}

// DepositCheckoutData is the data of deposit.checkout_opened.
type DepositCheckoutData struct {
	DepositID        string `json:"deposit_id"`
	CheckoutURL      string `json:"checkout_url"`
	GatewayReference string `json:"gateway_reference,omitempty"`
}

// DepositOutcomeData is the data of deposit.succeeded, deposit.failed,
// deposit.expired and deposit.flagged. Received figures are what the gateway
// reported; for flagged deposits they differ from the deposit's.
type DepositOutcomeData struct {
	DepositID        string `json:"deposit_id"`
	Reference        string `json:"reference,omitempty"`
	Account          string `json:"account,omitempty"`
	Gateway          string `json:"gateway,omitempty"`
	Amount           string `json:"amount,omitempty"`
	Currency         string `json:"currency,omitempty"`
	GatewayReference string `json:"gateway_reference,omitempty"`
	GatewayEventID   string `json:"gateway_event_id,omitempty"`
	GatewayEventType string `json:"gateway_event_type,omitempty"`
	ReceivedAmount   string `json:"received_amount,omitempty"`
	ReceivedCurrency string `json:"received_currency,omitempty"`
	Unsolicited      bool   `json:"unsolicited,omitempty"`
	Reason           string `json:"reason,omitempty"`
}

// GatewayUnmatchedData is the data of gateway.unmatched: a verified
// notification the ledger could not attribute, kept so nothing is dropped.
type GatewayUnmatchedData struct {
	Gateway          string `json:"gateway"`
	Kind             string `json:"kind"`
	GatewayEventID   string `json:"gateway_event_id"`
	GatewayEventType string `json:"gateway_event_type,omitempty"`
	Reference        string `json:"reference,omitempty"`
	GatewayReference string `json:"gateway_reference,omitempty"`
	Amount           string `json:"amount,omitempty"`
	Currency         string `json:"currency,omitempty"`
	Reason           string `json:"reason"`
	Payload          string `json:"payload,omitempty"`
}

func (s *State) deposit(k DepositKey) *Deposit {
	switch {
	case k.ID != "":
		return s.deposits.byID[k.ID]
	case k.Reference != "" && s.deposits.byReference[k.Reference] != nil:
		return s.deposits.byReference[k.Reference]
	case k.GatewayReference != "":
		return s.deposits.byGatewayRef[k.Gateway+"\x00"+k.GatewayReference]
	}
	return nil
}

// AddDeposit puts a loaded deposit into the state.
func (s *State) AddDeposit(d Deposit) {
	p := &d
	s.deposits.byID[d.ID] = p
	if d.Reference != "" {
		s.deposits.byReference[d.Reference] = p
	}
	if d.GatewayReference != "" {
		s.deposits.byGatewayRef[d.Gateway+"\x00"+d.GatewayReference] = p
	}
}

// Deposits returns the state's deposits as they stand.
func (s *State) Deposits() []Deposit {
	out := make([]Deposit, 0, len(s.deposits.byID))
	for _, d := range s.deposits.byID {
		out = append(out, *d)
	}
	return out
}

// Deposit returns a deposit of the state by id.
func (s *State) Deposit(id string) (Deposit, bool) {
	d := s.deposits.byID[id]
	if d == nil {
		return Deposit{}, false
	}
	return *d, true
}

func (s *State) decideInitiateDeposit(c InitiateDeposit, env Env) ([]Event, error) {
	a := s.lookup(c.Account)
	if a == nil {
		return nil, Errorf(ENotFound, "account %s not found", c.Account).WithField("account")
	}
	if a.Kind != KindWallet {
		return nil, Errorf(ESystemAccount, "deposits credit wallets only")
	}
	if a.Currency != c.Amount.Currency() {
		return nil, Errorf(ECurrencyMismatch, "deposit is in %s but the account holds %s", c.Amount.Currency(), a.Currency).WithField("currency")
	}
	if err := usable(a); err != nil {
		return nil, err
	}
	return []Event{newEvent(a.Book, DepositInitiated, DepositInitiatedData{
		DepositID: c.DepositID, Reference: c.Reference, Account: a.ID, Amount: c.Amount.String(),
		Currency: c.Amount.Currency(), Gateway: c.Gateway, Email: c.Email, CallbackURL: c.CallbackURL,
	}, env)}, nil
}

func (s *State) decideRecordCheckout(c RecordCheckout, env Env) ([]Event, error) {
	d := s.deposits.byID[c.DepositID]
	if d == nil {
		return nil, Errorf(ENotFound, "deposit %s not found", c.DepositID)
	}
	if d.Status != DepositPending || d.CheckoutURL != "" {
		return nil, nil // a webhook got there first, or the checkout is already recorded
	}
	return []Event{newEvent(d.Book, DepositCheckoutOpened, DepositCheckoutData{
		DepositID: d.ID, CheckoutURL: c.CheckoutURL, GatewayReference: c.GatewayReference,
	}, env)}, nil
}

func (s *State) decideFailDeposit(c FailDeposit, env Env) ([]Event, error) {
	d := s.deposits.byID[c.DepositID]
	if d == nil {
		return nil, Errorf(ENotFound, "deposit %s not found", c.DepositID)
	}
	if d.Status != DepositPending {
		return nil, nil
	}
	return []Event{newEvent(d.Book, DepositFailedEvent, DepositOutcomeData{DepositID: d.ID, Reason: c.Reason}, env)}, nil
}

// decideNotification applies a verified gateway notification. A payment
// credits its deposit's wallet at most once, whichever of several success
// events for it arrives first and however often each is delivered: once the
// deposit has succeeded (or been flagged), later ones change nothing.
func (s *State) decideNotification(c GatewayNotification, env Env) ([]Event, error) {
	book := env.Book
	switch c.Kind {
	case NotifyPayoutSucceeded, NotifyPayoutFailed, NotifyPayoutReversed:
		return s.decideWithdrawalNotification(c, env)
	}
	d := s.deposit(DepositKey{Reference: c.Reference, Gateway: c.Gateway, GatewayReference: c.GatewayReference})
	if d != nil && d.Gateway != c.Gateway {
		return s.unmatched(book, c, "the reference belongs to a deposit through another gateway", env), nil
	}
	switch c.Kind {
	case NotifyPaymentSucceeded:
		if d == nil {
			return s.unsolicited(book, c, env), nil
		}
		return s.settleDeposit(d, c, env)
	case NotifyPaymentFailed, NotifyPaymentExpired:
		if d == nil {
			return s.unmatched(book, c, "no deposit has this reference", env), nil
		}
		if d.Status != DepositPending {
			return nil, nil // a late failure never undoes a settled deposit
		}
		typ := DepositFailedEvent
		if c.Kind == NotifyPaymentExpired {
			typ = DepositExpiredEvent
		}
		return []Event{newEvent(d.Book, typ, DepositOutcomeData{
			DepositID: d.ID, Reference: d.Reference, Gateway: c.Gateway, GatewayReference: c.GatewayReference,
			GatewayEventID: c.EventID, GatewayEventType: c.EventType, Reason: c.Message,
		}, env)}, nil
	case NotifyRefundSucceeded, NotifyRefundFailed, NotifyRefundPending:
		if d == nil {
			return s.unmatched(book, c, "the refund is of no deposit Tally knows", env), nil
		}
		return s.decideRefundNotification(d, c, env)
	case NotifyPaymentApproved:
		if d == nil {
			return s.unmatched(book, c, "no deposit has this reference", env), nil
		}
		return s.decideApproval(d, c, env)
	case NotifyUnreadable:
		return s.unmatched(book, c, "the gateway's payload could not be parsed", env), nil
	}
	return s.unmatched(book, c, fmt.Sprintf("%s notifications are not handled yet", c.Kind), env), nil
}

func (s *State) settleDeposit(d *Deposit, c GatewayNotification, env Env) ([]Event, error) {
	switch d.Status {
	case DepositSucceeded, DepositFlagged:
		if c.GatewayReference != "" && d.GatewayReference != "" && c.GatewayReference != d.GatewayReference {
			// Another payment for a settled deposit: money the gateway holds
			// that no deposit accounts for. Keep it for finance.
			return s.unmatched(d.Book, c, "a second payment for deposit "+d.ID+", which is already "+string(d.Status), env), nil
		}
		return nil, nil // already settled: a duplicate or a second success event of the same payment
	}
	wallet := s.accounts[d.Account]
	if wallet == nil {
		return nil, fmt.Errorf("ledger: deposit %s: its wallet %s was not loaded", d.ID, d.Account)
	}
	out := DepositOutcomeData{
		DepositID: d.ID, Reference: d.Reference, Account: d.Account, Gateway: d.Gateway,
		Amount: d.Amount.String(), Currency: string(d.Amount.Currency()),
		GatewayReference: c.GatewayReference, GatewayEventID: c.EventID, GatewayEventType: c.EventType,
		ReceivedAmount: c.Amount, ReceivedCurrency: c.Currency,
	}
	received, err := receivedMoney(c.Amount, c.Currency)
	switch {
	case err != nil || c.Currency != string(d.Amount.Currency()):
		out.Reason = fmt.Sprintf("the gateway reported %s %s for a deposit of %s %s", c.Amount, c.Currency, d.Amount, d.Amount.Currency())
		return []Event{newEvent(d.Book, DepositFlaggedEvent, out, env)}, nil
	case received.Cmp(d.Amount) != 0:
		out.Reason = fmt.Sprintf("the gateway reported %s %s for a deposit of %s %s", received, c.Currency, d.Amount, d.Amount.Currency())
		return []Event{newEvent(d.Book, DepositFlaggedEvent, out, env)}, nil
	}
	if wallet.Status == StatusClosed {
		out.Reason = "the wallet is closed; the payment must be returned or reassigned by finance"
		return []Event{newEvent(d.Book, DepositFlaggedEvent, out, env)}, nil
	}
	// A frozen wallet is still credited: the money has been received and is
	// the customer's; freezing stops spending, not receiving from the gateway.
	events, clearing := s.systemAccount(d.Book, d.Amount.Currency(), GatewayClearing(d.Gateway), env)
	e := newEvent(d.Book, DepositSucceededEvent, out, env)
	e.Postings = []Posting{{Account: clearing, Amount: d.Amount.Neg()}, {Account: d.Account, Amount: d.Amount}}
	return append(events, e), nil
}

// unsolicited credits a payment no deposit knows when its metadata names a
// wallet of this book in the paid currency (a bank transfer to a virtual
// account, say); otherwise it is recorded as unmatched.
func (s *State) unsolicited(book string, c GatewayNotification, env Env) []Event {
	if c.Account == "" {
		return s.unmatched(book, c, "no deposit has this reference and no tally_account names a wallet", env)
	}
	wallet := s.lookup(c.Account)
	received, err := receivedMoney(c.Amount, c.Currency)
	switch {
	case wallet == nil || wallet.Kind != KindWallet || wallet.Book != book:
		return s.unmatched(book, c, "metadata.tally_account names no wallet of this book", env)
	case err != nil || wallet.Currency != received.Currency():
		return s.unmatched(book, c, "the payment's amount or currency does not fit the named wallet", env)
	case wallet.Status == StatusClosed:
		return s.unmatched(book, c, "the named wallet is closed", env)
	}
	id := env.NewID(PrefixDeposit)
	events, clearing := s.systemAccount(book, received.Currency(), GatewayClearing(c.Gateway), env)
	e := newEvent(book, DepositSucceededEvent, DepositOutcomeData{
		DepositID: id, Reference: c.Reference, Account: wallet.ID, Gateway: c.Gateway,
		Amount: received.String(), Currency: string(received.Currency()), GatewayReference: c.GatewayReference,
		GatewayEventID: c.EventID, GatewayEventType: c.EventType, Unsolicited: true,
	}, env)
	e.Postings = []Posting{{Account: clearing, Amount: received.Neg()}, {Account: wallet.ID, Amount: received}}
	return append(events, e)
}

func (s *State) unmatched(book string, c GatewayNotification, reason string, env Env) []Event {
	return []Event{newEvent(book, GatewayUnmatched, GatewayUnmatchedData{
		Gateway: c.Gateway, Kind: string(c.Kind), GatewayEventID: c.EventID, GatewayEventType: c.EventType,
		Reference: c.Reference, GatewayReference: c.GatewayReference, Amount: c.Amount, Currency: c.Currency,
		Reason: reason, Payload: c.Payload,
	}, env)}
}

// receivedMoney reads an amount a gateway reported. Unlike a client's amount
// it may carry more digits than ISO gives the currency (Stripe reports ISK
// with two decimals), as long as they are zeros: the value must be exact.
func receivedMoney(amount, currency string) (Money, error) {
	cur, ok := LookupCurrency(currency)
	if !ok {
		return Money{}, Errorf(EUnknownCurrency, "unknown currency %q", currency)
	}
	d, _, err := apd.NewFromString(amount)
	if err != nil || d.Form != apd.Finite || d.Sign() <= 0 {
		return Money{}, Errorf(EInvalidAmount, "amount %q is not a positive decimal", amount)
	}
	return MoneyFromDecimal(d, cur)
}

func (s *State) applyDeposit(e *Event) error {
	if e.Type == DepositInitiated {
		var d DepositInitiatedData
		if err := DecodeData(e, &d); err != nil {
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
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		dep := s.deposits.byID[d.DepositID]
		if dep == nil {
			return fmt.Errorf("ledger: %s for unknown deposit %s", e.Type, d.DepositID)
		}
		dep.CheckoutURL = d.CheckoutURL
		s.setGatewayReference(dep, d.GatewayReference)
		return nil
	}
	if e.Type == DepositCaptureAnsweredEvent {
		var d DepositCaptureData
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		dep := s.deposits.byID[d.DepositID]
		if dep == nil {
			return fmt.Errorf("ledger: %s for unknown deposit %s", e.Type, d.DepositID)
		}
		s.setGatewayReference(dep, d.GatewayReference)
		return nil
	}
	var d DepositOutcomeData
	if err := DecodeData(e, &d); err != nil {
		return err
	}
	dep := s.deposits.byID[d.DepositID]
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
		dep = s.deposits.byID[d.DepositID]
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
	s.deposits.byGatewayRef[d.Gateway+"\x00"+ref] = d
}
