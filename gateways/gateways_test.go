package gateways

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestGatewayErrorSaysWhatFailed(t *testing.T) {
	cause := context.DeadlineExceeded
	tests := []struct {
		name string
		err  *GatewayError
		want string
	}{
		{"a refusal names status, code and message", &GatewayError{Gateway: "stripe", Op: "refund", StatusCode: 400, Code: "amount_too_small", Message: "too small"},
			"stripe: refund: HTTP 400 amount_too_small: too small"},
		{"a timeout says so", &GatewayError{Gateway: "paystack", Op: "open checkout", Timeout: true, Err: cause},
			"paystack: open checkout: timed out: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("the cause is unwrapped", func(t *testing.T) {
		var err error = &GatewayError{Gateway: "x", Op: "y", Err: cause}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("cause not reachable with errors.Is")
		}
	})
}

type named string

func (n named) Name() string { return string(n) }
func (named) OpenCheckout(context.Context, CheckoutRequest) (Checkout, error) {
	return Checkout{}, nil
}
func (named) Refund(context.Context, RefundRequest) (RefundResult, error) { return RefundResult{}, nil }
func (named) ParseWebhook(http.Header, []byte) (Notification, error)      { return Notification{}, nil }

func TestSetGet(t *testing.T) {
	s := Set{"sandbox": named("sandbox")}
	if g, err := s.Get("sandbox"); err != nil || g.Name() != "sandbox" {
		t.Fatalf("Get(sandbox) = %v, %v", g, err)
	}
	if _, err := s.Get("stripe"); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("a gateway without secrets: err = %v, want ErrNotConfigured", err)
	}
}
