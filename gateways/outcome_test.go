package gateways

import (
	"errors"
	"fmt"
	"testing"
)

func TestOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		unknown bool
	}{
		{"no answer at all may have been carried out", &GatewayError{Gateway: "paystack", Op: "refund", Timeout: true}, true},
		{"a lost connection may have been carried out", fmt.Errorf("wrapped: %w", &GatewayError{Gateway: "stripe", Op: "refund", Err: errors.New("EOF")}), true},
		{"a 5xx may have been carried out", &GatewayError{Gateway: "xendit", Op: "refund", StatusCode: 503}, true},
		{"a 4xx is a refusal", &GatewayError{Gateway: "paystack", Op: "refund", StatusCode: 400}, false},
		{"an unsupported request was never sent", fmt.Errorf("currency: %w", ErrUnsupported), false},
		{"a 2xx that could not be read may have been carried out", &GatewayError{Gateway: "paystack", Op: "transfer", StatusCode: 200, Err: errors.New("decoding the answer: unexpected EOF")}, true},
		{"a 2xx carrying an error may have been carried out", &GatewayError{Gateway: "paystack", Op: "refund", StatusCode: 200, Message: "status false"}, true},
		{"a 3xx is no refusal", &GatewayError{Gateway: "paypal", Op: "refund", StatusCode: 302}, true},
		{"a failure before the money-moving call is a refusal", &GatewayError{Gateway: "paystack", Op: "create transfer recipient", Timeout: true, NothingSent: true}, false},
		{"no error is no unknown", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OutcomeUnknown(tc.err); got != tc.unknown {
				t.Fatalf("OutcomeUnknown = %v, want %v", got, tc.unknown)
			}
		})
	}
}
