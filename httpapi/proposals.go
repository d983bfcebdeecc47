package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Four-eyes adjustments over the API: list, approve and reject proposals
// (scope admin). Proposals are made by POST /v1/adjustments when
// TALLY_ADJUSTMENT_APPROVAL=required, and by the console.

// Actor is the identity a four-eyes decision records for the principal: its
// key lineage, so that a rotated key is still the same person; "admin" for
// the bootstrap key.
func (p *Principal) Actor() string {
	if p.Lineage != "" {
		return p.Lineage
	}
	return p.KeyID
}

type proposalView struct {
	ID               string           `json:"id"`
	Book             string           `json:"book"`
	Status           string           `json:"status"`
	Account          string           `json:"account"`
	Direction        ledger.Direction `json:"direction"`
	Amount           string           `json:"amount"`
	Currency         ledger.Currency  `json:"currency"`
	Reason           string           `json:"reason"`
	ProposedBy       string           `json:"proposed_by"`
	ProposedPosition int64            `json:"proposed_position"`
	ProposedAt       string           `json:"proposed_at"`
	DecidedBy        *string          `json:"decided_by"`
	DecisionReason   *string          `json:"decision_reason"`
	DecidedPosition  *int64           `json:"decided_position"`
	DecidedAt        *string          `json:"decided_at"`
}

func viewProposal(p pgjournal.Proposal) proposalView {
	v := proposalView{
		ID: p.ID, Book: p.Book, Status: string(p.Status), Account: p.Account, Direction: p.Direction,
		Amount: p.Amount.String(), Currency: p.Amount.Currency(), Reason: p.Reason, ProposedBy: p.ProposedBy,
		ProposedPosition: p.ProposedPosition, ProposedAt: formatTime(p.ProposedAt),
	}
	if p.Status != ledger.ProposalPending {
		at := formatTime(p.DecidedAt)
		v.DecidedBy, v.DecidedPosition, v.DecidedAt = &p.DecidedBy, &p.DecidedPosition, &at
		if p.DecisionReason != "" {
			v.DecisionReason = &p.DecisionReason
		}
	}
	return v
}

// proposeRequest is POST /v1/adjustments when approval is required (also
// as a batch item): the adjustment is proposed, and the answer is 202 with
// the pending proposal.
func (s *Server) proposeRequest(c echo.Context, cmd ledger.Adjust) pgjournal.Request {
	propose := ledger.ProposeAdjustment{
		AdjustmentID: cmd.AdjustmentID, Account: cmd.Account, Direction: cmd.Direction,
		Amount: cmd.Amount, Reason: cmd.Reason, ProposedBy: principal(c).Actor(),
	}
	return pgjournal.Request{Command: propose, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		e := o.Events[0]
		p, _ := o.State.Proposal(propose.AdjustmentID)
		return jsonResponse(http.StatusAccepted, viewProposal(pgjournal.Proposal{
			AdjustmentProposal: p, ProposedPosition: e.Position, ProposedAt: e.RecordedAt}))
	}}
}

func (s *Server) listProposals(c echo.Context) error {
	q, err := s.listQuery(c, "status", "book")
	if err != nil {
		return err
	}
	status, err := statusParam(c, ledger.ProposalPending, ledger.ProposalPosted, ledger.ProposalRejected)
	if err != nil {
		return err
	}
	book := ""
	if c.QueryParam("book") != "" {
		if book, err = queryBook(c); err != nil {
			return err
		}
	}
	rows, err := s.store.Proposals(c.Request().Context(), pgjournal.ProposalFilter{
		Book: book, Account: q.account, Status: status, Period: q.period, After: q.after, Limit: q.limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(rows, q.limit, viewProposal))
}

func (s *Server) proposal(c echo.Context) (pgjournal.Proposal, error) {
	id := c.Param("id")
	if !ledger.HasPrefix(id, ledger.PrefixAdjustment) {
		return pgjournal.Proposal{}, ledger.Errorf(ledger.ENotFound, "adjustment proposal %s not found", id)
	}
	return s.store.Proposal(c.Request().Context(), id)
}

func (s *Server) getProposal(c echo.Context) error {
	p, err := s.proposal(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewProposal(p))
}

type rejectRequest struct {
	Reason string `json:"reason"`
}

// decideProposal answers approve (reject false) and reject: 200 with the
// decided proposal, 403 approver_is_proposer, 422 proposal_not_pending or
// what the adjustment itself is refused for.
func (s *Server) decideProposal(reject bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req rejectRequest
		var key string
		var body []byte
		var err error
		if reject {
			key, body, err = decodePost(c, false, &req)
			if err != nil {
				return err
			}
			var v checker
			v.text("reason", req.Reason, true, 500)
			if v.err != nil {
				return v.err
			}
		} else if key, err = idempotencyKey(c, false); err != nil {
			return err
		}
		p, err := s.proposal(c)
		if err != nil {
			return err
		}
		actor := principal(c).Actor()
		var cmd ledger.Command = ledger.ApproveAdjustment{AdjustmentID: p.ID, ApprovedBy: actor}
		if reject {
			cmd = ledger.RejectAdjustment{AdjustmentID: p.ID, RejectedBy: actor, Reason: req.Reason}
		}
		return s.submit(c, key, body, pgjournal.Request{Command: cmd, Book: p.Book, Render: func(o pgjournal.Outcome) pgjournal.Response {
			if o.Err != nil {
				return problemResponse(o.Err)
			}
			return jsonResponse(http.StatusOK, viewProposal(decided(p, o.Events, actor)))
		}})
	}
}

// decided is p as the events that decided it leave it.
func decided(p pgjournal.Proposal, events []ledger.Event, actor string) pgjournal.Proposal {
	e := events[len(events)-1] // after the adjustments account's opening, if any
	p.DecidedBy, p.DecidedPosition, p.DecidedAt = actor, e.Position, e.RecordedAt
	p.Status = ledger.ProposalPosted
	if e.Type == ledger.AdjustmentRejected {
		var d ledger.AdjustmentRejectedData
		_ = ledger.DecodeData(&e, &d)
		p.Status, p.DecisionReason = ledger.ProposalRejected, d.Reason
	}
	return p
}
