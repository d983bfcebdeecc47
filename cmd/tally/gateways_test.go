package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The "gateway disabled" line names the variable to set, and only the unset ones.
func TestGatewayDisabledNamesTheMissingVariable(t *testing.T) {
	for _, name := range []string{"TALLY_PAYSTACK_SECRET_KEY", "TALLY_STRIPE_SECRET_KEY", "TALLY_STRIPE_WEBHOOK_SECRET",
		"TALLY_XENDIT_SECRET_KEY", "TALLY_XENDIT_CALLBACK_TOKEN"} {
		t.Setenv(name, "")
	}
	t.Setenv("TALLY_STRIPE_SECRET_KEY", "sk_test_set") // the webhook secret is what is missing
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	set, _, err := openGateways(Config{}, nil, "http://localhost", log)
	if err != nil || len(set) != 0 {
		t.Fatalf("gateways %v, err %v", set, err)
	}
	lines := map[string]string{}
	for _, line := range strings.Split(logs.String(), "\n") {
		for _, gw := range []string{"paystack", "stripe", "xendit"} {
			if strings.Contains(line, "gateway="+gw) {
				lines[gw] = line
			}
		}
	}
	for gw, want := range map[string]string{
		"paystack": "missing=TALLY_PAYSTACK_SECRET_KEY",
		"stripe":   "missing=TALLY_STRIPE_WEBHOOK_SECRET",
		"xendit":   "missing=TALLY_XENDIT_SECRET_KEY,TALLY_XENDIT_CALLBACK_TOKEN",
	} {
		if !strings.Contains(lines[gw], want) {
			t.Errorf("%s: log line %q does not say %s", gw, lines[gw], want)
		}
	}
	if strings.Contains(logs.String(), "sk_test_set") {
		t.Error("a secret reached the log")
	}
}
