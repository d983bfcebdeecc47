package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkStrictJSON walks body token by token before encoding/json decodes it
// into a value of type t, and refuses what encoding/json would read
// differently from the bytes: a name given twice in one object (it keeps the
// last) and a field name in another letter case than its json tag (it
// matches names case-insensitively). After this check the decoder reads
// exactly the fields the Idempotency-Key fingerprint covers, each once.
// Syntax errors are left to the decoder, which reports them.
func checkStrictJSON(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := strictValue(dec, t, "")
	if _, ok := err.(*strictError); ok {
		return err
	}
	return nil // a syntax error: the decoder names it
}

// strictError is a duplicated or wrongly cased field name at path.
type strictError struct {
	path, msg string
}

func (e *strictError) Error() string { return e.msg }

// strictValue reads one value; t is the Go type it decodes into (nil when
// unknown, for example inside an interface or an unknown field).
func strictValue(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return strictObject(dec, t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := strictValue(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ]
		return err
	}
	return nil
}

func strictObject(dec *json.Decoder, t reflect.Type, path string) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		at := strings.TrimPrefix(path+"."+name, ".")
		if seen[name] {
			return &strictError{path: at, msg: fmt.Sprintf("field %q appears more than once", at)}
		}
		seen[name] = true
		next := elem
		if fields != nil {
			ft, exact := fields[name]
			if !exact {
				for known := range fields {
					if strings.EqualFold(known, name) {
						return &strictError{path: at, msg: fmt.Sprintf("field %q is spelled %q: field names are case-sensitive", at, known)}
					}
				}
			}
			next = ft // nil for an unknown field, which the decoder refuses
		}
		if err := strictValue(dec, next, at); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

// jsonFields maps a struct's JSON names to their types, as encoding/json
// names them (the tag's name, or the Go field name; "-" skipped).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}
