package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonicalize renders JSON text in RFC 8785 (JCS) canonical form: object
// members sorted by UTF-16 code units, no insignificant whitespace, minimal
// string escapes. Numbers must be integers within ±2^53 (Tally's events carry
// amounts as strings, so only positions are numbers); others are refused
// rather than risk a rendering another JCS implementation would not share.
//
// raw must be exactly one JSON value (surrounding whitespace allowed):
// anything after it is refused, so that two different texts never share a
// canonical form. A key that appears twice keeps its last value.
func Canonicalize(raw []byte) ([]byte, error) {
	out, err := appendCanonical(make([]byte, 0, len(raw)), raw)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendCanonical appends the JCS form of raw, which must be exactly one
// JSON value (surrounding whitespace allowed), as json.Marshal requires of
// a json.RawMessage.
func appendCanonical(dst, raw []byte) ([]byte, error) {
	c := canonicalizer{in: raw, out: dst}
	if err := c.value(); err != nil {
		return dst, err
	}
	c.space()
	if c.pos != len(c.in) {
		return dst, c.syntax("after the JSON value")
	}
	return c.out, nil
}

// maxDepth is how deeply values may nest, as encoding/json allows.
const maxDepth = 10000

// canonicalizer is a single-pass JSON parser that writes the canonical form
// as it reads: it validates the grammar as encoding/json does, decodes
// strings as encoding/json does (invalid UTF-8 and lone surrogates become
// U+FFFD), and sorts each object's members once they are all written. It
// replaces decoding into map[string]any and re-encoding, which cost several
// times more and sat in the sequencer's critical section (every event is
// hashed while its book is locked).
type canonicalizer struct {
	in      []byte
	pos     int
	out     []byte
	depth   int
	tmp     []byte   // reused when an object's members are reordered
	members []member // a stack: each open object's members above its parent's
	stack   [16]member
}

var errUnexpectedEnd = errors.New("ledger: JCS: unexpected end of JSON input")

func (c *canonicalizer) syntax(what string) error {
	if c.pos >= len(c.in) {
		return errUnexpectedEnd
	}
	return fmt.Errorf("ledger: JCS: invalid character %q %s at offset %d", c.in[c.pos], what, c.pos)
}

func (c *canonicalizer) space() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value() error {
	c.space()
	if c.pos >= len(c.in) {
		return errUnexpectedEnd
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object()
	case ch == '[':
		return c.array()
	case ch == '"':
		s, err := c.str()
		if err != nil {
			return err
		}
		c.out = appendCanonicalBytes(c.out, s)
		return nil
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || ('0' <= ch && ch <= '9'):
		return c.number()
	}
	return c.syntax("looking for the beginning of a value")
}

func (c *canonicalizer) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if c.pos >= len(c.in) || c.in[c.pos] != word[i] {
			return c.syntax("in literal " + word)
		}
		c.pos++
	}
	c.out = append(c.out, word...)
	return nil
}

// number checks the JSON number grammar and writes the integer it must be.
func (c *canonicalizer) number() error {
	start := c.pos
	if c.in[c.pos] == '-' {
		c.pos++
	}
	switch {
	case c.pos < len(c.in) && c.in[c.pos] == '0':
		c.pos++
	case c.pos < len(c.in) && '1' <= c.in[c.pos] && c.in[c.pos] <= '9':
		c.digits()
	default:
		return c.syntax("in numeric literal")
	}
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if c.pos >= len(c.in) || c.in[c.pos] < '0' || c.in[c.pos] > '9' {
			return c.syntax("after decimal point in numeric literal")
		}
		c.digits()
	}
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if c.pos >= len(c.in) || c.in[c.pos] < '0' || c.in[c.pos] > '9' {
			return c.syntax("in exponent of numeric literal")
		}
		c.digits()
	}
	text := c.in[start:c.pos]
	n, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil || n > 1<<53 || n < -(1<<53) {
		return fmt.Errorf("ledger: JCS: number %s is not a safe integer", text)
	}
	c.out = strconv.AppendInt(c.out, n, 10)
	return nil
}

func (c *canonicalizer) digits() {
	for c.pos < len(c.in) && '0' <= c.in[c.pos] && c.in[c.pos] <= '9' {
		c.pos++
	}
}

func (c *canonicalizer) array() error {
	if c.depth++; c.depth > maxDepth {
		return errors.New("ledger: JCS: exceeded max depth")
	}
	c.pos++ // [
	c.out = append(c.out, '[')
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		c.depth--
		return nil
	}
	for {
		if err := c.value(); err != nil {
			return err
		}
		c.space()
		if c.pos >= len(c.in) {
			return errUnexpectedEnd
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			c.depth--
			return nil
		default:
			return c.syntax("after array element")
		}
	}
}

// member is one written member of an object: its decoded key and where its
// canonical "key":value text sits in out.
type member struct {
	key        []byte
	start, end int
}

func (c *canonicalizer) object() error {
	if c.depth++; c.depth > maxDepth {
		return errors.New("ledger: JCS: exceeded max depth")
	}
	c.pos++ // {
	base := len(c.out)
	c.out = append(c.out, '{')
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		c.depth--
		return nil
	}
	if c.members == nil {
		c.members = c.stack[:0]
	}
	first := len(c.members)
	defer func() { c.members = c.members[:first] }()
	sorted := true
	for {
		c.space()
		if c.pos >= len(c.in) {
			return errUnexpectedEnd
		}
		if c.in[c.pos] != '"' {
			return c.syntax("looking for beginning of object key string")
		}
		key, err := c.str()
		if err != nil {
			return err
		}
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.syntax("after object key")
		}
		c.pos++
		if len(c.members) > first {
			c.out = append(c.out, ',')
		}
		start := len(c.out)
		c.out = appendCanonicalBytes(c.out, key)
		c.out = append(c.out, ':')
		if err := c.value(); err != nil {
			return err
		}
		if n := len(c.members); n > first && !lessUTF16(c.members[n-1].key, key) {
			sorted = false
		}
		c.members = append(c.members, member{key, start, len(c.out)})
		c.space()
		if c.pos >= len(c.in) {
			return errUnexpectedEnd
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if c.in[c.pos] != ',' {
			return c.syntax("after object key:value pair")
		}
		c.pos++
	}
	c.depth--
	// Members already in order (json.Marshal of a struct whose fields are
	// declared in key order, or canonical input) are left where they are.
	if !sorted {
		c.reorder(base, c.members[first:])
	}
	c.out = append(c.out, '}')
	return nil
}

// reorder rewrites the members after base in key order; of members with the
// same key, the last one written is kept, as decoding into a map would.
func (c *canonicalizer) reorder(base int, members []member) {
	order := make([]int, len(members))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ka, kb := members[a].key, members[b].key
		switch {
		case bytes.Equal(ka, kb):
			return 0
		case lessUTF16(ka, kb):
			return -1
		}
		return 1
	})
	c.tmp = append(c.tmp[:0], c.out[base+1:]...)
	c.out = c.out[:base+1]
	first := true
	for i, idx := range order {
		if i+1 < len(order) && bytes.Equal(members[order[i+1]].key, members[idx].key) {
			continue // a later member has the same key
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		m := members[idx]
		c.out = append(c.out, c.tmp[m.start-base-1:m.end-base-1]...)
	}
}

// str reads a JSON string and returns it decoded as encoding/json decodes
// strings: escapes resolved, each invalid UTF-8 byte and each lone
// surrogate escape replaced by U+FFFD. A string without escapes is
// returned as a slice of the input.
func (c *canonicalizer) str() ([]byte, error) {
	c.pos++ // opening quote
	start := c.pos
	simple := true
	for {
		if c.pos >= len(c.in) {
			return nil, errUnexpectedEnd
		}
		ch := c.in[c.pos]
		switch {
		case ch == '"':
			raw := c.in[start:c.pos]
			c.pos++
			if simple && utf8.Valid(raw) {
				return raw, nil
			}
			return unquote(raw), nil
		case ch == '\\':
			simple = false
			c.pos++
			if c.pos >= len(c.in) {
				return nil, errUnexpectedEnd
			}
			switch c.in[c.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.pos++
			case 'u':
				c.pos++
				for range 4 {
					if c.pos >= len(c.in) || !isHex(c.in[c.pos]) {
						return nil, c.syntax("in \\u hexadecimal character escape")
					}
					c.pos++
				}
			default:
				return nil, c.syntax("in string escape code")
			}
		case ch < 0x20:
			return nil, c.syntax("in string literal")
		default:
			c.pos++
		}
	}
}

func isHex(b byte) bool {
	return ('0' <= b && b <= '9') || ('a' <= b && b <= 'f') || ('A' <= b && b <= 'F')
}

// unquote decodes the body of a JSON string already checked by str.
func unquote(s []byte) []byte {
	b := make([]byte, 0, len(s)+8)
	for r := 0; r < len(s); {
		ch := s[r]
		switch {
		case ch == '\\':
			r++
			switch s[r] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r+1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(s[r+2:])); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							r += 6
							continue
						}
					}
					rr = utf8.RuneError
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // " \ /
				b = append(b, s[r])
			}
			r++
		case ch < utf8.RuneSelf:
			b = append(b, ch)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			if rr == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[r:r+size]...)
			}
			r += size
		}
	}
	return b
}

// hex4 reads four hex digits (checked by str) as a rune.
func hex4(s []byte) rune {
	var r rune
	for _, ch := range s[:4] {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch = ch - 'a' + 10
		default:
			ch = ch - 'A' + 10
		}
		r = r*16 + rune(ch)
	}
	return r
}

// appendCanonicalString escapes as RFC 8785 requires: only '"', '\\' and
// control characters, with the short forms where JSON has them. Invalid
// UTF-8 is written as U+FFFD, byte by byte.
func appendCanonicalString(b []byte, s string) []byte { return appendCanonicalText(b, s) }

func appendCanonicalBytes(b []byte, s []byte) []byte { return appendCanonicalText(b, s) }

func appendCanonicalText[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		ch := s[i]
		if ch >= 0x20 && ch != '"' && ch != '\\' && ch < utf8.RuneSelf {
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' && s[j] < utf8.RuneSelf {
				j++
			}
			b = append(b, s[i:j]...)
			i = j
			continue
		}
		if ch >= utf8.RuneSelf {
			r, size := utf8.DecodeRune([]byte(s[i:min(i+utf8.UTFMax, len(s))]))
			b = utf8.AppendRune(b, r) // RuneError for an invalid byte
			i += size
			continue
		}
		switch ch {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = fmt.Appendf(b, `\u%04x`, ch)
		}
		i++
	}
	return append(b, '"')
}

// lessUTF16 orders keys by their UTF-16 code units, as JCS requires.
func lessUTF16(a, b []byte) bool {
	if isASCII(a) && isASCII(b) {
		return bytes.Compare(a, b) < 0
	}
	ua, ub := utf16.Encode([]rune(string(a))), utf16.Encode([]rune(string(b)))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

func isASCII(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
