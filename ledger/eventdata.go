package ledger

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"sync"
)

// DecodeData decodes e's data into out. An event decided in this process
// hands out the value its data was encoded from, when that value is what
// decoding would give (see keepData) and Data was not replaced since: the
// state, the inline projections and the response each read every event
// their request decided, and decoding the same bytes three times was ≈ 8%
// of the server's CPU on the webhook path (issue 17).
func DecodeData[T any](e *Event, out *T) error {
	if v, ok := e.dataValue.(T); ok && len(e.Data) > 0 && &e.Data[0] == e.dataOf {
		*out = v
		return nil
	}
	return json.Unmarshal(e.Data, out)
}

// keepData reports whether data, encoded as raw, decodes back to a value
// equal to itself, so that DecodeData may hand data out instead. That holds
// for a struct of exported string, bool, integer and map[string]string
// fields, all encoded, unless a string held invalid UTF-8 (the encoder
// writes it as \ufffd; any other string comes back the same) or a map is
// empty but not nil (omitempty drops it, and it comes back nil). Anything
// else (times, decimals, slices, raw JSON, which the encoder compacts) is
// decoded from its bytes. The maps are shared: no reader changes one.
func keepData(data any, raw []byte) bool {
	shape := shapeOf(reflect.TypeOf(data))
	if !shape.flat || bytes.Contains(raw, []byte(`\ufffd`)) {
		return false
	}
	if len(shape.maps) > 0 {
		v := reflect.ValueOf(data)
		for _, i := range shape.maps {
			if m := v.Field(i); !m.IsNil() && m.Len() == 0 {
				return false
			}
		}
	}
	return true
}

// dataShape is what keepData needs to know of a data type.
type dataShape struct {
	flat bool  // a struct of the fields keepData allows
	maps []int // its map fields
}

var shapes sync.Map // reflect.Type → dataShape

func shapeOf(t reflect.Type) dataShape {
	if t == nil {
		return dataShape{}
	}
	if s, ok := shapes.Load(t); ok {
		return s.(dataShape)
	}
	s := newShape(t)
	shapes.Store(t, s)
	return s
}

var (
	marshalerType       = reflect.TypeFor[json.Marshaler]()
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// encodesItself reports whether t has JSON or text methods of its own.
func encodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		p.Implements(unmarshalerType) || p.Implements(textUnmarshalerType)
}

func scalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return !encodesItself(t)
	}
	return false
}

func newShape(t reflect.Type) dataShape {
	if t.Kind() != reflect.Struct || encodesItself(t) {
		return dataShape{}
	}
	var s dataShape
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous || f.Tag.Get("json") == "-" {
			return dataShape{}
		}
		switch {
		case scalar(f.Type):
		case f.Type.Kind() == reflect.Map && f.Type.Key().Kind() == reflect.String && scalar(f.Type.Key()) &&
			f.Type.Elem().Kind() == reflect.String && scalar(f.Type.Elem()) && !encodesItself(f.Type):
			s.maps = append(s.maps, i)
		default:
			return dataShape{}
		}
	}
	s.flat = true
	return s
}
