package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

type transferRequest struct {
	From        string            `json:"from"`
	To          string            `json:"to"`
	Amount      string            `json:"amount"`
	Currency    string            `json:"currency"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

func (s *Server) createTransfer(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	req, err := s.prepareTransfer(c, body)
	if err != nil {
		return err
	}
	return s.submit(c, key, body, req)
}

// prepareTransfer checks a transfer's body and builds its request (for
// POST /v1/transfers and batch items alike).
func (s *Server) prepareTransfer(c echo.Context, body []byte) (pgjournal.Request, error) {
	var req transferRequest
	if err := decodeJSON(body, &req); err != nil {
		return pgjournal.Request{}, err
	}
	var v checker
	v.accountRef("from", req.From)
	v.accountRef("to", req.To)
	amount := v.money(req.Amount, req.Currency)
	v.text("description", req.Description, false, 500)
	v.metadata(req.Metadata)
	if v.err != nil {
		return pgjournal.Request{}, v.err
	}
	// A key bound to an owner sends only from that owner's accounts.
	if err := s.visible(c, req.From); err != nil {
		return pgjournal.Request{}, err
	}
	cmd := ledger.Transfer{
		TransferID: ledger.NewID(ledger.PrefixTransfer), From: req.From, To: req.To, Amount: amount,
		Description: req.Description, Metadata: req.Metadata,
	}
	// Render runs in the sequencer, while the book is locked: the view is
	// built from the command and the accounts it resolved to, rather than
	// by decoding the event's data back.
	return pgjournal.Request{Command: cmd, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		e := o.Events[0]
		from, _ := o.State.Account(cmd.From)
		to, _ := o.State.Account(cmd.To)
		return jsonResponse(http.StatusCreated, viewTransfer(pgjournal.Transfer{
			ID: cmd.TransferID, From: from.ID, To: to.ID, Amount: amount, RefundedAmount: ledger.Zero(amount.Currency()),
			Description: cmd.Description, Metadata: cmd.Metadata, Status: "completed", Position: e.Position, CreatedAt: e.RecordedAt,
		}))
	}}, nil
}

func (s *Server) getTransfer(c echo.Context) error {
	id := c.Param("id")
	if !ledger.HasPrefix(id, ledger.PrefixTransfer) {
		return ledger.Errorf(ledger.ENotFound, "transfer %s not found", id)
	}
	t, err := s.store.Transfer(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.visibleAny(c, "transfer", id, t.From, t.To); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTransfer(t))
}

func (s *Server) listTransfers(c echo.Context) error {
	q, err := s.listQuery(c)
	if err != nil {
		return err
	}
	// An owner-bound key lists those of its owner's accounts.
	rows, err := s.store.Transfers(c.Request().Context(), pgjournal.TransferFilter{
		Account: q.account, Owner: principal(c).Owner, Period: q.period, After: q.after, Limit: q.limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(rows, q.limit, viewTransfer))
}

type adjustmentRequest struct {
	Account   string `json:"account"`
	Direction string `json:"direction"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Reason    string `json:"reason"`
}

func (s *Server) createAdjustment(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	req, err := s.prepareAdjustment(c, body)
	if err != nil {
		return err
	}
	return s.submit(c, key, body, req)
}

// prepareAdjustment checks an adjustment's body and builds its request.
func (s *Server) prepareAdjustment(c echo.Context, body []byte) (pgjournal.Request, error) {
	var req adjustmentRequest
	if err := decodeJSON(body, &req); err != nil {
		return pgjournal.Request{}, err
	}
	var v checker
	v.accountRef("account", req.Account)
	if d := ledger.Direction(req.Direction); d != ledger.Credit && d != ledger.Debit {
		v.add(ledger.EInvalidRequest, "direction", "direction must be \"credit\" or \"debit\"")
	}
	amount := v.money(req.Amount, req.Currency)
	v.text("reason", req.Reason, true, 500)
	if v.err != nil {
		return pgjournal.Request{}, v.err
	}
	cmd := ledger.Adjust{
		AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: req.Account,
		Direction: ledger.Direction(req.Direction), Amount: amount, Reason: req.Reason,
	}
	if s.approval {
		return s.proposeRequest(c, cmd), nil
	}
	return pgjournal.Request{Command: cmd, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		e := o.Events[len(o.Events)-1] // after the adjustments account's opening, if any
		var d ledger.AdjustmentPostedData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return problemResponse(&ledger.Error{Code: ledger.EInternal, Message: "adjustment event unreadable"})
		}
		return jsonResponse(http.StatusCreated, adjustmentView{
			ID: d.AdjustmentID, Account: d.Account, Direction: d.Direction, Amount: d.Amount,
			Currency: d.Currency, Reason: d.Reason, Position: e.Position, CreatedAt: formatTime(e.RecordedAt),
		})
	}}, nil
}
