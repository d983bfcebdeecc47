package ledger

// Gateways where the payer's approval must be followed by a capture (PayPal):
// the approval webhook is recorded as deposit.approved, Tally then asks the
// gateway to capture, and records its answer as deposit.capture_answered.
// Neither moves money: the capture's own success webhook credits the wallet,
// as for every other gateway.

// Capture event types.
const (
	DepositApprovedEvent        EventType = "deposit.approved"
	DepositCaptureAnsweredEvent EventType = "deposit.capture_answered"
)

// NotifyPaymentApproved is the payer's approval of a payment Tally must
// capture (PayPal's CHECKOUT.ORDER.APPROVED).
const NotifyPaymentApproved NotificationKind = "payment.approved"

// RecordCapture records a gateway's answer to capturing an approved payment.
type RecordCapture struct {
	DepositID string
	// CaptureID is the gateway's id for the captured payment; refunds name it.
	CaptureID string
	Status    string // the gateway's answer: completed, pending, declined
	Reason    string
}

// DepositCaptureData is the data of deposit.capture_answered.
type DepositCaptureData struct {
	DepositID        string `json:"deposit_id"`
	GatewayReference string `json:"gateway_reference,omitempty"` // the capture id
	Status           string `json:"status"`
	Reason           string `json:"reason,omitempty"`
}

// AccountRefs implements Command.
func (c RecordCapture) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RecordCapture) SystemAccounts() []SystemRef { return nil }

// Deposits implements DepositReader.
func (c RecordCapture) Deposits() []DepositKey { return []DepositKey{{ID: c.DepositID}} }

// decideApproval records a payer's approval of a pending deposit. A deposit
// already settled (the capture's webhook got there first) records nothing.
func (s *State) decideApproval(d *Deposit, c GatewayNotification, env Env) ([]Event, error) {
	if d.Status != DepositPending {
		return nil, nil
	}
	return []Event{newEvent(d.Book, DepositApprovedEvent, DepositOutcomeData{
		DepositID: d.ID, Reference: d.Reference, Gateway: c.Gateway, GatewayReference: c.GatewayReference,
		GatewayEventID: c.EventID, GatewayEventType: c.EventType, ReceivedAmount: c.Amount, ReceivedCurrency: c.Currency,
	}, env)}, nil
}

// decideRecordCapture records the gateway's answer once: a deposit that is no
// longer pending, or whose capture id is already recorded, records nothing.
func (s *State) decideRecordCapture(c RecordCapture, env Env) ([]Event, error) {
	d := s.deposits.byID[c.DepositID]
	if d == nil {
		return nil, Errorf(ENotFound, "deposit %s not found", c.DepositID)
	}
	if d.Status != DepositPending || (c.CaptureID != "" && d.GatewayReference == c.CaptureID) {
		return nil, nil
	}
	return []Event{newEvent(d.Book, DepositCaptureAnsweredEvent, DepositCaptureData{
		DepositID: d.ID, GatewayReference: c.CaptureID, Status: c.Status, Reason: c.Reason,
	}, env)}, nil
}
