package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// statusOf is the one place error codes become HTTP statuses.
var statusOf = map[ledger.Code]int{
	ledger.EInvalidRequest:        http.StatusBadRequest,
	ledger.EInvalidAmount:         http.StatusBadRequest,
	ledger.EUnknownCurrency:       http.StatusBadRequest,
	ledger.EIdempotencyKeyMissing: http.StatusBadRequest,
	ledger.EUnauthenticated:       http.StatusUnauthorized,
	ledger.EInvalidSignature:      http.StatusUnauthorized,
	ledger.EForbidden:             http.StatusForbidden,
	ledger.ENotFound:              http.StatusNotFound,
	ledger.EMethodNotAllowed:      http.StatusMethodNotAllowed,
	ledger.EIdempotencyKeyInUse:   http.StatusConflict,
	ledger.EBodyTooLarge:          http.StatusRequestEntityTooLarge,
	ledger.EUnsupportedMediaType:  http.StatusUnsupportedMediaType,
	ledger.EInsufficientFunds:     http.StatusUnprocessableEntity,
	ledger.ECurrencyMismatch:      http.StatusUnprocessableEntity,
	ledger.ESameAccount:           http.StatusUnprocessableEntity,
	ledger.EAccountFrozen:         http.StatusUnprocessableEntity,
	ledger.EAccountClosed:         http.StatusUnprocessableEntity,
	ledger.EBalanceNotZero:        http.StatusUnprocessableEntity,
	ledger.ESystemAccount:         http.StatusUnprocessableEntity,
	ledger.ERefundExceedsOriginal: http.StatusUnprocessableEntity,
	ledger.ENotRefundable:         http.StatusUnprocessableEntity,
	ledger.EIdempotencyKeyReused:  http.StatusUnprocessableEntity,
	ledger.EHoldNotPending:        http.StatusUnprocessableEntity,
	ledger.EHoldExpired:           http.StatusUnprocessableEntity,
	ledger.ECaptureExceedsHold:    http.StatusUnprocessableEntity,
	ledger.EBatchFailed:           http.StatusUnprocessableEntity,
	ledger.EKeyLimitReached:       http.StatusUnprocessableEntity,
	ledger.EProposalNotPending:    http.StatusUnprocessableEntity,
	ledger.EApproverIsProposer:    http.StatusForbidden,
	ledger.ERateLimited:           http.StatusTooManyRequests,
	ledger.EInternal:              http.StatusInternalServerError,
	ledger.EGatewayError:          http.StatusBadGateway,
	ledger.EUnavailable:           http.StatusServiceUnavailable,
}

// titles are the short, fixed problem titles.
var titles = map[ledger.Code]string{
	ledger.EInvalidRequest:        "Invalid request",
	ledger.EInvalidAmount:         "Invalid amount",
	ledger.EUnknownCurrency:       "Unknown currency",
	ledger.EIdempotencyKeyMissing: "Idempotency-Key header missing",
	ledger.EUnauthenticated:       "Unauthenticated",
	ledger.EInvalidSignature:      "Invalid signature",
	ledger.EForbidden:             "Forbidden",
	ledger.ENotFound:              "Not found",
	ledger.EMethodNotAllowed:      "Method not allowed",
	ledger.EIdempotencyKeyInUse:   "Idempotency-Key in use",
	ledger.EBodyTooLarge:          "Request body too large",
	ledger.EUnsupportedMediaType:  "Unsupported media type",
	ledger.EInsufficientFunds:     "Insufficient funds",
	ledger.ECurrencyMismatch:      "Currency mismatch",
	ledger.ESameAccount:           "Same account",
	ledger.EAccountFrozen:         "Account frozen",
	ledger.EAccountClosed:         "Account closed",
	ledger.EBalanceNotZero:        "Balance not zero",
	ledger.ESystemAccount:         "System account",
	ledger.ERefundExceedsOriginal: "Refund exceeds original",
	ledger.ENotRefundable:         "Not refundable",
	ledger.EIdempotencyKeyReused:  "Idempotency-Key reused",
	ledger.EHoldNotPending:        "Hold not pending",
	ledger.EHoldExpired:           "Hold expired",
	ledger.ECaptureExceedsHold:    "Capture exceeds hold",
	ledger.EBatchFailed:           "Batch failed",
	ledger.EKeyLimitReached:       "Key limit reached",
	ledger.EProposalNotPending:    "Proposal not pending",
	ledger.EApproverIsProposer:    "Approver is the proposer",
	ledger.ERateLimited:           "Rate limited",
	ledger.EInternal:              "Internal error",
	ledger.EGatewayError:          "Gateway error",
	ledger.EUnavailable:           "Service unavailable",
}

// ProblemBase prefixes every problem type URI.
const ProblemBase = "https://tally.dev/problems/"

type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Code   ledger.Code         `json:"code"`
	Errors []ledger.FieldError `json:"errors,omitempty"`
}

// problemResponse renders an RFC 9457 problem for a catalogued error.
func problemResponse(e *ledger.Error) pgjournal.Response {
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body, _ := json.Marshal(problem{
		Type: ProblemBase + string(e.Code), Title: titles[e.Code], Status: status,
		Detail: e.Message, Code: e.Code, Errors: e.Fields,
	})
	return pgjournal.Response{Status: status, ContentType: "application/problem+json", Body: body}
}

// jsonResponse renders a JSON success response.
func jsonResponse(status int, v any) pgjournal.Response {
	body, err := json.Marshal(v)
	if err != nil {
		return problemResponse(&ledger.Error{Code: ledger.EInternal, Message: "the response could not be encoded"})
	}
	return pgjournal.Response{Status: status, ContentType: "application/json", Body: body}
}

func write(c echo.Context, r pgjournal.Response) error {
	if r.Replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	setPosition(c, r.Position)
	return c.Blob(r.Status, r.ContentType, r.Body)
}

// errorHandler is Echo's HTTPErrorHandler: every error leaves as problem+json.
// Errors that are not *ledger.Error are logged and shown as a bare 500, so no
// SQL text or stack trace reaches a client.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var le *ledger.Error
	var he *echo.HTTPError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &le):
	case errors.As(err, &tooLarge): // a handler read past harden's cap
		le = ledger.Errorf(ledger.EBodyTooLarge, "request bodies are limited to 1 MiB")
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			le = ledger.Errorf(ledger.ENotFound, "no such route: %s %s", c.Request().Method, c.Request().URL.Path)
		case http.StatusMethodNotAllowed:
			le = ledger.Errorf(ledger.EMethodNotAllowed, "%s is not allowed on %s", c.Request().Method, c.Request().URL.Path)
		case http.StatusRequestEntityTooLarge:
			le = ledger.Errorf(ledger.EBodyTooLarge, "request bodies are limited to 1 MiB")
		case http.StatusUnauthorized:
			le = ledger.Errorf(ledger.EUnauthenticated, "missing or invalid API key")
		default:
			le = ledger.Errorf(ledger.EInvalidRequest, "%v", he.Message)
		}
	default:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "request_id", requestID(c), "err", err)
		le = &ledger.Error{Code: ledger.EInternal, Message: "an internal error occurred; it has been logged"}
	}
	if le.Code == ledger.EInternal && errors.As(err, &le) {
		s.log.Error("internal error", "path", c.Path(), "request_id", requestID(c), "err", err)
	}
	if err := write(c, problemResponse(le)); err != nil {
		s.log.Warn("writing error response", "err", err)
	}
}
