package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// checkStrictJSON walks body before encoding/json decodes it into a value
// of type t, and refuses what encoding/json would read differently from the
// bytes: a name given twice in one object (it keeps the last) and a field
// name in another letter case than its json tag (it matches names
// case-insensitively). After this check the decoder reads exactly the fields
// the Idempotency-Key fingerprint covers, each once. Syntax errors are left
// to the decoder, which reports them.
//
// It reads the bytes itself rather than through json.Decoder.Token, which
// allocated for every token and was a fifth of a batch request's CPU; a
// fuzz test holds it to the Token-based check it replaced.
func checkStrictJSON(body []byte, t reflect.Type) error {
	s := strictScan{b: body}
	if se, ok := s.value(t, "").(*strictError); ok {
		return se
	}
	return nil // valid, or a syntax error: the decoder names it
}

// strictError is a duplicated or wrongly cased field name at path.
type strictError struct {
	path, msg string
}

func (e *strictError) Error() string { return e.msg }

// errStrictSyntax stops the walk at malformed JSON, which the decoder reports.
var errStrictSyntax = errors.New("malformed JSON")

// strictScan is a position in a JSON document being checked.
type strictScan struct {
	b []byte
	i int
}

func (s *strictScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks one value; t is the Go type it decodes into (nil when
// unknown, for example inside an interface or an unknown field).
func (s *strictScan) value(t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s.space()
	if s.i >= len(s.b) {
		return errStrictSyntax
	}
	switch s.b[s.i] {
	case '{':
		s.i++
		return s.object(t, path)
	case '[':
		s.i++
		return s.array(t, path)
	case '"':
		_, err := s.str()
		return err
	}
	// A number, true, false or null: up to the next delimiter.
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if s.i == start {
				return errStrictSyntax
			}
			return nil
		}
		s.i++
	}
	return nil
}

func (s *strictScan) array(t reflect.Type, path string) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	if s.closes(']') {
		return nil
	}
	for n := 0; ; n++ {
		if err := s.value(elem, path+"["+strconv.Itoa(n)+"]"); err != nil {
			return err
		}
		if end, err := s.separator(']'); end || err != nil {
			return err
		}
	}
}

// closes consumes closer if it comes next (an empty array or object).
func (s *strictScan) closes(closer byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == closer {
		s.i++
		return true
	}
	return false
}

// separator consumes what follows a member: a comma, or closer (end).
func (s *strictScan) separator(closer byte) (end bool, err error) {
	s.space()
	if s.i >= len(s.b) {
		return false, errStrictSyntax
	}
	s.i++
	switch s.b[s.i-1] {
	case ',':
		return false, nil
	case closer:
		return true, nil
	}
	return false, errStrictSyntax
}

func (s *strictScan) object(t reflect.Type, path string) error {
	var fields *structFields
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	var seen names
	if s.closes('}') {
		return nil
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return errStrictSyntax
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		at := func() string { return strings.TrimPrefix(path+"."+name, ".") }
		if seen.add(name) {
			return &strictError{path: at(), msg: fmt.Sprintf("field %q appears more than once", at())}
		}
		next := elem
		if fields != nil {
			ft, exact := fields.types[name]
			if !exact {
				for _, known := range fields.names {
					if strings.EqualFold(known, name) {
						return &strictError{path: at(), msg: fmt.Sprintf("field %q is spelled %q: field names are case-sensitive", at(), known)}
					}
				}
			}
			next = ft // nil for an unknown field, which the decoder refuses
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errStrictSyntax
		}
		s.i++
		// Only a nested object or array needs its path, for its own errors.
		inner := ""
		if s.space(); s.i < len(s.b) && (s.b[s.i] == '{' || s.b[s.i] == '[') {
			inner = at()
		}
		if err := s.value(next, inner); err != nil {
			return err
		}
		if end, err := s.separator('}'); end || err != nil {
			return err
		}
	}
}

// str reads a string at s.i (its opening quote) and returns its value.
func (s *strictScan) str() (string, error) {
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i += 2
			continue
		case '"':
			s.i++
			raw := s.b[start:s.i]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return "", errStrictSyntax
			}
			return v, nil
		}
		s.i++
	}
	return "", errStrictSyntax
}

// names are the names seen in one object: a short list, as most objects
// are, then a set.
type names struct {
	list []string
	set  map[string]bool
}

// add records name and reports whether it was already there.
func (n *names) add(name string) bool {
	if n.set != nil {
		if n.set[name] {
			return true
		}
		n.set[name] = true
		return false
	}
	if slices.Contains(n.list, name) {
		return true
	}
	n.list = append(n.list, name)
	if len(n.list) > 16 {
		n.set = make(map[string]bool, 2*len(n.list))
		for _, v := range n.list {
			n.set[v] = true
		}
	}
	return false
}

// structFields are a struct's JSON names (as encoding/json names them:
// the tag's name, or the Go field name; "-" skipped) with their types, and
// the names sorted, for the case-insensitive comparison.
type structFields struct {
	types map[string]reflect.Type
	names []string
}

var structFieldsCache sync.Map // reflect.Type → *structFields

// jsonFields returns t's JSON fields, computed once per type.
func jsonFields(t reflect.Type) *structFields {
	if f, ok := structFieldsCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{types: map[string]reflect.Type{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = sf.Name
		}
		f.types[name] = sf.Type
		f.names = append(f.names, name)
	}
	slices.Sort(f.names)
	structFieldsCache.Store(t, f)
	return f
}
