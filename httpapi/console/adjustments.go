package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// adjustments lists the four-eyes proposals (pending first) and, for
// admins, the form to propose one. Any signed-in user may read them.
func (c *Console) adjustments(w http.ResponseWriter, r *http.Request, u *user) {
	q := r.URL.Query()
	status := q.Get("status")
	if status == "" {
		status = string(ledger.ProposalPending)
	}
	if !oneOf(status, "pending", "posted", "rejected") {
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "status must be pending, posted or rejected"))
		return
	}
	rows, err := c.cfg.Store.Proposals(r.Context(), pgjournal.ProposalFilter{Status: status, Limit: pageSize})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	c.render(w, r, http.StatusOK, "adjustments", u, map[string]any{
		"Rows": rows, "Status": status, "Statuses": []string{"pending", "posted", "rejected"},
		// A link from the queue pre-fills the form.
		"Form": map[string]string{"account": q.Get("account"), "direction": q.Get("direction"), "amount": q.Get("amount"),
			"currency": q.Get("currency"), "reason": q.Get("reason")},
		"Nonce": randomToken(),
	})
}

// submitted is what the console needs of a sequencer answer.
type submitted struct {
	Err *ledger.Error
	ID  string
}

// submit runs a four-eyes command through the journal. nonce, the form's
// one-time value, is its Idempotency-Key: a form sent twice (a double
// click, a reload) proposes once.
func (c *Console) submit(r *http.Request, u *user, cmd ledger.Command, book, nonce, fingerprint string) (submitted, error) {
	req := pgjournal.Request{Command: cmd, Book: book, Render: func(o pgjournal.Outcome) pgjournal.Response {
		s := submitted{Err: o.Err}
		if o.Err == nil && len(o.Events) > 0 {
			var d struct {
				ID string `json:"adjustment_id"`
			}
			_ = json.Unmarshal(o.Events[len(o.Events)-1].Data, &d)
			s.ID = d.ID
		}
		body, _ := json.Marshal(map[string]any{"id": s.ID, "code": codeOf(s.Err), "message": messageOf(s.Err)})
		return pgjournal.Response{Status: http.StatusOK, ContentType: "application/json", Body: body}
	}}
	if nonce != "" {
		req.Idempotency = &pgjournal.Idempotency{Scope: "console:" + u.Actor, Key: nonce, Fingerprint: fingerprint}
	}
	resp, err := c.cfg.Journal.Submit(r.Context(), req)
	if err != nil {
		return submitted{}, err
	}
	var out struct{ ID, Code, Message string }
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return submitted{}, err
	}
	s := submitted{ID: out.ID}
	if out.Code != "" {
		s.Err = &ledger.Error{Code: ledger.Code(out.Code), Message: out.Message}
	}
	return s, nil
}

func codeOf(e *ledger.Error) string {
	if e == nil {
		return ""
	}
	return string(e.Code)
}

func messageOf(e *ledger.Error) string {
	if e == nil {
		return ""
	}
	return e.Message
}

// propose records an adjustment for a second admin to approve.
func (c *Console) propose(w http.ResponseWriter, r *http.Request, u *user) {
	f := r.PostForm
	account, reason := strings.TrimSpace(f.Get("account")), strings.TrimSpace(f.Get("reason"))
	dir := ledger.Direction(f.Get("direction"))
	amount, err := ledger.ParseMoney(strings.TrimSpace(f.Get("amount")), strings.ToUpper(strings.TrimSpace(f.Get("currency"))))
	switch {
	case err != nil:
	case account == "":
		err = ledger.Errorf(ledger.EInvalidRequest, "give the account")
	case dir != ledger.Credit && dir != ledger.Debit:
		err = ledger.Errorf(ledger.EInvalidRequest, "direction must be credit or debit")
	case reason == "" || len(reason) > 500:
		err = ledger.Errorf(ledger.EInvalidRequest, "give a reason of at most 500 characters")
	}
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	a, err := c.cfg.Store.Account(r.Context(), account)
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	cmd := ledger.ProposeAdjustment{AdjustmentID: ledger.NewID(ledger.PrefixAdjustment), Account: a.ID, Direction: dir,
		Amount: amount, Reason: reason, ProposedBy: u.Actor}
	fingerprint := base64.RawURLEncoding.EncodeToString(hash(strings.Join([]string{a.ID, string(dir), amount.String(), string(amount.Currency()), reason}, "\x00")))
	res, err := c.submit(r, u, cmd, a.Book, f.Get("nonce"), fingerprint)
	c.after(w, r, u, res, err, "Proposed "+res.ID+": a different admin must approve it.")
}

// approve posts a proposal; the proposer's key lineage is refused.
func (c *Console) approve(w http.ResponseWriter, r *http.Request, u *user) {
	p, err := c.cfg.Store.Proposal(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	res, err := c.submit(r, u, ledger.ApproveAdjustment{AdjustmentID: p.ID, ApprovedBy: u.Actor}, p.Book, "", "")
	c.after(w, r, u, res, err, "Approved "+p.ID+": the adjustment is posted.")
}

// reject closes a proposal with a reason.
func (c *Console) reject(w http.ResponseWriter, r *http.Request, u *user) {
	p, err := c.cfg.Store.Proposal(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || len(reason) > 500 {
		c.fail(w, r, u, ledger.Errorf(ledger.EInvalidRequest, "give a reason of at most 500 characters"))
		return
	}
	res, err := c.submit(r, u, ledger.RejectAdjustment{AdjustmentID: p.ID, RejectedBy: u.Actor, Reason: reason}, p.Book, "", "")
	c.after(w, r, u, res, err, "Rejected "+p.ID+".")
}

// after answers a four-eyes form: the refusal as an error page, or back to
// the proposals with a notice (post/redirect/get).
func (c *Console) after(w http.ResponseWriter, r *http.Request, u *user, res submitted, err error, done string) {
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	http.Redirect(w, r, "/console/adjustments?done="+url.QueryEscape(done), http.StatusSeeOther)
}
