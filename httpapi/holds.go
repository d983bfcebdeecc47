package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// holdRoutes registers holds, transactions and batches.
func (s *Server) holdRoutes(v1 func(method, path string, h echo.HandlerFunc, scope Scope)) {
	v1("POST", "/holds", s.createHold, ScopeHoldsWrite)
	v1("GET", "/holds", s.listHolds, ScopeAccountsRead)
	v1("GET", "/holds/:id", s.getHold, ScopeAccountsRead)
	v1("POST", "/holds/:id/capture", s.captureHold, ScopeHoldsWrite)
	v1("POST", "/holds/:id/void", s.voidHold, ScopeHoldsWrite)
	v1("POST", "/transactions", s.postTransaction, ScopeTransfersWrite)
	v1("GET", "/transactions", s.listTransactions, ScopeAccountsRead)
	v1("GET", "/transactions/:id", s.getTransaction, ScopeAccountsRead)
	v1("POST", "/transactions/:id/reverse", s.reverseTransaction, ScopeTransfersWrite)
	// Each item is checked against its own scope.
	v1("POST", "/batch", s.postBatch, "")
}

type holdRequest struct {
	From        string            `json:"from"`
	To          string            `json:"to"`
	Amount      string            `json:"amount"`
	Currency    string            `json:"currency"`
	ExpiresIn   string            `json:"expires_in"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

type holdView struct {
	ID             string            `json:"id"`
	Status         ledger.HoldStatus `json:"status"`
	From           string            `json:"from"`
	To             string            `json:"to"`
	Amount         string            `json:"amount"`
	Currency       ledger.Currency   `json:"currency"`
	CapturedAmount string            `json:"captured_amount"`
	RefundedAmount string            `json:"refunded_amount"`
	ExpiresAt      string            `json:"expires_at"`
	Description    string            `json:"description"`
	Metadata       map[string]string `json:"metadata"`
	Position       int64             `json:"position"`
	CreatedAt      string            `json:"created_at"`
}

func viewHold(h pgjournal.Hold) holdView {
	meta := h.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return holdView{
		ID: h.ID, Status: h.Status, From: h.From, To: h.To, Amount: h.Amount.String(), Currency: h.Amount.Currency(),
		CapturedAmount: h.CapturedAmount.String(), RefundedAmount: h.RefundedAmount.String(),
		ExpiresAt: formatTime(h.ExpiresAt), Description: h.Description, Metadata: meta,
		Position: h.Position, CreatedAt: formatTime(h.CreatedAt),
	}
}

func (s *Server) createHold(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	req, err := s.prepareHold(c, body)
	if err != nil {
		return err
	}
	return s.submit(c, key, body, req)
}

// prepareHold checks a hold's body and builds its request.
func (s *Server) prepareHold(c echo.Context, body []byte) (pgjournal.Request, error) {
	var req holdRequest
	if err := decodeJSON(body, &req); err != nil {
		return pgjournal.Request{}, err
	}
	var v checker
	v.accountRef("from", req.From)
	v.accountRef("to", req.To)
	amount := v.money(req.Amount, req.Currency)
	v.text("description", req.Description, false, 500)
	v.metadata(req.Metadata)
	expiresIn := ledger.DefaultHoldExpiry
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d < time.Second || d > ledger.MaxHoldExpiry {
			v.add(ledger.EInvalidRequest, "expires_in", "expires_in must be a duration from \"1s\" to \"720h\", such as \"168h\"")
		}
		expiresIn = d
	}
	if v.err != nil {
		return pgjournal.Request{}, v.err
	}
	// A key bound to an owner holds only its owner's money.
	if err := s.visible(c, req.From); err != nil {
		return pgjournal.Request{}, err
	}
	cmd := ledger.CreateHold{
		HoldID: ledger.NewID(ledger.PrefixHold), From: req.From, To: req.To, Amount: amount, ExpiresIn: expiresIn,
		Description: req.Description, Metadata: req.Metadata,
	}
	return pgjournal.Request{Command: cmd, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		e := o.Events[len(o.Events)-1] // after the holds:pending account's opening, if any
		return renderHoldEvent(http.StatusCreated, o.State, e, e)
	}}, nil
}

// renderHoldEvent renders a hold from the state right after its latest
// event; created is its hold.created (for position, time, description).
func renderHoldEvent(status int, state *ledger.State, created, latest ledger.Event) pgjournal.Response {
	var d ledger.HoldData
	if err := ledger.DecodeData(&latest, &d); err != nil {
		return problemResponse(&ledger.Error{Code: ledger.EInternal, Message: "hold event unreadable"})
	}
	h, _ := state.Hold(d.HoldID)
	return jsonResponse(status, viewHold(pgjournal.Hold{Hold: h, Description: d.Description, Metadata: d.Metadata,
		Position: created.Position, CreatedAt: created.RecordedAt}))
}

func (s *Server) getHold(c echo.Context) error {
	h, err := s.visibleHold(c, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewHold(h))
}

// visibleHold loads a hold the caller may see: one from or to its owner's accounts.
func (s *Server) visibleHold(c echo.Context, id string) (pgjournal.Hold, error) {
	if !ledger.HasPrefix(id, ledger.PrefixHold) {
		return pgjournal.Hold{}, notFound("hold", id)
	}
	h, err := s.store.Hold(c.Request().Context(), id)
	if err != nil {
		return h, err
	}
	return h, s.visibleAny(c, "hold", id, h.From, h.To)
}

func (s *Server) listHolds(c echo.Context) error {
	q, err := s.listQuery(c, "status")
	if err != nil {
		return err
	}
	status, err := statusParam(c, ledger.HoldStatusPending, ledger.HoldStatusCaptured, ledger.HoldStatusVoided, ledger.HoldStatusExpired)
	if err != nil {
		return err
	}
	rows, err := s.store.Holds(c.Request().Context(), pgjournal.HoldFilter{
		Account: q.account, Owner: principal(c).Owner, Status: status, Period: q.period, After: q.after, Limit: q.limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(rows, q.limit, viewHold))
}

type captureRequest struct {
	Amount string `json:"amount"`
}

func (s *Server) captureHold(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	req, err := s.prepareCapture(c, c.Param("id"), body)
	if err != nil {
		return err
	}
	return s.submit(c, key, body, req)
}

// prepareCapture checks a capture of hold id and builds its request. An
// empty body captures the whole hold.
func (s *Server) prepareCapture(c echo.Context, id string, body []byte) (pgjournal.Request, error) {
	var req captureRequest
	if body != nil {
		if err := decodeJSON(body, &req); err != nil {
			return pgjournal.Request{}, err
		}
	}
	h, err := s.visibleHold(c, id)
	if err != nil {
		return pgjournal.Request{}, err
	}
	if req.Amount != "" {
		if _, err := ledger.ParseMoney(req.Amount, string(h.Amount.Currency())); err != nil {
			return pgjournal.Request{}, err
		}
	}
	return s.holdChange(h, ledger.CaptureHold{HoldID: h.ID, Amount: req.Amount}), nil
}

func (s *Server) voidHold(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	req, err := s.prepareVoid(c, c.Param("id"), body)
	if err != nil {
		return err
	}
	return s.submit(c, key, body, req)
}

// prepareVoid checks a void of hold id (its body, if any, must be {}).
func (s *Server) prepareVoid(c echo.Context, id string, body []byte) (pgjournal.Request, error) {
	if body != nil {
		var none struct{}
		if err := decodeJSON(body, &none); err != nil {
			return pgjournal.Request{}, err
		}
	}
	h, err := s.visibleHold(c, id)
	if err != nil {
		return pgjournal.Request{}, err
	}
	return s.holdChange(h, ledger.VoidHold{HoldID: h.ID}), nil
}

// holdChange is the request of a capture or void of h, answered with the
// hold as it stands after it.
func (s *Server) holdChange(h pgjournal.Hold, cmd ledger.Command) pgjournal.Request {
	return pgjournal.Request{Command: cmd, Book: h.Book, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		now, _ := o.State.Hold(h.ID)
		return jsonResponse(http.StatusOK, viewHold(pgjournal.Hold{Hold: now, Description: h.Description, Metadata: h.Metadata,
			Position: h.Position, CreatedAt: h.CreatedAt}))
	}}
}

// refundHold refunds a captured hold as a transfer: from its recipient back
// to its sender, at once.
func (s *Server) refundHold(c echo.Context, key string, body []byte, refundID string, req refundRequest) error {
	h, err := s.visibleHold(c, req.Hold)
	if err != nil {
		return err
	}
	// The money leaves the recipient: only its owner may send it back.
	if err := s.visibleAny(c, "hold", h.ID, h.To); err != nil {
		return err
	}
	if err := checkRefundAmount(req.Amount, h.Amount.Currency()); err != nil {
		return err
	}
	cmd := ledger.RefundHold{RefundID: refundID, HoldID: h.ID, Amount: req.Amount, Reason: req.Reason}
	return s.submit(c, key, body, pgjournal.Request{Command: cmd, Book: h.Book, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		e := o.Events[len(o.Events)-1]
		var d ledger.HoldRefundedData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return problemResponse(&ledger.Error{Code: ledger.EInternal, Message: "refund event unreadable"})
		}
		return jsonResponse(http.StatusCreated, viewRefund(ledger.Refund{
			ID: d.RefundID, Book: e.Book, HoldID: d.HoldID, Account: d.Account, Amount: ledger.MustMoney(d.Amount, string(d.Currency)),
			Status: ledger.RefundStatusSucceeded, Reason: d.Reason, CreatedAt: e.RecordedAt,
		}))
	}})
}

// countSet counts the non-empty strings.
func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}
