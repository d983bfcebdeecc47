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
		{"no error is no unknown", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OutcomeUnknown(tc.err); got != tc.unknown {
				t.Fatalf("OutcomeUnknown = %v, want %v", got, tc.unknown)
			}
		})
	}
}
