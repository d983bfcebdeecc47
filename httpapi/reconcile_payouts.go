package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// PayoutReconcileReport counts what a payout reconciliation pass did.
type PayoutReconcileReport struct {
	Asked int
	// Settled, Failed and Reversed count withdrawals the pass settled as the
	// gateway's webhook would have; Identified, those whose gateway
	// reference it recorded; Unmatched, answers that did not fit their
	// withdrawal (another amount or currency), recorded as gateway.unmatched.
	Settled, Failed, Reversed, Identified, Unmatched int
	// Pending counts payouts still moving at the gateway; Missing, those the
	// gateway has no record of (left pending: see ReconcilePayouts);
	// Unknown, those it could not be asked about.
	Pending, Missing, Unknown int
}

// ReconcilePayouts asks the gateways where the withdrawals that are still
// pending stand (those older than MinAge, of gateways that can look a payout
// up), and records what they say through the events their webhooks would
// append: withdrawal.succeeded, withdrawal.failed or withdrawal.reversed
// (or gateway.unmatched for an answer that does not fit), or, for a payout
// still moving whose gateway reference was never recorded, that reference.
//
// A payout the gateway has no record of is never failed and never sent
// again by the reconciler: a gateway's "not found" can lag behind a payout
// it is still making, and failing it would give the money back while the
// bank may still pay it. It stays pending with its money held, and once
// older than GiveUpAfter each pass logs it as an error for an operator (see
// docs/withdrawals.md). An error or a gateway that cannot tell leaves the
// withdrawal pending too.
func (s *Server) ReconcilePayouts(ctx context.Context, opt ReconcileOptions) (PayoutReconcileReport, error) {
	opt = opt.withDefaults()
	var rep PayoutReconcileReport
	now := time.Now()
	pending, err := s.store.PendingWithdrawals(ctx, now.Add(-opt.MinAge), opt.Limit)
	if err != nil {
		return rep, err
	}
	for _, w := range pending {
		gw, err := s.gateways.Get(w.Gateway)
		if err != nil {
			continue
		}
		finder, ok := gw.(gateways.PayoutFinder)
		if !ok {
			continue
		}
		rep.Asked++
		found, known, err := finder.FindPayout(ctx, gateways.PayoutQuery{WithdrawalID: w.ID, GatewayReference: w.GatewayReference, Currency: string(w.Amount.Currency())})
		switch {
		case err != nil:
			if !errors.Is(err, gateways.ErrUnsupported) {
				s.log.Warn("reconciler: could not ask the gateway about a payout", "gateway", gw.Name(), "withdrawal", w.ID, "err", err)
			}
			rep.Unknown++
			continue
		case !known:
			rep.Missing++
			if now.Sub(w.CreatedAt) > opt.GiveUpAfter {
				s.log.Error("reconciler: the gateway has no record of a pending payout; it stays pending with its money held until an operator checks the gateway",
					"gateway", gw.Name(), "withdrawal", w.ID, "requested_at", w.CreatedAt)
			}
			continue
		}
		if err := s.recordPayoutFound(ctx, gw.Name(), w, found, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// payoutNotifications are the webhook kinds a found payout's final status stands for.
var payoutNotifications = map[gateways.PayoutStatus]ledger.NotificationKind{
	gateways.PayoutStatusSucceeded: ledger.NotifyPayoutSucceeded,
	gateways.PayoutStatusFailed:    ledger.NotifyPayoutFailed,
	gateways.PayoutStatusReversed:  ledger.NotifyPayoutReversed,
}

// recordPayoutFound appends what the gateway said about a pending payout.
// A final status goes in as the notification its webhook would have sent,
// keyed by withdrawal and status (scope "reconciler:<gateway>"), so that a
// later pass, or the webhook itself, records nothing twice.
func (s *Server) recordPayoutFound(ctx context.Context, name string, w ledger.Withdrawal, found gateways.PayoutFound, rep *PayoutReconcileReport) error {
	kind, final := payoutNotifications[found.Status]
	if !final {
		if w.GatewayReference != "" || found.GatewayReference == "" {
			rep.Pending++
			return nil
		}
		rep.Identified++
		_, err := s.journal.Submit(ctx, pgjournal.Request{Book: w.Book, Render: renderNothing,
			Command: ledger.RecordPayoutSubmission{WithdrawalID: w.ID, GatewayReference: found.GatewayReference}})
		return err
	}
	cmd := ledger.GatewayNotification{
		Gateway: name, Kind: kind, EventID: "reconciler:" + w.ID + ":" + string(found.Status), EventType: "reconciler.payout." + string(found.Status),
		WithdrawalID: w.ID, GatewayReference: found.GatewayReference, Message: found.Message,
	}
	if found.Currency != "" {
		cmd.Amount, cmd.Currency = found.Amount.Text('f'), found.Currency
	}
	scope := "reconciler:" + name
	var appended []ledger.EventType // set by Render, which may run again if the append is retried
	_, err := s.journal.Submit(ctx, pgjournal.Request{
		Book: w.Book, Command: cmd,
		Idempotency: &pgjournal.Idempotency{Scope: scope, Key: cmd.EventID, Fingerprint: scope + ":" + cmd.EventID},
		Render: func(o pgjournal.Outcome) pgjournal.Response {
			appended = appended[:0]
			for _, e := range o.Events {
				appended = append(appended, e.Type)
			}
			return jsonResponse(http.StatusOK, received)
		},
	})
	for _, t := range appended {
		switch t {
		case ledger.WithdrawalSucceededEvent:
			rep.Settled++
		case ledger.WithdrawalFailedEvent:
			rep.Failed++
		case ledger.WithdrawalReversedEvent:
			rep.Reversed++
		case ledger.GatewayUnmatched:
			rep.Unmatched++
		}
	}
	return err
}

func renderNothing(pgjournal.Outcome) pgjournal.Response {
	return jsonResponse(http.StatusOK, received)
}

// RunPayoutReconciler runs ReconcilePayouts every interval until ctx ends.
// Several processes may run it at once: each notification it appends is
// keyed, and changes a withdrawal only while its status allows, so a second
// process's pass records nothing.
func (s *Server) RunPayoutReconciler(ctx context.Context, interval time.Duration, opt ReconcileOptions) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rep, err := s.ReconcilePayouts(ctx, opt)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reconciler: payout pass failed", "err", err)
		}
		if rep.Settled+rep.Failed+rep.Reversed+rep.Identified+rep.Unmatched > 0 {
			s.log.Info("reconciler: payouts reconciled with their gateways", "asked", rep.Asked, "settled", rep.Settled,
				"failed", rep.Failed, "reversed", rep.Reversed, "identified", rep.Identified, "unmatched", rep.Unmatched,
				"still_pending", rep.Pending, "missing", rep.Missing, "unknown", rep.Unknown)
		}
	}
}
