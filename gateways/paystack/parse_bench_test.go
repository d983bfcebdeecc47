package paystack

import "testing"

// BenchmarkParseWebhook measures a charge.success's verification and parse,
// which every Paystack top-up pays on the webhook path (issue 17).
func BenchmarkParseWebhook(b *testing.B) {
	g := newTestGateway(b)
	body := fixture(b, "charge.success.json")
	header := signed(body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.ParseWebhook(header, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSmallWebhook is the body tally bench sends: a charge.success
// with only the fields Tally reads.
func BenchmarkParseSmallWebhook(b *testing.B) {
	body := []byte(`{"event":"charge.success","data":{"id":123450001000000042,"reference":"bench-12345-1-42","amount":100,"currency":"NGN","gateway_response":"Successful","metadata":{"tally_account":"acc_01JEXAMPLE0000000000000000"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(body); err != nil {
			b.Fatal(err)
		}
	}
}
