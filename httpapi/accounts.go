package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

type openAccountRequest struct {
	Owner          string            `json:"owner"`
	Currency       string            `json:"currency"`
	Book           string            `json:"book"`
	Metadata       map[string]string `json:"metadata"`
	OverdraftLimit *string           `json:"overdraft_limit"`
}

var bookName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

func (s *Server) openAccount(c echo.Context) error {
	var req openAccountRequest
	key, body, err := decodePost(c, false, &req)
	if err != nil {
		return err
	}
	// A key bound to an owner opens accounts for that owner only.
	if owner := principal(c).Owner; owner != "" {
		if req.Owner == "" {
			req.Owner = owner
		} else if req.Owner != owner {
			return ledger.Errorf(ledger.EForbidden, "this API key may only open accounts for its own owner").WithField("owner")
		}
	}
	var v checker
	v.text("owner", req.Owner, true, 128)
	cur, ok := ledger.LookupCurrency(req.Currency)
	if req.Currency == "" {
		v.add(ledger.EInvalidRequest, "currency", "currency is required")
	} else if !ok {
		v.add(ledger.EUnknownCurrency, "currency", "unknown currency %q: use an upper-case ISO 4217 code such as NGN or USD", req.Currency)
	}
	if req.Book == "" {
		req.Book = ledger.DefaultBook
	} else if !bookName.MatchString(req.Book) {
		v.add(ledger.EInvalidRequest, "book", "book must be lower-case letters, digits, '-' or '_', starting with a letter")
	}
	v.metadata(req.Metadata)
	var limit ledger.Money
	if req.OverdraftLimit != nil && ok {
		limit = v.limit(*req.OverdraftLimit, req.Currency)
	}
	if v.err != nil {
		return v.err
	}
	// Only finance may let a wallet go below zero.
	if req.OverdraftLimit != nil && !principal(c).Has(ScopeAdmin) {
		return ledger.Errorf(ledger.EForbidden, "only an admin key may set overdraft_limit").WithField("overdraft_limit")
	}
	// Each book costs the server a sequencer and the async projections'
	// work, so only admin keys may create one (docs/auth.md).
	if req.Book != ledger.DefaultBook && !principal(c).Has(ScopeAdmin) {
		exists, err := s.store.BookExists(c.Request().Context(), req.Book)
		if err != nil {
			return err
		}
		if !exists {
			return ledger.Errorf(ledger.EForbidden, "book %q does not exist, and only a key with the admin scope may create a book by opening its first account", req.Book).WithField("book")
		}
	}
	cmd := ledger.OpenAccount{
		AccountID: ledger.NewID(ledger.PrefixAccount), Book: req.Book, Owner: req.Owner, Currency: cur,
		Kind: ledger.KindWallet, WalletNumber: ledger.NewWalletNumber(), Metadata: req.Metadata, OverdraftLimit: limit,
	}
	return s.submit(c, key, body, pgjournal.Request{Command: cmd, Book: req.Book, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		a, _ := o.State.Account(cmd.AccountID)
		return jsonResponse(http.StatusCreated, viewAccount(a))
	}})
}

// accountRef reads the {id} path parameter: an account id or a wallet
// number. A wallet number failing its check digit is a typo (400); anything
// else that cannot be an account is simply not found.
func accountRef(c echo.Context) (string, error) {
	ref := c.Param("id")
	if digits.MatchString(ref) && len(ref) == 10 && !ledger.ValidWalletNumber(ref) {
		return "", checkAccountRef(ref)
	}
	if checkAccountRef(ref) != nil {
		return "", ledger.Errorf(ledger.ENotFound, "account %s not found", ref)
	}
	return ref, nil
}

func (s *Server) getAccount(c echo.Context) error {
	ref, err := accountRef(c)
	if err != nil {
		return err
	}
	a, err := s.store.Account(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	if !canSee(c, a) {
		return notFound("account", ref)
	}
	return c.JSON(http.StatusOK, viewAccount(a))
}

func (s *Server) listAccounts(c echo.Context) error {
	if err := checkQuery(c, "owner", "currency", "kind"); err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f := pgjournal.AccountFilter{Owner: c.QueryParam("owner"), Currency: c.QueryParam("currency"), Kind: c.QueryParam("kind"), Limit: limit + 1}
	if f.Period, err = period(c); err != nil {
		return err
	}
	if f.After, err = listCursor(c); err != nil {
		return err
	}
	if f.Kind != "" && f.Kind != string(ledger.KindWallet) && f.Kind != string(ledger.KindSystem) {
		return ledger.Errorf(ledger.EInvalidRequest, "kind must be wallet or system").WithField("kind")
	}
	if f.Currency != "" {
		if _, ok := ledger.LookupCurrency(f.Currency); !ok {
			return ledger.Errorf(ledger.EUnknownCurrency, "unknown currency %q", f.Currency).WithField("currency")
		}
	}
	if owner := principal(c).Owner; owner != "" {
		if f.Owner != "" && f.Owner != owner {
			return c.JSON(http.StatusOK, list[accountView]{Data: []accountView{}})
		}
		f.Owner = owner
	}
	accounts, err := s.store.Accounts(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageListed(accounts, limit, viewAccount))
}

func (s *Server) getBalance(c echo.Context) error {
	ref, err := accountRef(c)
	if err != nil {
		return err
	}
	if err := s.visible(c, ref); err != nil {
		return err
	}
	ctx := c.Request().Context()
	at, atGiven, err := timeParam(c, "at")
	if err != nil {
		return err
	}
	var position int64
	if p := c.QueryParam("position"); p != "" {
		if position, err = strconv.ParseInt(p, 10, 64); err != nil || position < 1 {
			return ledger.Errorf(ledger.EInvalidRequest, "position must be a positive integer").WithField("position")
		}
	}
	if atGiven && position != 0 {
		return ledger.Errorf(ledger.EInvalidRequest, "give at or position, not both")
	}
	if atGiven {
		a, err := s.store.Account(ctx, ref)
		if err != nil {
			return err
		}
		if position, err = s.store.PositionAt(ctx, a.Book, at); err != nil {
			return err
		}
		if position == 0 {
			// Nothing was recorded yet at that time: the balance was zero.
			return c.JSON(http.StatusOK, balanceView{AccountID: a.ID, Currency: a.Currency, Balance: ledger.Zero(a.Currency).String(), At: formatTime(at)})
		}
	}
	b, err := s.store.BalanceAt(ctx, ref, position)
	if err != nil {
		return err
	}
	v := balanceView{AccountID: b.AccountID, Currency: b.Balance.Currency(), Balance: b.Balance.String(), Position: b.Position}
	if atGiven {
		v.At = formatTime(at)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) listEntries(c echo.Context) error {
	if err := checkQuery(c, "type"); err != nil {
		return err
	}
	ref, err := accountRef(c)
	if err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f := pgjournal.EntryFilter{Type: c.QueryParam("type"), Limit: limit + 1}
	if f.From, err = parseTime(c, "from"); err != nil {
		return err
	}
	if f.To, err = parseTime(c, "to"); err != nil {
		return err
	}
	if err := decodeCursor(c.QueryParam("cursor"), &f.AfterPosition, &f.AfterSeq); err != nil {
		return err
	}
	if f.AfterSeq > math.MaxInt16 { // a posting's seq is a smallint
		return ledger.Errorf(ledger.EInvalidRequest, "cursor is not one this API issued").WithField("cursor")
	}
	ctx := c.Request().Context()
	a, err := s.store.Account(ctx, ref)
	if err != nil {
		return err
	}
	if !canSee(c, a) {
		return notFound("account", ref)
	}
	entries, err := s.store.Entries(ctx, a.ID, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page(entries, limit, viewEntry, func(e pgjournal.Entry) string {
		return fmt.Sprintf("%d.%d", e.Position, e.Seq)
	}))
}

type statusRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) changeStatus(action ledger.StatusAction) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, err := idempotencyKey(c, false)
		if err != nil {
			return err
		}
		ref, err := accountRef(c)
		if err != nil {
			return err
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		var req statusRequest
		if body != nil {
			if err := decodeJSON(body, &req); err != nil {
				return err
			}
		}
		var v checker
		v.text("reason", req.Reason, false, 500)
		if v.err != nil {
			return v.err
		}
		cmd := ledger.ChangeStatus{Account: ref, Action: action, Reason: req.Reason}
		return s.submit(c, key, body, pgjournal.Request{Command: cmd, Render: func(o pgjournal.Outcome) pgjournal.Response {
			if o.Err != nil {
				return problemResponse(o.Err)
			}
			a, _ := o.State.Account(ref)
			return jsonResponse(http.StatusOK, viewAccount(a))
		}})
	}
}

type accountPatchRequest struct {
	OverdraftLimit *string `json:"overdraft_limit"`
}

// patchAccount changes what finance may change on a wallet: its overdraft
// limit (event account.limit_changed; the same limit again appends nothing).
func (s *Server) patchAccount(c echo.Context) error {
	key, body, err := readPost(c, false)
	if err != nil {
		return err
	}
	ref, err := accountRef(c)
	if err != nil {
		return err
	}
	var req accountPatchRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.OverdraftLimit == nil {
		return ledger.Errorf(ledger.EInvalidRequest, "nothing to change: send overdraft_limit").WithField("overdraft_limit")
	}
	a, err := s.store.Account(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	var v checker
	limit := v.limit(*req.OverdraftLimit, string(a.Currency))
	if v.err != nil {
		return v.err
	}
	cmd := ledger.ChangeLimit{Account: a.ID, Limit: limit}
	return s.submit(c, key, body, pgjournal.Request{Command: cmd, Book: a.Book, Render: func(o pgjournal.Outcome) pgjournal.Response {
		if o.Err != nil {
			return problemResponse(o.Err)
		}
		a, _ := o.State.Account(cmd.Account)
		return jsonResponse(http.StatusOK, viewAccount(a))
	}})
}
