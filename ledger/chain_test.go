package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
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

// Pinned hashes: computing them differently must never change them, or
// every stored chain would break.
func TestHashEventVectors(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, tc := range []struct {
		name string
		e    Event
		want string
	}{
		{"a transfer with unicode, escapes and metadata", Event{
			Book: "main", Position: 7, ID: "evt_1", Type: TransferCompleted, OccurredAt: at, RecordedAt: at,
			Data:     json.RawMessage(`{"transfer_id":"tr_1","metadata":{"\ufb01":"<&>","\ud83d\ude00":"line\nbreak\u0001"}}`),
			Postings: []Posting{{Account: "acc_a", Amount: MustMoney("-1.00", "USD")}, {Account: "acc_b", Amount: MustMoney("1.00", "USD")}},
			PrevHash: GenesisHash,
		}, "b7af22e977b4f5457ae0bc3009543fe73945d91e98d63c59efae01f3959eb27a"},
		{"an event without data or postings", Event{Book: "b", Position: 1, ID: "evt_2", Type: AccountOpened, OccurredAt: at, RecordedAt: at, PrevHash: GenesisHash},
			"295c5929ee4cfa5b435c1f3f0bc84a42b835a66ad06302d81e07e7c30945479d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := HashEvent(tc.e); err != nil || got != tc.want {
				t.Fatalf("hash %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

// referenceHash is the definition: JCS of the marshalled wire form.
func referenceHash(e Event) (string, error) {
	w := e.wire()
	w.Hash = ""
	raw, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	canon, err := Canonicalize(raw)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

func TestHashEventEqualsItsDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "é", "€", "\u2028", "😀", "ﬁ", "<", "&", "\xff", "\xc3"}
	word := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for i := range 2000 {
		meta := map[string]string{}
		for range rng.IntN(4) {
			meta[word()] = word()
		}
		data, _ := json.Marshal(TransferCompletedData{TransferID: word(), From: word(), To: word(), Amount: "1.00", Currency: "USD", Description: word(), Metadata: meta})
		if rng.IntN(10) == 0 {
			data = nil
		}
		at := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("x", 3600))
		e := Event{Book: word(), Position: rng.Int64N(1 << 53), ID: word(), Type: EventType(word()), OccurredAt: at, RecordedAt: at.Add(time.Hour),
			Data: data, PrevHash: word()}
		for range rng.IntN(4) {
			e.Postings = append(e.Postings, Posting{Account: word(), Amount: MustMoney(fmt.Sprintf("%d.%03d", rng.IntN(1000)-500, rng.IntN(1000)), "KWD")})
		}
		got, err1 := HashEvent(e)
		want, err2 := referenceHash(e)
		if got != want || (err1 == nil) != (err2 == nil) {
			t.Fatalf("event %d: %s (%v), definition gives %s (%v)\n%+v", i, got, err1, want, err2, e)
		}
	}
	for _, data := range []string{`{"a":1} x`, `{"a":`, `{"a":1.5}`, `[1,2]`, `"s"`, `null`} {
		e := Event{Book: "b", Position: 1, Data: json.RawMessage(data)}
		got, err1 := HashEvent(e)
		want, err2 := referenceHash(e)
		if got != want || (err1 == nil) != (err2 == nil) {
			t.Fatalf("data %s: %s (%v), definition gives %s (%v)", data, got, err1, want, err2)
		}
	}
}
