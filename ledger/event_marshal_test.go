package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// Webhook deliveries send an event's MarshalJSON as is; GET /v1/events
// renders it through json.Marshal, which checks and compacts a Marshaler's
// output once more. The bytes must be the same, HTML-escaped characters in
// the data and spaces in it included.
func TestEventMarshalJSONIsWhatJSONMarshalRenders(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, data := range []string{
		`{"description":"<b>rent</b> & \"fees\"","amount":"10.00"}`,
		`{ "a" : [1, 2, {"b": null}] , "c":"é\u2028" }`,
		``,
	} {
		e := Event{Position: 7, ID: "evt_1", Book: "main", Type: TransferCompleted, OccurredAt: at, RecordedAt: at,
			Data: json.RawMessage(data), PrevHash: GenesisHash, Hash: GenesisHash}
		direct, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		viaMarshal, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(direct, viaMarshal) {
			t.Fatalf("data %s:\nMarshalJSON  %s\njson.Marshal %s", data, direct, viaMarshal)
		}
	}
}
