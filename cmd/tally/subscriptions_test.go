package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/projections/sinks"
)

func TestSubscriptionsCommand(t *testing.T) {
	f := newLedger(t)
	ctx := context.Background()
	subs := sinks.NewSubscriptions(f.pool, sinks.URLRules{})
	// After the history, so that replay (not the fan-out, which is not
	// running here) is what queues all of it.
	time.Sleep(5 * time.Millisecond)
	sub, err := subs.Create(ctx, sinks.NewSubscription{URL: "https://hooks.example.com/tally", Events: []string{"transfer.*"}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runSubscriptions(ctx, subs, args, &out)
		return out.String(), err
	}
	t.Run("replay queues the matching events from a position", func(t *testing.T) {
		out, err := run("replay", sub.ID, "--from", "1")
		// newLedger appends 7 transfers to main, all after position 1.
		if err != nil || !strings.Contains(out, "queued 7 deliveries of book main from position 1") {
			t.Fatalf("replay (%v): %s", err, out)
		}
	})
	t.Run("deliveries lists them, pending, in order", func(t *testing.T) {
		out, err := run("deliveries", sub.ID, "--status", "pending")
		if err != nil {
			t.Fatal(err)
		}
		rows := regexp.MustCompile(`(?m)^dlv_\S+\s+evt_\S+\s+main\s+(\d+)\s+pending\s+0\s`).FindAllStringSubmatch(out, -1)
		if len(rows) != 7 {
			t.Fatalf("deliveries:\n%s", out)
		}
	})
	t.Run("list shows the subscription and its pending count, never the secret", func(t *testing.T) {
		out, err := run("list")
		if err != nil || !regexp.MustCompile(sub.ID+`\s+https://hooks.example.com/tally\s+transfer\.\*\s+-\s+-\s+\S+\s+7\s+0`).MatchString(out) || strings.Contains(out, sub.Secret) {
			t.Fatalf("list (%v):\n%s", err, out)
		}
	})
	t.Run("a bad position or an unknown subscription is an error", func(t *testing.T) {
		if _, err := run("replay", sub.ID, "--from", "0"); err == nil {
			t.Fatal("replay from 0 succeeded")
		}
		if _, err := run("deliveries", "sub_nope"); err == nil {
			t.Fatal("deliveries of an unknown subscription succeeded")
		}
		if _, err := run("frobnicate"); err == nil {
			t.Fatal("an unknown command succeeded")
		}
	})
}
