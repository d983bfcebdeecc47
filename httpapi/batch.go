package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// MaxBatchItems is the most items one batch may carry.
const MaxBatchItems = 1000

type batchItemRequest struct {
	Type           string          `json:"type"`
	IdempotencyKey string          `json:"idempotency_key"`
	Body           json.RawMessage `json:"body"`
	Hold           string          `json:"hold"`
}

type batchRequest struct {
	Atomic bool               `json:"atomic"`
	Items  []batchItemRequest `json:"items"`
}

type batchResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

type batchView struct {
	Results []batchResult `json:"results"`
}

// batchFailure is the answer of an atomic batch with a failed item: a
// problem, with every item's result.
type batchFailure struct {
	problem
	Results []batchResult `json:"results"`
}

// batchItemKind is what a batch item type is: its scope, the endpoint it
// stands for (the path its Idempotency-Key fingerprint names), and how its
// request is prepared.
type batchItemKind struct {
	scope   Scope
	path    func(hold string) string
	prepare func(s *Server, c echo.Context, item batchItemRequest) (pgjournal.Request, error)
}

var batchKinds = map[string]batchItemKind{
	"transfer": {ScopeTransfersWrite, fixedPath("/v1/transfers"), func(s *Server, c echo.Context, it batchItemRequest) (pgjournal.Request, error) {
		return s.prepareTransfer(c, it.Body)
	}},
	"transaction": {ScopeTransfersWrite, fixedPath("/v1/transactions"), func(s *Server, c echo.Context, it batchItemRequest) (pgjournal.Request, error) {
		return s.prepareTransaction(c, it.Body)
	}},
	"hold": {ScopeHoldsWrite, fixedPath("/v1/holds"), func(s *Server, c echo.Context, it batchItemRequest) (pgjournal.Request, error) {
		return s.prepareHold(c, it.Body)
	}},
	"capture": {ScopeHoldsWrite, func(h string) string { return "/v1/holds/" + h + "/capture" }, func(s *Server, c echo.Context, it batchItemRequest) (pgjournal.Request, error) {
		return s.prepareCapture(c, it.Hold, it.Body)
	}},
	"void": {ScopeHoldsWrite, func(h string) string { return "/v1/holds/" + h + "/void" }, func(s *Server, c echo.Context, it batchItemRequest) (pgjournal.Request, error) {
		return s.prepareVoid(c, it.Hold, it.Body)
	}},
	"adjustment": {ScopeAdmin, fixedPath("/v1/adjustments"), func(s *Server, c echo.Context, it batchItemRequest) (pgjournal.Request, error) {
		return s.prepareAdjustment(c, it.Body)
	}},
}

func fixedPath(p string) func(string) string { return func(string) string { return p } }

// postBatch decides up to MaxBatchItems writes in order, in one append:
// each item is checked as its endpoint checks it and carries its own
// Idempotency-Key, fingerprinted as a request to that endpoint, so an item
// retried alone (or in another batch) replays. Items failing their checks
// here (400, 403, 404) are answered without being decided; in an atomic
// batch they fail the batch before anything is decided.
func (s *Server) postBatch(c echo.Context) error {
	key, body, err := readPost(c, true)
	if err != nil {
		return err
	}
	var req batchRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if len(req.Items) == 0 || len(req.Items) > MaxBatchItems {
		return ledger.Errorf(ledger.EInvalidRequest, "a batch has 1 to %d items, not %d", MaxBatchItems, len(req.Items)).WithField("items")
	}
	p := principal(c)
	results := make([]batchResult, len(req.Items))
	var items []pgjournal.Request
	var index []int // items[k] is req.Items[index[k]]
	var slots []string
	defer func() {
		for _, slot := range slots {
			s.inflight.release(slot)
		}
	}()
	for i, it := range req.Items {
		kind, ok := batchKinds[it.Type]
		var r pgjournal.Request
		var err error
		switch {
		case !ok:
			err = ledger.Errorf(ledger.EInvalidRequest, "type must be transfer, transaction, hold, capture, void or adjustment").WithField(fmt.Sprintf("items[%d].type", i))
		case !p.Has(kind.scope):
			err = ledger.Errorf(ledger.EForbidden, "this API key lacks the %s scope", kind.scope)
		case it.IdempotencyKey == "":
			err = ledger.Errorf(ledger.EIdempotencyKeyMissing, "every item needs its own idempotency_key").WithField(fmt.Sprintf("items[%d].idempotency_key", i))
		case checkKey("idempotency_key", it.IdempotencyKey) != nil:
			err = checkKey("idempotency_key", it.IdempotencyKey).(*ledger.Error).WithField(fmt.Sprintf("items[%d].idempotency_key", i))
		case (it.Type == "capture" || it.Type == "void") == (it.Hold == ""):
			err = ledger.Errorf(ledger.EInvalidRequest, "hold is required for capture and void items, and only for them").WithField(fmt.Sprintf("items[%d].hold", i))
		default:
			var itemBody []byte
			if len(it.Body) > 0 && string(it.Body) != "null" {
				itemBody = it.Body
			}
			it.Body = itemBody
			r, err = kind.prepare(s, c, it)
			if err == nil {
				idem := pgjournal.Idempotency{Scope: p.IdempotencyScope(), Key: it.IdempotencyKey,
					Fingerprint: Fingerprint(http.MethodPost, kind.path(it.Hold), itemBody)}
				slot := idem.Scope + "\x00" + idem.Key
				if !s.inflight.acquire(slot) {
					err = ledger.Errorf(ledger.EIdempotencyKeyInUse, "a request with this item's idempotency_key is still in progress")
				} else {
					slots = append(slots, slot)
					r.Idempotency = &idem
				}
			}
		}
		if err != nil {
			if req.Atomic {
				results[i] = resultOf(s.problemOf(err, i))
				return write(c, renderBatchFailure(results, i))
			}
			results[i] = resultOf(s.problemOf(err, i))
			continue
		}
		items = append(items, r)
		index = append(index, i)
	}
	if len(items) == 0 {
		return c.JSON(http.StatusOK, batchView{Results: results})
	}
	group := pgjournal.Request{Items: items, Atomic: req.Atomic, Book: groupBook(items), Render: func(o pgjournal.Outcome) pgjournal.Response {
		for k, item := range o.Items {
			r := item.Response
			if item.Err != nil {
				r = s.problemOf(item.Err, index[k])
			}
			results[index[k]] = resultOf(r)
		}
		if o.Failed >= 0 {
			return renderBatchFailure(results, index[o.Failed])
		}
		return jsonResponse(http.StatusOK, batchView{Results: results})
	}}
	return s.submit(c, key, body, group)
}

// groupBook is the book of the first item that names one (a capture or
// void names its hold's); empty lets the journal find it from the accounts.
func groupBook(items []pgjournal.Request) string {
	for _, it := range items {
		if it.Book != "" {
			return it.Book
		}
		if len(it.Command.AccountRefs()) > 0 {
			return ""
		}
	}
	return ""
}

// renderBatchFailure answers an atomic batch whose item failed: 422
// batch_failed, the item's own answer, and 424 for every other item.
func renderBatchFailure(results []batchResult, failed int) pgjournal.Response {
	skipped := problemResponse(ledger.Errorf(ledger.EBatchFailed, "not applied: item %d of this atomic batch failed", failed))
	for i := range results {
		if i != failed {
			results[i] = batchResult{Status: http.StatusFailedDependency, Body: skipped.Body}
		}
	}
	e := ledger.Errorf(ledger.EBatchFailed, "item %d failed, so nothing in this atomic batch was applied", failed).WithField(fmt.Sprintf("items[%d]", failed))
	status := statusOf[ledger.EBatchFailed]
	body, _ := json.Marshal(batchFailure{
		problem: problem{Type: ProblemBase + string(e.Code), Title: titles[e.Code], Status: status, Detail: e.Message, Code: e.Code, Errors: e.Fields},
		Results: results,
	})
	return pgjournal.Response{Status: status, ContentType: "application/problem+json", Body: body}
}

func resultOf(r pgjournal.Response) batchResult {
	return batchResult{Status: r.Status, Body: r.Body}
}

// problemOf renders a batch item's error as its problem; an internal one is
// logged with the item's index and shown bare.
func (s *Server) problemOf(err error, item int) pgjournal.Response {
	var le *ledger.Error
	if !errors.As(err, &le) {
		s.log.Error("batch item failed", "item", item, "err", err)
		le = &ledger.Error{Code: ledger.EInternal, Message: "an internal error occurred"}
	}
	return problemResponse(le)
}
