package httpapi

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

type legRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

type transactionRequest struct {
	Legs        []legRequest      `json:"legs"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

type legView struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Amount   string          `json:"amount"`
	Currency ledger.Currency `json:"currency"`
}

type transactionView struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Legs        []legView         `json:"legs"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	Reverses    *string           `json:"reverses"`
	ReversedBy  *string           `json:"reversed_by"`
	Position    int64             `json:"position"`
	CreatedAt   string            `json:"created_at"`
}

func viewTransaction(t pgjournal.Transaction) transactionView {
	v := transactionView{ID: t.ID, Status: "completed", Legs: make([]legView, len(t.Legs)), Description: t.Description,
		Metadata: t.Metadata, Position: t.Position, CreatedAt: formatTime(t.CreatedAt)}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	for i, l := range t.Legs {
		v.Legs[i] = legView{From: l.From, To: l.To, Amount: l.Amount.String(), Currency: l.Amount.Currency()}
	}
	if t.Reverses != "" {
		v.Reverses = &t.Reverses
	}
	if t.ReversedBy != "" {
		v.ReversedBy = &t.ReversedBy
	}
	return v
}

func (s *Server) postTransaction(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	req, err := s.prepareTransaction(c, body)
	if err != nil {
		return err
	}
	return s.submit(c, key, body, req)
}

// prepareTransaction checks a transaction's body, leg by leg (fields
// legs[i].amount, …), and builds its request.
func (s *Server) prepareTransaction(c echo.Context, body []byte) (pgjournal.Request, error) {
	var req transactionRequest
	if err := decodeJSON(body, &req); err != nil {
		return pgjournal.Request{}, err
	}
	var v checker
	if len(req.Legs) == 0 || len(req.Legs) > ledger.MaxLegs {
		v.add(ledger.EInvalidRequest, "legs", "a transaction has 1 to %d legs, not %d", ledger.MaxLegs, len(req.Legs))
		return pgjournal.Request{}, v.err
	}
	legs := make([]ledger.Leg, len(req.Legs))
	for i, l := range req.Legs {
		var lv checker
		lv.accountRef("from", l.From)
		lv.accountRef("to", l.To)
		legs[i] = ledger.Leg{From: l.From, To: l.To, Amount: lv.money(l.Amount, l.Currency)}
		if lv.err != nil {
			for k := range lv.err.Fields {
				lv.err.Fields[k].Field = fmt.Sprintf("legs[%d].%s", i, lv.err.Fields[k].Field)
			}
			v.addErr(lv.err)
		}
	}
	v.text("description", req.Description, false, 500)
	v.metadata(req.Metadata)
	if v.err != nil {
		return pgjournal.Request{}, v.err
	}
	// A key bound to an owner sends only from that owner's accounts.
	for i, l := range legs {
		if err := s.visible(c, l.From); err != nil {
			return pgjournal.Request{}, ledger.Errorf(ledger.ENotFound, "account %s not found", l.From).WithField(fmt.Sprintf("legs[%d].from", i))
		}
	}
	cmd := ledger.PostTransaction{TransactionID: ledger.NewID(ledger.PrefixTxn), Legs: legs, Description: req.Description, Metadata: req.Metadata}
	return pgjournal.Request{Command: cmd, Render: renderTransaction(http.StatusCreated)}, nil
}

// renderTransaction renders the transaction.posted a command appended.
func renderTransaction(status int) func(pgjournal.Outcome) pgjournal.Response {
	return func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		e := o.Events[len(o.Events)-1]
		var d ledger.TransactionData
		if err := ledger.DecodeData(&e, &d); err != nil {
			return problemResponse(&ledger.Error{Code: ledger.EInternal, Message: "transaction event unreadable"})
		}
		t := pgjournal.Transaction{ID: d.TransactionID, Book: e.Book, Description: d.Description, Metadata: d.Metadata,
			Reverses: d.Reverses, Position: e.Position, CreatedAt: e.RecordedAt}
		for _, l := range d.Legs {
			t.Legs = append(t.Legs, ledger.Leg{From: l.From, To: l.To, Amount: ledger.MustMoney(l.Amount, string(l.Currency))})
		}
		return jsonResponse(status, viewTransaction(t))
	}
}

// visibleTransaction loads a transaction the caller may see: one with a
// leg from or to its owner's accounts.
func (s *Server) visibleTransaction(c echo.Context, id string) (pgjournal.Transaction, error) {
	if !ledger.HasPrefix(id, ledger.PrefixTxn) {
		return pgjournal.Transaction{}, notFound("transaction", id)
	}
	t, err := s.store.Transaction(c.Request().Context(), id)
	if err != nil {
		return t, err
	}
	var refs []string
	for _, l := range t.Legs {
		refs = append(refs, l.From, l.To)
	}
	return t, s.visibleAny(c, "transaction", id, refs...)
}

func (s *Server) getTransaction(c echo.Context) error {
	t, err := s.visibleTransaction(c, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTransaction(t))
}

func (s *Server) listTransactions(c echo.Context) error {
	q, err := s.listQuery(c)
	if err != nil {
		return err
	}
	rows, err := s.store.Transactions(c.Request().Context(), pgjournal.TransactionFilter{
		Account: q.account, Owner: principal(c).Owner, Period: q.period, After: q.after, Limit: q.limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(rows, q.limit, viewTransaction))
}

type reverseRequest struct {
	Description string `json:"description"`
}

// reverseTransaction posts every leg of a transaction back, once. Its
// money leaves the original's recipients, so an owner-bound key must own
// every one of them.
func (s *Server) reverseTransaction(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	var req reverseRequest
	if body != nil {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	var v checker
	v.text("description", req.Description, false, 500)
	if v.err != nil {
		return v.err
	}
	t, err := s.visibleTransaction(c, c.Param("id"))
	if err != nil {
		return err
	}
	for _, l := range t.Legs {
		if err := s.visible(c, l.To); err != nil {
			return notFound("transaction", t.ID)
		}
	}
	cmd := ledger.ReverseTransaction{TransactionID: ledger.NewID(ledger.PrefixTxn), Original: t.ID, Description: req.Description}
	return s.submit(c, key, body, pgjournal.Request{Command: cmd, Book: t.Book, Render: renderTransaction(http.StatusCreated)})
}
