package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// jcsSeeds are inputs that exercise the corners of JSON and of JCS.
var jcsSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `12`, `-9007199254740992`, `9007199254740993`, `1.5`, `1e2`, `01`,
	`{ "b": 1, "a": [true, null, "x"] }`,
	`{"z":{"y":"1","x":"2"},"a":{}}`,
	`{"s":"a\u0001\n\t\"\\/\b\f\r"}`,
	`{"s":"\u00e9\u20ac\ud83d\ude00"}`,
	`{"\u20ac":1,"\ud83d\ude00":2,"a":3,"\uffff":4}`,
	`{"a":1,"a":2}`, `{"a":{"x":1},"b":0,"a":[2]}`, `{"\u0061":1,"a":2}`,
	`{"s":"\ud800"}`, `{"s":"\udc00\ud800x"}`, `{"s":"\ud83d\ud83d"}`, "{\"s\":\"\xff\xfe\"}", "{\"s\":\"\xed\xa0\x80\"}",
	`{"s":"<&>\u2028"}`, `{"a":1} trailing`, `[1,2]]`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{'a':1}`, `"\x"`, "\"\x01\"",
	` {"a" : [ 1 , { "c":"d" , "b" : "e" } ] } `, `{"transfer_id":"tr_1","from":"acc_a","to":"acc_b","amount":"1.00","currency":"USD"}`,
	``, `   `, `{`, `[`, `"abc`, `tru`, `nul`, `-`, `1.`, `1e`, `[[[[[]]]]]`,
}

func FuzzCanonicalizeMatchesReference(f *testing.F) {
	for _, s := range jcsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, werr := referenceCanonicalize(raw)
		got, gerr := Canonicalize(raw)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("Canonicalize(%q): error %v, reference error %v", raw, gerr, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Canonicalize(%q)\n got  %q\n want %q", raw, got, want)
		}
	})
}

func TestCanonicalizeMatchesTheReferenceOnSeeds(t *testing.T) {
	for _, s := range jcsSeeds {
		want, werr := referenceCanonicalize([]byte(s))
		got, gerr := Canonicalize([]byte(s))
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Errorf("Canonicalize(%q) = %q, %v; reference %q, %v", s, got, gerr, want, werr)
		}
	}
}

func FuzzHashEvent(f *testing.F) {
	for _, s := range jcsSeeds {
		f.Add([]byte(s), "acc_a", "main", int64(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, account, book string, position int64) {
		e := Event{
			Book: book, Position: position, ID: "evt_" + account, Type: TransferCompleted,
			OccurredAt: time.UnixMilli(position).UTC(), RecordedAt: time.UnixMilli(position + 1).UTC(),
			Data:     json.RawMessage(data),
			Postings: []Posting{{Account: account, Amount: MustMoney("-1.00", "USD")}, {Account: "acc_b", Amount: MustMoney("1.00", "USD")}},
			PrevHash: GenesisHash,
		}
		want, werr := referenceHashEvent(e)
		got, gerr := HashEvent(e)
		if (werr != nil) != (gerr != nil) || got != want {
			t.Fatalf("HashEvent = %q, %v; reference %q, %v", got, gerr, want, werr)
		}
	})
}

// Random events of every shape hash as the reference does.
func TestHashEventMatchesTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Z", "é", "€", "😀", "\x00", "\n", "\"", "\\", "<", "\u2028", "\xff", " ", "transfer_id", "𝄞"}
	word := func() string {
		var b strings.Builder
		for range rng.IntN(5) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := rng.IntN(7); {
		case k == 0 && depth < 3:
			m := map[string]any{}
			for range rng.IntN(5) {
				m[word()] = value(depth + 1)
			}
			return m
		case k == 1 && depth < 3:
			var a []any
			for range rng.IntN(4) {
				a = append(a, value(depth+1))
			}
			return a
		case k == 2:
			return rng.Int64N(1<<40) - 1<<39
		case k == 3:
			return rng.IntN(2) == 0
		case k == 4:
			return nil
		}
		return word()
	}
	for i := range 3000 {
		data, err := json.Marshal(map[string]any{"k": value(0), word(): value(0)})
		if err != nil {
			t.Fatal(err)
		}
		e := Event{
			Book: "main", Position: int64(i + 1), ID: "evt_" + word(), Type: EventType(word()),
			OccurredAt: time.Unix(rng.Int64N(1<<31), rng.Int64N(1e9)).Truncate(time.Millisecond),
			RecordedAt: time.Unix(rng.Int64N(1<<31), 0), Data: data, PrevHash: GenesisHash,
		}
		for range rng.IntN(3) {
			amount := fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100))
			e.Postings = append(e.Postings, Posting{Account: word(), Amount: MustMoney(amount, "USD")})
		}
		want, werr := referenceHashEvent(e)
		got, gerr := HashEvent(e)
		if werr != nil || gerr != nil || got != want {
			t.Fatalf("event %d (data %s): HashEvent = %q, %v; reference %q, %v", i, data, got, gerr, want, werr)
		}
	}
}
