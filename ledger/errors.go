package ledger

import (
	"errors"
	"fmt"
)

// Code is a stable, catalogued error code. Clients match on it; its text never changes.
type Code string

// The error-code catalogue. httpapi maps each code to one HTTP status.
const (
	EInvalidRequest        Code = "invalid_request"
	EInvalidAmount         Code = "invalid_amount"
	EUnknownCurrency       Code = "unknown_currency"
	EIdempotencyKeyMissing Code = "idempotency_key_missing"
	EUnauthenticated       Code = "unauthenticated"
	EInvalidSignature      Code = "invalid_signature"
	EForbidden             Code = "forbidden"
	ENotFound              Code = "not_found"
	EMethodNotAllowed      Code = "method_not_allowed"
	EIdempotencyKeyInUse   Code = "idempotency_key_in_use"
	EBodyTooLarge          Code = "body_too_large"
	EUnsupportedMediaType  Code = "unsupported_media_type"
	EInsufficientFunds     Code = "insufficient_funds"
	ECurrencyMismatch      Code = "currency_mismatch"
	ESameAccount           Code = "same_account"
	EAccountFrozen         Code = "account_frozen"
	EAccountClosed         Code = "account_closed"
	EBalanceNotZero        Code = "balance_not_zero"
	ESystemAccount         Code = "system_account"
	ERefundExceedsOriginal Code = "refund_exceeds_original"
	ENotRefundable         Code = "not_refundable"
	EIdempotencyKeyReused  Code = "idempotency_key_reused"
	EHoldNotPending        Code = "hold_not_pending"
	EHoldExpired           Code = "hold_expired"
	ECaptureExceedsHold    Code = "capture_exceeds_hold"
	EBatchFailed           Code = "batch_failed"
	EKeyLimitReached       Code = "key_limit_reached"
	EProposalNotPending    Code = "proposal_not_pending"
	EApproverIsProposer    Code = "approver_is_proposer"
	ERateLimited           Code = "rate_limited"
	EGatewayError          Code = "gateway_error"
	EUnavailable           Code = "unavailable"
	EInternal              Code = "internal"
)

// FieldError names the request field an error is about.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is Tally's one error type: a catalogued code and a message safe to show
// to the client. Anything that is not an *Error is internal.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
}

// Errorf builds an *Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithField records which request field the error is about.
func (e *Error) WithField(field string) *Error {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: e.Message})
	return e
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// ErrorCode returns the code of err if it is (or wraps) an *Error, else EInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
