package main

import (
	"io"
	"log/slog"
	"testing"
)

func TestOpenGatewaysEnablesPayPal(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("without its three settings PayPal is disabled", func(t *testing.T) {
		t.Setenv("TALLY_PAYPAL_CLIENT_ID", "client")
		t.Setenv("TALLY_PAYPAL_CLIENT_SECRET", "secret")
		set, _, err := openGateways(Config{}, nil, "http://127.0.0.1:1", log)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := set["paypal"]; ok {
			t.Fatal("PayPal enabled without TALLY_PAYPAL_WEBHOOK_ID")
		}
	})
	t.Run("with the client id, the secret and the webhook id PayPal is enabled", func(t *testing.T) {
		t.Setenv("TALLY_PAYPAL_CLIENT_ID", "client")
		t.Setenv("TALLY_PAYPAL_CLIENT_SECRET", "secret")
		t.Setenv("TALLY_PAYPAL_WEBHOOK_ID", "8PT597110X687430LKGECATA")
		set, _, err := openGateways(Config{}, nil, "http://127.0.0.1:1", log)
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := set["paypal"]; !ok || g.Name() != "paypal" {
			t.Fatalf("gateways = %v", set)
		}
	})
}
