package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// GenesisHash is the prev_hash of a book's first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// HashEvent returns hex(SHA-256(JCS(event without "hash"))), the event's link
// in its book's hash chain. Anyone can recompute it from GET /v1/events output.
//
// The canonical text is written directly: the envelope's keys are fixed and
// written in their JCS order, and only the event's data goes through the
// canonicalizer. It is the same text as canonicalizing the event's JSON
// (MarshalJSON), which a test checks against that definition.
func HashEvent(e Event) (string, error) {
	b := make([]byte, 0, 512+len(e.Data)+96*len(e.Postings))
	b = append(b, `{"book":`...)
	b = appendCanonicalString(b, e.Book)
	b = append(b, `,"data":`...)
	data := []byte(e.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	var err error
	if b, err = appendCanonical(b, data); err != nil {
		return "", fmt.Errorf("ledger: event %s data: %w", e.ID, err)
	}
	b = append(b, `,"id":`...)
	b = appendCanonicalString(b, e.ID)
	b = append(b, `,"occurred_at":"`...)
	b = e.OccurredAt.UTC().AppendFormat(b, TimeFormat)
	if e.Position > 1<<53 || e.Position < -(1<<53) {
		return "", fmt.Errorf("ledger: JCS: number %d is not a safe integer", e.Position)
	}
	b = append(b, `","position":`...)
	b = strconv.AppendInt(b, e.Position, 10)
	b = append(b, `,"postings":[`...)
	for i, p := range e.Postings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"account":`...)
		b = appendCanonicalString(b, p.Account)
		b = append(b, `,"amount":`...)
		b = appendCanonicalString(b, p.Amount.String())
		b = append(b, `,"currency":`...)
		b = appendCanonicalString(b, string(p.Amount.Currency()))
		b = append(b, '}')
	}
	b = append(b, `],"prev_hash":`...)
	b = appendCanonicalString(b, e.PrevHash)
	b = append(b, `,"recorded_at":"`...)
	b = e.RecordedAt.UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","type":`...)
	b = appendCanonicalString(b, string(e.Type))
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// CheckLink checks that e follows the event at prevPosition with hash
// prevHash (0 and GenesisHash for a book's first event): the position is the
// next one, prev_hash links back, and the stored hash recomputes.
func CheckLink(prevPosition int64, prevHash string, e Event) error {
	if e.Position != prevPosition+1 {
		return fmt.Errorf("position %d follows %d: the journal has a gap", e.Position, prevPosition)
	}
	if e.PrevHash != prevHash {
		return fmt.Errorf("position %d: prev_hash does not match the hash of position %d", e.Position, prevPosition)
	}
	h, err := HashEvent(e)
	if err != nil {
		return fmt.Errorf("position %d: %w", e.Position, err)
	}
	if h != e.Hash {
		return fmt.Errorf("position %d: stored hash does not match its content", e.Position)
	}
	return nil
}
