package paystack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tallyledger/tally/gateways"
)

// The list answer's shape is Paystack's (GET /refund): data is an array of
// refund objects, each with its id, status and merchant_note.
const refundList = `{"status":true,"message":"Refunds retrieved","data":[
 {"integration":428626,"transaction":1004723697,"dispute":null,"settlement":null,"id":747680,"domain":"test","currency":"NGN","amount":10000,"status":"processed","refunded_at":null,"refunded_by":"ops@example.com","customer_note":"Refund for transaction DEP-X","merchant_note":"tally refund ref_other","deducted_amount":10000,"fully_deducted":1,"createdAt":"2026-03-24T13:29:40.000Z"},
 {"integration":428626,"transaction":1004723697,"dispute":null,"settlement":null,"id":747681,"domain":"test","currency":"NGN","amount":10000,"status":"pending","refunded_at":null,"refunded_by":"ops@example.com","customer_note":"Refund for transaction DEP-X","merchant_note":"tally refund ref_ours: customer asked","deducted_amount":0,"fully_deducted":0,"createdAt":"2026-03-24T13:30:40.000Z"}],
 "meta":{"total":2,"skipped":0,"perPage":100,"page":1,"pageCount":1}}`

func TestFindRefund(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		query    gateways.RefundQuery
		status   int
		answer   string
		path     string
		found    bool
		want     gateways.RefundResult
		wantFail bool
	}{
		{"by Paystack's id when the refund API answered", gateways.RefundQuery{RefundID: "ref_ours", GatewayRefundID: "3018284"}, 200,
			`{"status":true,"message":"Refund retrieved","data":{"id":3018284,"status":"processed","amount":10000,"currency":"NGN","merchant_note":"tally refund ref_ours"}}`,
			"/refund/3018284", true, gateways.RefundResult{GatewayRefundID: "3018284", Status: gateways.RefundStatusSucceeded}, false},
		{"an id Paystack does not know is not found", gateways.RefundQuery{RefundID: "ref_ours", GatewayRefundID: "1"}, 404,
			`{"status":false,"message":"Refund not found"}`, "/refund/1", false, gateways.RefundResult{}, false},
		{"without Paystack's id, ours is the one whose merchant note names it", gateways.RefundQuery{RefundID: "ref_ours", DepositReference: "DEP-X", GatewayReference: "1004723697", Currency: "NGN"}, 200,
			refundList, "/refund", true, gateways.RefundResult{GatewayRefundID: "747681", Status: gateways.RefundStatusPending}, false},
		{"a refund no note names is not found", gateways.RefundQuery{RefundID: "ref_missing", DepositReference: "DEP-X"}, 200,
			refundList, "/refund", false, gateways.RefundResult{}, false},
		{"a 5xx is an error, not a not-found", gateways.RefundQuery{RefundID: "ref_ours", DepositReference: "DEP-X"}, 502,
			`{"status":false,"message":"upstream"}`, "/refund", false, gateways.RefundResult{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, g := startFake(t, tc.status, []byte(tc.answer))
			got, found, err := g.FindRefund(ctx, tc.query)
			if (err != nil) != tc.wantFail || found != tc.found || got != tc.want {
				t.Fatalf("FindRefund = %+v, %v, %v", got, found, err)
			}
			if r := f.Last(t); r.Method != http.MethodGet || r.Path != tc.path {
				t.Fatalf("asked %s %s, want GET %s", r.Method, r.Path, tc.path)
			}
		})
	}
	t.Run("the list is asked for the transaction's id once paid", func(t *testing.T) {
		var query string
		srv := newQueryRecorder(t, &query, refundList)
		g, err := New(Config{SecretKey: testSecret, BaseURL: srv})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.FindRefund(ctx, gateways.RefundQuery{RefundID: "ref_ours", DepositReference: "DEP-X", GatewayReference: "1004723697", Currency: "NGN"}); err != nil {
			t.Fatal(err)
		}
		if query != "currency=NGN&perPage=100&transaction=1004723697" {
			t.Fatalf("query %q", query)
		}
	})
}

func TestRefundNamesOurRefundInTheMerchantNote(t *testing.T) {
	f, g := startFake(t, 200, []byte(`{"status":true,"message":"Refund has been queued for processing","data":{"transaction":{"id":1004723697,"reference":"DEP-X","amount":10000},"status":"pending","amount":10000,"currency":"NGN","id":3018284,"deducted_amount":0,"fully_deducted":false}}`))
	res, err := g.Refund(context.Background(), gateways.RefundRequest{RefundID: "ref_ours", DepositReference: "DEP-X", Amount: dec(t, "100.00"), Currency: "NGN", Reason: "damaged"})
	if err != nil || res.GatewayRefundID != "3018284" || res.Status != gateways.RefundStatusPending {
		t.Fatalf("Refund = %+v, %v", res, err)
	}
	if note := f.Last(t).JSON["merchant_note"]; note != "tally refund ref_ours: damaged" || refundIDIn(note.(string)) != "ref_ours" {
		t.Fatalf("merchant_note = %v", note)
	}
}

func newQueryRecorder(t *testing.T, query *string, answer string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*query = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
