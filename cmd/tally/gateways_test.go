package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// The "gateway disabled" line names the variable to set, and only the unset ones.
func TestGatewayDisabledNamesTheMissingVariable(t *testing.T) {
	for _, name := range []string{"TALLY_PAYSTACK_SECRET_KEY", "TALLY_STRIPE_SECRET_KEY", "TALLY_STRIPE_WEBHOOK_SECRET",
		"TALLY_XENDIT_SECRET_KEY", "TALLY_XENDIT_CALLBACK_TOKEN", "TALLY_PAYPAL_CLIENT_ID", "TALLY_PAYPAL_CLIENT_SECRET", "TALLY_PAYPAL_WEBHOOK_ID"} {
		t.Setenv(name, "")
	}
	t.Setenv("TALLY_PAYPAL_CLIENT_ID", "client")       // the secret and the webhook id are missing
	t.Setenv("TALLY_STRIPE_SECRET_KEY", "sk_test_set") // the webhook secret is what is missing
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	set, _, err := openGateways(Config{}, nil, "http://localhost", log)
	if err != nil || len(set) != 0 {
		t.Fatalf("gateways %v, err %v", set, err)
	}
	lines := map[string]string{}
	for _, line := range strings.Split(logs.String(), "\n") {
		for _, gw := range []string{"paystack", "stripe", "xendit", "paypal"} {
			if strings.Contains(line, "gateway="+gw) {
				lines[gw] = line
			}
		}
	}
	for gw, want := range map[string]string{
		"paystack": "missing=TALLY_PAYSTACK_SECRET_KEY",
		"stripe":   "missing=TALLY_STRIPE_WEBHOOK_SECRET",
		"xendit":   "missing=TALLY_XENDIT_SECRET_KEY,TALLY_XENDIT_CALLBACK_TOKEN",
		"paypal":   "missing=TALLY_PAYPAL_CLIENT_SECRET,TALLY_PAYPAL_WEBHOOK_ID",
	} {
		if !strings.Contains(lines[gw], want) {
			t.Errorf("%s: log line %q does not say %s", gw, lines[gw], want)
		}
	}
	if strings.Contains(logs.String(), "sk_test_set") {
		t.Error("a secret reached the log")
	}
}

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
