package ledger

import (
	"encoding/json"
	"fmt"
)

// Four eyes for manual entries: an adjustment may be proposed by one admin
// (adjustment.proposed, no postings) and posted only when a different admin
// approves it (adjustment.posted, with the proposal's id), or rejected with
// a reason (adjustment.rejected, no postings). "Different" means a different
// key lineage: a key rotated from the proposer's is still the proposer.

// Proposal event types.
const (
	AdjustmentProposed EventType = "adjustment.proposed"
	AdjustmentRejected EventType = "adjustment.rejected"
)

// ProposalStatus is where an adjustment proposal stands.
type ProposalStatus string

// Proposal statuses.
const (
	ProposalPending  ProposalStatus = "pending"
	ProposalPosted   ProposalStatus = "posted"
	ProposalRejected ProposalStatus = "rejected"
)

// AdjustmentProposal is a proposed adjustment, as the ledger decides on it.
type AdjustmentProposal struct {
	ID         string // adj_…; the adjustment keeps it when it posts
	Book       string
	Account    string
	Direction  Direction
	Amount     Money
	Reason     string
	ProposedBy string // the proposer's key lineage
	Status     ProposalStatus
}

// AdjustmentProposedData is the data of adjustment.proposed.
type AdjustmentProposedData struct {
	AdjustmentID string    `json:"adjustment_id"`
	Account      string    `json:"account"`
	Direction    Direction `json:"direction"`
	Amount       string    `json:"amount"`
	Currency     Currency  `json:"currency"`
	Reason       string    `json:"reason"`
	ProposedBy   string    `json:"proposed_by"`
}

// AdjustmentRejectedData is the data of adjustment.rejected.
type AdjustmentRejectedData struct {
	AdjustmentID string `json:"adjustment_id"`
	Account      string `json:"account"`
	Reason       string `json:"reason"`
	RejectedBy   string `json:"rejected_by"`
}

// ProposeAdjustment records an adjustment that waits for a second admin.
type ProposeAdjustment struct {
	AdjustmentID string
	Account      string
	Direction    Direction
	Amount       Money
	Reason       string
	ProposedBy   string // the proposer's key lineage
}

// ApproveAdjustment posts a pending proposal.
type ApproveAdjustment struct {
	AdjustmentID string
	ApprovedBy   string // the approver's key lineage
}

// RejectAdjustment closes a pending proposal without posting it.
type RejectAdjustment struct {
	AdjustmentID string
	RejectedBy   string
	Reason       string
}

// ProposalReader is implemented by commands that decide on adjustment
// proposals, so the journal loads (and locks) them with the batch.
type ProposalReader interface {
	Proposals() []string
}

// AccountRefs implements Command.
func (c ProposeAdjustment) AccountRefs() []string { return []string{c.Account} }

// SystemAccounts implements Command.
func (c ProposeAdjustment) SystemAccounts() []SystemRef { return nil }

// AccountRefs implements Command: the proposal's account is loaded with it.
func (c ApproveAdjustment) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c ApproveAdjustment) SystemAccounts() []SystemRef { return nil }

// Proposals implements ProposalReader.
func (c ApproveAdjustment) Proposals() []string { return []string{c.AdjustmentID} }

// AccountRefs implements Command.
func (c RejectAdjustment) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c RejectAdjustment) SystemAccounts() []SystemRef { return nil }

// Proposals implements ProposalReader.
func (c RejectAdjustment) Proposals() []string { return []string{c.AdjustmentID} }

// SystemAccountsForProposal lists the system accounts approving p posts against.
func SystemAccountsForProposal(p AdjustmentProposal) []SystemRef {
	return []SystemRef{{p.Book, p.Amount.Currency(), SystemAdjustments}}
}

// AddProposal makes a proposal known to the state (as loaded from storage).
func (s *State) AddProposal(p AdjustmentProposal) { s.proposals[p.ID] = &p }

// Proposal returns a proposal the state knows.
func (s *State) Proposal(id string) (AdjustmentProposal, bool) {
	p, ok := s.proposals[id]
	if !ok {
		return AdjustmentProposal{}, false
	}
	return *p, true
}

// decidePropose checks the adjustment as if it were posted now (so that a
// proposal that could never post is refused at once) and records it.
// Returns what Adjust returns.
func (s *State) decidePropose(c ProposeAdjustment, env Env) ([]Event, error) {
	adjust := Adjust{AdjustmentID: c.AdjustmentID, Account: c.Account, Direction: c.Direction, Amount: c.Amount, Reason: c.Reason}
	if _, err := s.decideAdjust(adjust, env); err != nil {
		return nil, err
	}
	if c.ProposedBy == "" {
		return nil, Errorf(EInvalidRequest, "a proposal needs its proposer")
	}
	a := s.lookup(c.Account)
	return []Event{newEvent(a.Book, AdjustmentProposed, AdjustmentProposedData{
		AdjustmentID: c.AdjustmentID, Account: a.ID, Direction: c.Direction,
		Amount: c.Amount.String(), Currency: c.Amount.Currency(), Reason: c.Reason, ProposedBy: c.ProposedBy,
	}, env)}, nil
}

// pendingProposal returns the pending proposal id names. Returns ENotFound
// or EProposalNotPending.
func (s *State) pendingProposal(id string) (*AdjustmentProposal, error) {
	p := s.proposals[id]
	if p == nil {
		return nil, Errorf(ENotFound, "adjustment proposal %s not found", id)
	}
	if p.Status != ProposalPending {
		return nil, Errorf(EProposalNotPending, "adjustment proposal %s is already %s", id, p.Status)
	}
	return p, nil
}

// decideApprove posts a pending proposal. Returns ENotFound,
// EProposalNotPending, EApproverIsProposer when the approver's key lineage
// is the proposer's, and what Adjust returns when the adjustment can no
// longer post (a debit the wallet no longer covers, a closed wallet).
func (s *State) decideApprove(c ApproveAdjustment, env Env) ([]Event, error) {
	p, err := s.pendingProposal(c.AdjustmentID)
	if err != nil {
		return nil, err
	}
	if c.ApprovedBy == "" || c.ApprovedBy == p.ProposedBy {
		return nil, Errorf(EApproverIsProposer, "adjustment proposal %s was proposed by this key; a different admin key must approve it", p.ID)
	}
	events, err := s.decideAdjust(Adjust{AdjustmentID: p.ID, Account: p.Account, Direction: p.Direction, Amount: p.Amount, Reason: p.Reason}, env)
	if err != nil {
		return nil, err
	}
	// The posted event says who proposed and who approved it.
	posted := &events[len(events)-1]
	var d AdjustmentPostedData
	if err := DecodeData(posted, &d); err != nil {
		return nil, fmt.Errorf("ledger: re-read adjustment: %w", err)
	}
	d.ProposedBy, d.ApprovedBy = p.ProposedBy, c.ApprovedBy
	if posted.Data, err = json.Marshal(d); err != nil {
		return nil, err
	}
	return events, nil
}

// decideReject closes a pending proposal. Anyone with the admin scope may
// reject, the proposer included (withdrawing it). Returns ENotFound,
// EProposalNotPending, or EInvalidRequest without a reason.
func (s *State) decideReject(c RejectAdjustment, env Env) ([]Event, error) {
	p, err := s.pendingProposal(c.AdjustmentID)
	if err != nil {
		return nil, err
	}
	if c.Reason == "" {
		return nil, Errorf(EInvalidRequest, "a rejection needs a reason").WithField("reason")
	}
	return []Event{newEvent(p.Book, AdjustmentRejected, AdjustmentRejectedData{
		AdjustmentID: p.ID, Account: p.Account, Reason: c.Reason, RejectedBy: c.RejectedBy,
	}, env)}, nil
}

// applyProposal moves proposals forward: proposed ones become known and
// pending; a posted or rejected one leaves pending.
func (s *State) applyProposal(e *Event) error {
	switch e.Type {
	case AdjustmentProposed:
		var d AdjustmentProposedData
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		amount, err := ParseMoney(d.Amount, string(d.Currency))
		if err != nil {
			return err
		}
		s.AddProposal(AdjustmentProposal{ID: d.AdjustmentID, Book: e.Book, Account: d.Account, Direction: d.Direction,
			Amount: amount, Reason: d.Reason, ProposedBy: d.ProposedBy, Status: ProposalPending})
	case AdjustmentPosted, AdjustmentRejected:
		var d struct {
			AdjustmentID string `json:"adjustment_id"`
		}
		if err := DecodeData(e, &d); err != nil {
			return err
		}
		if p := s.proposals[d.AdjustmentID]; p != nil {
			p.Status = map[EventType]ProposalStatus{AdjustmentPosted: ProposalPosted, AdjustmentRejected: ProposalRejected}[e.Type]
		}
	}
	return nil
}
