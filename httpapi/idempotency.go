package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// inflight holds the Idempotency-Keys of one-step requests still running in
// this process, so that a concurrent duplicate here gets 409 instead of
// queueing behind it. (Across processes the first transaction's record
// answers the duplicate; two-step requests lock through a lease on their
// record in PostgreSQL, see submitTwoStep.)
type inflight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func newInflight() *inflight { return &inflight{keys: map[string]struct{}{}} }

func (f *inflight) acquire(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.keys[k]; busy {
		return false
	}
	f.keys[k] = struct{}{}
	return true
}

func (f *inflight) release(k string) {
	f.mu.Lock()
	delete(f.keys, k)
	f.mu.Unlock()
}

// Fingerprint identifies a request for idempotency: method, path and the
// canonical (RFC 8785) form of the body, so that whitespace or key order do
// not make a retry look like a different request.
func Fingerprint(method, path string, body []byte) string {
	canon := body
	if body != nil {
		if c, err := ledger.Canonicalize(body); err == nil {
			canon = c
		}
	}
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotencyKey returns the request's Idempotency-Key, checking its form.
// With required set, a missing key is 400 idempotency_key_missing.
func idempotencyKey(c echo.Context, required bool) (string, error) {
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		if required {
			return "", ledger.Errorf(ledger.EIdempotencyKeyMissing, "this endpoint moves money: send an Idempotency-Key header (a unique string per operation, at most %d characters)", MaxIdempotencyKey)
		}
		return "", nil
	}
	if err := checkKey("Idempotency-Key", key); err != nil {
		return "", err
	}
	return key, nil
}

// checkKey checks an idempotency key's form: at most MaxIdempotencyKey
// printable ASCII characters. name is where it came from, for the message.
func checkKey(name, key string) error {
	if len(key) > MaxIdempotencyKey {
		return ledger.Errorf(ledger.EInvalidRequest, "%s is longer than %d characters", name, MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return ledger.Errorf(ledger.EInvalidRequest, "%s must be printable ASCII", name)
		}
	}
	return nil
}

// submit runs a command through the journal with the full Idempotency-Key
// semantics: a retry of a finished request gets the stored bytes again
// (Idempotent-Replayed: true), a different request with the same key gets
// 422 idempotency_key_reused, and a duplicate while the first is running
// gets 409 idempotency_key_in_use.
func (s *Server) submit(c echo.Context, key string, body []byte, req pgjournal.Request) error {
	ctx := c.Request().Context()
	if key != "" {
		p := principal(c)
		idem := pgjournal.Idempotency{
			Scope:       p.IdempotencyScope(),
			Key:         key,
			Fingerprint: Fingerprint(c.Request().Method, c.Request().URL.Path, body),
		}
		slot := idem.Scope + "\x00" + idem.Key
		if !s.inflight.acquire(slot) {
			return ledger.Errorf(ledger.EIdempotencyKeyInUse, "a request with this Idempotency-Key is still in progress; retry when it has finished")
		}
		defer s.inflight.release(slot)
		// The sequencer looks the key up inside the append transaction and
		// answers a retry from the stored record.
		req.Idempotency = &idem
	}
	resp, err := s.journal.Submit(ctx, req)
	if errors.Is(err, context.DeadlineExceeded) {
		return ledger.Errorf(ledger.EUnavailable, "the ledger did not answer in time; retry with the same Idempotency-Key")
	}
	if err != nil {
		return err
	}
	return write(c, resp)
}
