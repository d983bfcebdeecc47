package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/paypal"
	"github.com/tallyledger/tally/gateways/paystack"
	"github.com/tallyledger/tally/gateways/sandbox"
	"github.com/tallyledger/tally/gateways/stripe"
	"github.com/tallyledger/tally/gateways/xendit"
	"github.com/tallyledger/tally/httpapi"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// openGateways enables every gateway whose secrets are set and says which
// are disabled and why. The sandbox, when on, posts its webhooks to this
// process at selfURL.
func openGateways(cfg Config, store *pgjournal.Store, selfURL string, log *slog.Logger) (gateways.Set, *sandbox.Gateway, error) {
	set := gateways.Set{}
	// add enables g unless its secrets are missing; vars are the variables
	// that hold them, of which the log names the unset ones (never a value).
	add := func(name string, g gateways.Gateway, err error, vars ...string) error {
		if errors.Is(err, gateways.ErrNotConfigured) {
			log.Info("gateway disabled: set "+strings.Join(unsetVars(vars), " and ")+" to enable it",
				"gateway", name, "missing", strings.Join(unsetVars(vars), ","))
			return nil
		}
		if err != nil {
			return fmt.Errorf("gateway %s: %w", name, err)
		}
		set[name] = g
		log.Info("gateway enabled", "gateway", name)
		return nil
	}
	ps, err := paystack.New(paystack.Config{SecretKey: os.Getenv("TALLY_PAYSTACK_SECRET_KEY"), BaseURL: os.Getenv("TALLY_PAYSTACK_BASE_URL")})
	if err := add(paystack.Name, ps, err, "TALLY_PAYSTACK_SECRET_KEY"); err != nil {
		return nil, nil, err
	}
	st, err := stripe.New(stripe.Config{
		SecretKey: os.Getenv("TALLY_STRIPE_SECRET_KEY"), WebhookSecret: os.Getenv("TALLY_STRIPE_WEBHOOK_SECRET"),
		BaseURL: os.Getenv("TALLY_STRIPE_BASE_URL"), ReturnURL: envOr("TALLY_STRIPE_RETURN_URL", cfg.PublicURL+"/"),
	})
	if err := add(stripe.Name, st, err, "TALLY_STRIPE_SECRET_KEY", "TALLY_STRIPE_WEBHOOK_SECRET"); err != nil {
		return nil, nil, err
	}
	xe, err := xendit.New(xendit.Config{
		SecretKey: os.Getenv("TALLY_XENDIT_SECRET_KEY"), CallbackToken: os.Getenv("TALLY_XENDIT_CALLBACK_TOKEN"),
		BaseURL: os.Getenv("TALLY_XENDIT_BASE_URL"),
	})
	if err := add(xendit.Name, xe, err, "TALLY_XENDIT_SECRET_KEY", "TALLY_XENDIT_CALLBACK_TOKEN"); err != nil {
		return nil, nil, err
	}
	pp, err := paypal.New(paypal.Config{
		ClientID: os.Getenv("TALLY_PAYPAL_CLIENT_ID"), ClientSecret: os.Getenv("TALLY_PAYPAL_CLIENT_SECRET"),
		WebhookID: os.Getenv("TALLY_PAYPAL_WEBHOOK_ID"), BaseURL: os.Getenv("TALLY_PAYPAL_BASE_URL"),
	})
	if err := add(paypal.Name, pp, err, "TALLY_PAYPAL_CLIENT_ID", "TALLY_PAYPAL_CLIENT_SECRET", "TALLY_PAYPAL_WEBHOOK_ID"); err != nil {
		return nil, nil, err
	}
	if !cfg.Sandbox {
		log.Info("gateway disabled: TALLY_SANDBOX is not true", "gateway", sandbox.Name)
		return set, nil, nil
	}
	// The sandbox signs its webhooks with a key that never leaves this process.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, err
	}
	sb, err := sandbox.New(sandbox.Config{
		BaseURL: cfg.PublicURL, Secret: secret, WebhookURL: selfURL + "/v1/webhooks/sandbox", Logger: log,
		Lookup: httpapi.SandboxLookup(store), WarnOnDeposit: !cfg.LocalMode(),
	})
	if err := add(sandbox.Name, sb, err); err != nil {
		return nil, nil, err
	}
	if !cfg.LocalMode() {
		log.Warn("the sandbox gateway is on outside local mode (TALLY_SANDBOX=true): its deposits credit wallets without real money; "+
			"keep it to staging and tests", "gateway", sandbox.Name)
	}
	return set, sb, nil
}

// trimURL drops a trailing slash so paths can be appended.
func trimURL(u string) string { return strings.TrimRight(u, "/") }

// unsetVars returns those of vars that are unset or blank.
func unsetVars(vars []string) []string {
	var unset []string
	for _, v := range vars {
		if os.Getenv(v) == "" {
			unset = append(unset, v)
		}
	}
	return unset
}
