package ledger

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// everyEventData is a value of each type events carry as data.
var everyEventData = []any{
	AccountOpenedData{}, AccountStatusData{}, AccountLimitData{}, AdjustmentPostedData{}, AdjustmentProposedData{},
	AdjustmentRejectedData{}, DepositCaptureData{}, DepositInitiatedData{}, DepositCheckoutData{}, DepositOutcomeData{},
	GatewayUnmatchedData{}, HoldData{}, HoldRefundedData{}, RefundData{}, TransactionData{}, TransferCompletedData{},
	WithdrawalData{}, DestinationErasedData{},
}

// awkwardStrings are strings the encoder escapes or rewrites.
var awkwardStrings = []string{"", "plain", "<a&b>", "line\u2028sep", "quote\"back\\slash", "café 💸", "\x00ctl\n",
	"bad\xffutf8", "lone \xed\xa0\x80 surrogate", "\ufffd already"}

// TestKeptEventDataIsWhatDecodingGives fills every event data type with
// awkward values and checks that whatever an event keeps of the value it
// was encoded from is exactly what decoding its bytes gives: the state and
// projections of the deciding process must see what a replay sees.
func TestKeptEventDataIsWhatDecodingGives(t *testing.T) {
	env := testEnv()
	kept := map[string]bool{}
	for _, zero := range everyEventData {
		typ := reflect.TypeOf(zero)
		for i, s := range append([]string{"zero value"}, awkwardStrings...) {
			v := reflect.New(typ).Elem()
			if i > 0 {
				fill(v, s, i)
			}
			e := newEvent(DefaultBook, "test.event", v.Interface(), env)
			if e.dataValue == nil {
				continue
			}
			kept[typ.Name()] = true
			decoded := reflect.New(typ)
			if err := json.Unmarshal(e.Data, decoded.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.dataValue, decoded.Elem().Interface()) {
				t.Errorf("%s with %q: kept %#v, decoding gives %#v", typ.Name(), s, e.dataValue, decoded.Elem().Interface())
			}
		}
	}
	// The webhook and transfer paths' data must stay kept, or they decode
	// their events again.
	for _, name := range []string{"DepositOutcomeData", "TransferCompletedData", "HoldData", "AccountOpenedData"} {
		if !kept[name] {
			t.Errorf("%s is never kept", name)
		}
	}
	for _, name := range []string{"TransactionData"} { // slices and maps: decoded from bytes
		if kept[name] {
			t.Errorf("%s was kept", name)
		}
	}
}

// fill sets every field v holds, however deep, from s and n.
func fill(v reflect.Value, s string, n int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(n%2 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 1, 2, 3, n, time.FixedZone("x", 3600))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), s, n)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), s, n)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		if s == "" {
			return // empty, not nil
		}
		key := reflect.New(v.Type().Key()).Elem()
		fill(key, strings.ToUpper(s)+"k", n)
		val := reflect.New(v.Type().Elem()).Elem()
		fill(val, s, n)
		v.SetMapIndex(key, val)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), s, n)
	}
}

// TestReplacedEventDataIsDecoded: a decider that rewrites an event's data
// after newEvent (an approval adds its approver) must not be handed the
// value the first encoding was kept with.
func TestReplacedEventDataIsDecoded(t *testing.T) {
	e := newEvent(DefaultBook, AdjustmentPosted, AdjustmentPostedData{AdjustmentID: "adj_1"}, testEnv())
	if e.dataValue == nil {
		t.Fatal("the data was not kept")
	}
	var d AdjustmentPostedData
	if err := DecodeData(&e, &d); err != nil || d.ApprovedBy != "" {
		t.Fatalf("before: %+v, %v", d, err)
	}
	d.ApprovedBy = "key_2"
	var err error
	if e.Data, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	var again AdjustmentPostedData
	if err := DecodeData(&e, &again); err != nil || again.ApprovedBy != "key_2" {
		t.Fatalf("after the data was replaced: %+v, %v", again, err)
	}
}
