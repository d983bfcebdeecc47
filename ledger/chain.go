package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf16"
)

// GenesisHash is the prev_hash of a book's first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// HashEvent returns hex(SHA-256(JCS(event without "hash"))), the event's link
// in its book's hash chain. Anyone can recompute it from GET /v1/events output.
func HashEvent(e Event) (string, error) {
	canon, err := canonicalEvent(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalEvent renders the event as GET /v1/events shows it, without
// "hash", in JCS form. The envelope's members are fixed, so it writes them
// directly in JCS order and only data goes through Canonicalize: the same
// bytes as Canonicalize(json.Marshal(the wire form)), which a test holds it
// to, several times faster (verify hashes every event of a journal).
func canonicalEvent(e Event) ([]byte, error) {
	if e.Position > 1<<53 || e.Position < -(1<<53) {
		return nil, fmt.Errorf("ledger: JCS: position %d is not a safe integer", e.Position)
	}
	data := []byte(e.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	var buf bytes.Buffer
	buf.Grow(384 + len(data) + 160*len(e.Postings))
	// Members sorted by UTF-16 code units: book, data, id, occurred_at,
	// position, postings, prev_hash, recorded_at, type.
	buf.WriteString(`{"book":`)
	writeCanonicalString(&buf, e.Book)
	buf.WriteString(`,"data":`)
	if err := canonicalValue(&buf, data); err != nil {
		return nil, err
	}
	buf.WriteString(`,"id":`)
	writeCanonicalString(&buf, e.ID)
	buf.WriteString(`,"occurred_at":`)
	writeCanonicalString(&buf, e.OccurredAt.UTC().Format(TimeFormat))
	buf.WriteString(`,"position":`)
	buf.WriteString(strconv.FormatInt(e.Position, 10))
	buf.WriteString(`,"postings":[`)
	for i, p := range e.Postings {
		if i > 0 {
			buf.WriteByte(',')
		}
		// account, amount, currency: already in JCS order.
		buf.WriteString(`{"account":`)
		writeCanonicalString(&buf, p.Account)
		buf.WriteString(`,"amount":`)
		writeCanonicalString(&buf, p.Amount.String())
		buf.WriteString(`,"currency":`)
		writeCanonicalString(&buf, string(p.Amount.Currency()))
		buf.WriteByte('}')
	}
	buf.WriteString(`],"prev_hash":`)
	writeCanonicalString(&buf, e.PrevHash)
	buf.WriteString(`,"recorded_at":`)
	writeCanonicalString(&buf, e.RecordedAt.UTC().Format(TimeFormat))
	buf.WriteString(`,"type":`)
	writeCanonicalString(&buf, string(e.Type))
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// canonicalValue writes one JSON value in JCS form, refusing anything after
// it, as json.Marshal refuses such a json.RawMessage.
func canonicalValue(buf *bytes.Buffer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("ledger: event data: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("ledger: event data: trailing data after the JSON value")
	}
	return writeCanonical(buf, v)
}

// Canonicalize renders JSON text in RFC 8785 (JCS) canonical form: object
// members sorted by UTF-16 code units, no insignificant whitespace, minimal
// string escapes. Numbers must be integers within ±2^53 (Tally's events carry
// amounts as strings, so only positions are numbers); others are refused
// rather than risk a rendering another JCS implementation would not share.
// The text must be exactly one JSON value: anything after it is refused, so
// that two different texts never share a canonical form by one's tail being
// ignored.
func Canonicalize(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("ledger: JCS: data after the JSON value")
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case string:
		writeCanonicalString(buf, v)
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil || n > 1<<53 || n < -(1<<53) {
			return fmt.Errorf("ledger: JCS: number %s is not a safe integer", v)
		}
		buf.WriteString(strconv.FormatInt(n, 10))
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return lessUTF16(keys[i], keys[j]) })
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonicalString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("ledger: JCS: unexpected %T", v)
	}
	return nil
}

// writeCanonicalString escapes as RFC 8785 requires: only '"', '\\' and
// control characters, with the short forms where JSON has them.
func writeCanonicalString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(buf, `\u%04x`, r)
			} else {
				buf.WriteRune(r)
			}
		}
	}
	buf.WriteByte('"')
}

// lessUTF16 orders strings by their UTF-16 code units, as JCS requires.
func lessUTF16(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return a < b
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
