package ledger

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"keys sorted, whitespace dropped", `{ "b": 1, "a": [true, null, "x"] }`, `{"a":[true,null,"x"],"b":1}`},
		{"nested objects sorted", `{"z":{"y":"1","x":"2"},"a":{}}`, `{"a":{},"z":{"x":"2","y":"1"}}`},
		{`control characters use short or \u00XX escapes`, `{"s":"a\u0001\n\t\"\\/"}`, `{"s":"a\u0001\n\t\"\\/"}`},
		{"non-ASCII stays literal", `{"s":"\u00e9\u20ac"}`, "{\"s\":\"é€\"}"},
		{"keys ordered by UTF-16 code units", `{"\u20ac":1,"\ud83d\ude00":2,"a":3}`, "{\"a\":3,\"€\":1,\"😀\":2}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, err := Canonicalize([]byte(`{"x":1.5}`)); err == nil {
		t.Error("a non-integer number was canonicalized; it must be refused")
	}
	for _, tail := range []string{` {"b":"2"}`, `]`, `x`, `"`} {
		if got, err := Canonicalize([]byte(`{"a":"1"}` + tail)); err == nil {
			t.Errorf("data after the value (%q) was ignored: canonical form %s; it must be refused", tail, got)
		}
	}
}

func TestHashEventCoversEveryField(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	base := Event{
		Book: "main", Position: 7, ID: "evt_1", Type: TransferCompleted, OccurredAt: at, RecordedAt: at,
		Data:     json.RawMessage(`{"transfer_id":"tr_1"}`),
		Postings: []Posting{{Account: "acc_a", Amount: MustMoney("-1.00", "USD")}, {Account: "acc_b", Amount: MustMoney("1.00", "USD")}},
		PrevHash: GenesisHash,
	}
	h0, err := HashEvent(base)
	if err != nil {
		t.Fatal(err)
	}
	// The same event with data keys in another order and whitespace hashes the same.
	same := base
	same.Data = json.RawMessage(`{ "transfer_id" : "tr_1" }`)
	if h, _ := HashEvent(same); h != h0 {
		t.Fatal("hash depends on JSON formatting of data")
	}
	// The stored hash itself is not part of what is hashed.
	same.Hash = "ff"
	if h, _ := HashEvent(same); h != h0 {
		t.Fatal("hash covers the hash field")
	}
	changes := map[string]func(*Event){
		"position":    func(e *Event) { e.Position++ },
		"id":          func(e *Event) { e.ID = "evt_2" },
		"type":        func(e *Event) { e.Type = AdjustmentPosted },
		"occurred_at": func(e *Event) { e.OccurredAt = e.OccurredAt.Add(time.Millisecond) },
		"recorded_at": func(e *Event) { e.RecordedAt = e.RecordedAt.Add(time.Millisecond) },
		"data":        func(e *Event) { e.Data = json.RawMessage(`{"transfer_id":"tr_2"}`) },
		"amount":      func(e *Event) { e.Postings = []Posting{{Account: "acc_a", Amount: MustMoney("-2.00", "USD")}} },
		"prev_hash":   func(e *Event) { e.PrevHash = "1" + GenesisHash[1:] },
		"book":        func(e *Event) { e.Book = "other" },
	}
	for field, change := range changes {
		e := base
		change(&e)
		if h, _ := HashEvent(e); h == h0 {
			t.Errorf("changing %s does not change the hash", field)
		}
	}
}
