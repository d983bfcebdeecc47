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
