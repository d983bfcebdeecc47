package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
)

// MaxBodyBytes caps request bodies; larger ones get 413 body_too_large.
const MaxBodyBytes = 1 << 20

// readBody reads a JSON request body of at most MaxBodyBytes. An empty body
// is returned as nil; a non-empty one must be declared application/json.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > MaxBodyBytes {
		return nil, ledger.Errorf(ledger.EBodyTooLarge, "request bodies are limited to 1 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, ledger.Errorf(ledger.EBodyTooLarge, "request bodies are limited to 1 MiB")
	}
	if err != nil {
		return nil, ledger.Errorf(ledger.EInvalidRequest, "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return nil, ledger.Errorf(ledger.EBodyTooLarge, "request bodies are limited to 1 MiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return nil, ledger.Errorf(ledger.EUnsupportedMediaType, "send the body as Content-Type: application/json")
	}
	return body, nil
}

// decodePost reads a POST that changes the ledger: its Idempotency-Key
// (required where money moves), then its body decoded strictly into v. It
// returns the key and the raw body, which the idempotency fingerprint covers.
func decodePost(c echo.Context, keyRequired bool, v any) (key string, body []byte, err error) {
	if key, err = idempotencyKey(c, keyRequired); err != nil {
		return "", nil, err
	}
	if body, err = readBody(c); err != nil {
		return "", nil, err
	}
	return key, body, decodeJSON(body, v)
}

// readPost reads a POST that changes the ledger without decoding it: its
// Idempotency-Key and its raw body.
func readPost(c echo.Context, keyRequired bool) (key string, body []byte, err error) {
	if key, err = idempotencyKey(c, keyRequired); err != nil {
		return "", nil, err
	}
	body, err = readBody(c)
	return key, body, err
}

// decodeJSON strictly decodes one JSON object into v: unknown fields,
// duplicated fields, field names in another letter case, trailing data and
// wrong types are refused with the field named (see checkStrictJSON). Amounts
// sent as JSON numbers get a message saying amounts are decimal strings.
func decodeJSON(body []byte, v any) error {
	if body == nil {
		return ledger.Errorf(ledger.EInvalidRequest, "a JSON request body is required")
	}
	if !utf8.Valid(body) {
		return ledger.Errorf(ledger.EInvalidRequest, "the request body is not valid UTF-8")
	}
	if err := checkStrictJSON(body, reflect.TypeOf(v)); err != nil {
		se := err.(*strictError)
		return ledger.Errorf(ledger.EInvalidRequest, "%s", se.msg).WithField(se.path)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field == "amount" && te.Value == "number":
		return ledger.Errorf(ledger.EInvalidAmount, "amount must be a decimal string such as \"300.00\", not a JSON number: amounts are decimal strings so that nothing is rounded").WithField("amount")
	case errors.As(err, &te) && te.Field != "":
		return ledger.Errorf(ledger.EInvalidRequest, "%s must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value).WithField(te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return ledger.Errorf(ledger.EInvalidRequest, "unknown field %q", field).WithField(field)
	}
	return ledger.Errorf(ledger.EInvalidRequest, "the request body is not a valid JSON object")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "map", "struct":
		return "object"
	case "slice":
		return "array"
	case "bool":
		return "boolean"
	}
	return "value"
}

// checker collects field errors; the first error's code is the problem's code.
type checker struct{ err *ledger.Error }

func (v *checker) add(code ledger.Code, field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.err == nil {
		v.err = &ledger.Error{Code: code, Message: msg}
	}
	v.err.Fields = append(v.err.Fields, ledger.FieldError{Field: field, Message: msg})
}

func (v *checker) addErr(err error) {
	var le *ledger.Error
	if errors.As(err, &le) {
		if v.err == nil {
			v.err = &ledger.Error{Code: le.Code, Message: le.Message}
		}
		v.err.Fields = append(v.err.Fields, le.Fields...)
	}
}

// isControl reports the characters free text may not hold: C0 controls
// other than tab, newline and carriage return, DEL, and C1 controls.
// (PostgreSQL refuses NUL outright.)
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f)
}

// text requires a string of 1..max characters without control characters.
func (v *checker) text(field, s string, required bool, max int) {
	switch {
	case s == "" && required:
		v.add(ledger.EInvalidRequest, field, "%s is required", field)
	case utf8.RuneCountInString(s) > max:
		v.add(ledger.EInvalidRequest, field, "%s is longer than %d characters", field, max)
	case strings.ContainsFunc(s, isControl):
		v.add(ledger.EInvalidRequest, field, "%s contains control characters", field)
	}
}

// limit parses an overdraft limit: an amount of the currency, zero allowed.
func (v *checker) limit(amount, currency string) ledger.Money {
	m, err := ledger.ParseLimit(amount, currency)
	if err != nil {
		var le *ledger.Error
		if errors.As(err, &le) {
			v.add(le.Code, "overdraft_limit", "%s", le.Message)
		}
	}
	return m
}

// money parses amount and currency as the API contract says.
func (v *checker) money(amount, currency string) ledger.Money {
	if currency == "" {
		v.add(ledger.EInvalidRequest, "currency", "currency is required")
	}
	if amount == "" {
		v.add(ledger.EInvalidAmount, "amount", "amount is required")
	}
	if amount == "" || currency == "" {
		return ledger.Money{}
	}
	m, err := ledger.ParseMoney(amount, currency)
	if err != nil {
		v.addErr(err)
	}
	return m
}

// accountRef checks an account id (acc_…) or a 10-digit wallet number.
func (v *checker) accountRef(field, ref string) {
	if ref == "" {
		v.add(ledger.EInvalidRequest, field, "%s is required", field)
		return
	}
	if err := checkAccountRef(ref); err != nil {
		v.add(ledger.EInvalidRequest, field, "%s: %s", field, err.Message)
	}
}

var digits = regexp.MustCompile(`^[0-9]+$`)

func checkAccountRef(ref string) *ledger.Error {
	switch {
	case ledger.HasPrefix(ref, ledger.PrefixAccount):
		return nil
	case digits.MatchString(ref) && len(ref) == 10:
		if !ledger.ValidWalletNumber(ref) {
			return ledger.Errorf(ledger.EInvalidRequest, "wallet number %s fails its check digit: it is mistyped", ref)
		}
		return nil
	}
	return ledger.Errorf(ledger.EInvalidRequest, "%q is neither an account id (acc_…) nor a 10-digit wallet number", ref)
}

// metadata limits, as payment APIs usually set them.
const (
	maxMetadataKeys  = 50
	maxMetadataKey   = 40
	maxMetadataValue = 500
)

func (v *checker) metadata(m map[string]string) {
	if len(m) > maxMetadataKeys {
		v.add(ledger.EInvalidRequest, "metadata", "metadata has more than %d keys", maxMetadataKeys)
		return
	}
	for k, val := range m {
		switch {
		case k == "" || utf8.RuneCountInString(k) > maxMetadataKey:
			v.add(ledger.EInvalidRequest, "metadata", "metadata keys are 1 to %d characters", maxMetadataKey)
		case utf8.RuneCountInString(val) > maxMetadataValue:
			v.add(ledger.EInvalidRequest, "metadata", "metadata value of %q is longer than %d characters", k, maxMetadataValue)
		case strings.ContainsFunc(k, isControl) || strings.ContainsFunc(val, isControl):
			v.add(ledger.EInvalidRequest, "metadata", "metadata keys and values may not contain control characters")
		default:
			continue
		}
		return
	}
}

// Lists: ?limit= (default 50, max 500).
const (
	defaultLimit = 50
	maxLimit     = 500
)

func parseLimit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, ledger.Errorf(ledger.EInvalidRequest, "limit must be an integer from 1 to %d", maxLimit).WithField("limit")
	}
	return n, nil
}

func parseTime(c echo.Context, name string) (time.Time, error) {
	t, _, err := timeParam(c, name)
	return t, err
}

// timeParam reads an optional RFC 3339 query parameter. given tells an
// absent parameter from the zero time (0001-01-01T00:00:00Z), which is a
// time like any other: before every event.
func timeParam(c echo.Context, name string) (t time.Time, given bool, err error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, ledger.Errorf(ledger.EInvalidRequest, "%s must be an RFC 3339 time such as 2026-01-31T23:59:59Z", name).WithField(name)
	}
	return t, true, nil
}
