package ledger

import (
	"encoding/json"
	"testing"
)

func proposalState(status ProposalStatus, amount string) *State {
	s := NewState([]Account{
		wallet("acc_a", "NGN", "100.00", StatusActive),
		wallet("acc_closed", "NGN", "0.00", StatusClosed),
		{ID: "acc_sys", Book: "main", Name: SystemAdjustments, Currency: "NGN", Kind: KindSystem, Status: StatusActive, Balance: MustMoney("-100", "NGN")},
	})
	s.AddProposal(AdjustmentProposal{ID: "adj_p", Book: "main", Account: "acc_a", Direction: Debit,
		Amount: MustMoney(amount, "NGN"), Reason: "fee", ProposedBy: "key_alice", Status: status})
	return s
}

func TestDecideProposal(t *testing.T) {
	tests := []struct {
		name   string
		state  *State
		cmd    Command
		code   Code
		events []EventType
	}{
		{"a valid proposal is recorded without postings", proposalState(ProposalPending, "1"),
			ProposeAdjustment{AdjustmentID: "adj_n", Account: "acc_a", Direction: Credit, Amount: MustMoney("5", "NGN"), Reason: "r", ProposedBy: "key_alice"},
			"", []EventType{AdjustmentProposed}},
		{"a proposal that could not post is refused at once", proposalState(ProposalPending, "1"),
			ProposeAdjustment{AdjustmentID: "adj_n", Account: "acc_a", Direction: Debit, Amount: MustMoney("100.01", "NGN"), Reason: "r", ProposedBy: "key_alice"},
			EInsufficientFunds, nil},
		{"a proposal to a closed wallet is refused", proposalState(ProposalPending, "1"),
			ProposeAdjustment{AdjustmentID: "adj_n", Account: "acc_closed", Direction: Credit, Amount: MustMoney("1", "NGN"), Reason: "r", ProposedBy: "key_alice"},
			EAccountClosed, nil},
		{"a different admin approves: the adjustment posts", proposalState(ProposalPending, "40"),
			ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_bob"}, "", []EventType{AdjustmentPosted}},
		{"the proposer's lineage cannot approve", proposalState(ProposalPending, "40"),
			ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_alice"}, EApproverIsProposer, nil},
		{"an approver without identity cannot approve", proposalState(ProposalPending, "40"),
			ApproveAdjustment{AdjustmentID: "adj_p"}, EApproverIsProposer, nil},
		{"an approval is refused when the wallet no longer covers the debit", proposalState(ProposalPending, "100.01"),
			ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_bob"}, EInsufficientFunds, nil},
		{"a posted proposal cannot be approved again", proposalState(ProposalPosted, "40"),
			ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_bob"}, EProposalNotPending, nil},
		{"a rejected proposal cannot be approved", proposalState(ProposalRejected, "40"),
			ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_bob"}, EProposalNotPending, nil},
		{"an unknown proposal is not found", proposalState(ProposalPending, "40"),
			ApproveAdjustment{AdjustmentID: "adj_x", ApprovedBy: "key_bob"}, ENotFound, nil},
		{"a rejection with a reason closes the proposal", proposalState(ProposalPending, "40"),
			RejectAdjustment{AdjustmentID: "adj_p", RejectedBy: "key_alice", Reason: "typo"}, "", []EventType{AdjustmentRejected}},
		{"a rejection needs a reason", proposalState(ProposalPending, "40"),
			RejectAdjustment{AdjustmentID: "adj_p", RejectedBy: "key_bob"}, EInvalidRequest, nil},
		{"a decided proposal cannot be rejected", proposalState(ProposalPosted, "40"),
			RejectAdjustment{AdjustmentID: "adj_p", RejectedBy: "key_bob", Reason: "late"}, EProposalNotPending, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := tt.state.Decide(tt.cmd, testEnv())
			if ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if len(events) != len(tt.events) {
				t.Fatalf("got %d events, want %v", len(events), tt.events)
			}
			for i, e := range events {
				if e.Type != tt.events[i] {
					t.Fatalf("event %d is %s, want %s", i, e.Type, tt.events[i])
				}
				if e.Type != AdjustmentPosted && len(e.Postings) != 0 {
					t.Fatalf("%s carries postings", e.Type)
				}
				if err := tt.state.Apply(&e); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestApprovedAdjustmentPostsTheProposal(t *testing.T) {
	s := proposalState(ProposalPending, "40")
	events, err := s.Decide(ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_bob"}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	var d AdjustmentPostedData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.AdjustmentID != "adj_p" || d.ProposedBy != "key_alice" || d.ApprovedBy != "key_bob" || d.Amount != "40.00" || d.Direction != Debit {
		t.Fatalf("posted data %+v", d)
	}
	if err := s.Apply(&e); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account("acc_a"); a.Balance.String() != "60.00" {
		t.Fatalf("wallet holds %s after the approved debit, want 60.00", a.Balance)
	}
	if p, _ := s.Proposal("adj_p"); p.Status != ProposalPosted {
		t.Fatalf("proposal is %s after posting", p.Status)
	}
	// A second approval in the same batch sees the posted proposal.
	if _, err := s.Decide(ApproveAdjustment{AdjustmentID: "adj_p", ApprovedBy: "key_carol"}, testEnv()); ErrorCode(err) != EProposalNotPending {
		t.Fatalf("second approval: %v", err)
	}
}
