package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// ReconcileOptions tunes a reconciliation pass.
type ReconcileOptions struct {
	// MinAge leaves alone refunds younger than this, whose request may still
	// be calling the gateway. Zero: DefaultReconcileMinAge.
	MinAge time.Duration
	// GiveUpAfter is the age after which a refund the gateway says it has no
	// record of is failed (the money goes back to the wallet): the request
	// that created it never reached the gateway. Zero: DefaultReconcileGiveUp.
	GiveUpAfter time.Duration
	// Limit caps the refunds asked about in one pass. Zero: 100.
	Limit int
}

// Reconciliation defaults.
const (
	DefaultReconcileMinAge = 2 * time.Minute
	DefaultReconcileGiveUp = time.Hour
)

// withDefaults fills the zero fields of opt with the defaults.
func (opt ReconcileOptions) withDefaults() ReconcileOptions {
	if opt.MinAge <= 0 {
		opt.MinAge = DefaultReconcileMinAge
	}
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = DefaultReconcileGiveUp
	}
	if opt.Limit <= 0 {
		opt.Limit = 100
	}
	return opt
}

// ReconcileReport counts what a pass did.
type ReconcileReport struct {
	Asked, Settled, Failed, Identified, Unknown int
}

// ReconcileRefunds asks the gateways where the deposit refunds that are
// still pending stand (those older than MinAge, of gateways that can look a
// refund up), and records what they say: settled, refused, or (for a refund
// whose gateway id was never recorded, its call having had no answer) the
// gateway's id, so that its webhook matches. A refund the gateway has no
// record of is failed once it is older than GiveUpAfter. Nothing is guessed:
// an error or a gateway that cannot tell leaves the refund pending.
func (s *Server) ReconcileRefunds(ctx context.Context, opt ReconcileOptions) (ReconcileReport, error) {
	opt = opt.withDefaults()
	var rep ReconcileReport
	now := time.Now()
	refunds, err := s.store.PendingDepositRefunds(ctx, now.Add(-opt.MinAge), opt.Limit)
	if err != nil {
		return rep, err
	}
	for _, r := range refunds {
		gw, err := s.gateways.Get(r.Gateway)
		if err != nil {
			continue
		}
		finder, ok := gw.(gateways.RefundFinder)
		if !ok {
			continue
		}
		dep, err := s.store.Deposit(ctx, r.DepositID)
		if err != nil {
			return rep, err
		}
		rep.Asked++
		found, known, err := finder.FindRefund(ctx, refundQuery(r, dep))
		if err != nil {
			if !errors.Is(err, gateways.ErrUnsupported) {
				s.log.Warn("reconciler: could not ask the gateway about a refund", "gateway", gw.Name(), "refund", r.ID, "err", err)
			}
			rep.Unknown++
			continue
		}
		var cmd ledger.Command
		switch {
		case !known && now.Sub(r.CreatedAt) > opt.GiveUpAfter:
			cmd = ledger.FailRefund{RefundID: r.ID, DepositID: r.DepositID, Reason: gw.Name() + " has no record of this refund: it was never made"}
			rep.Failed++
		case !known:
			rep.Unknown++
		case found.Status == gateways.RefundStatusSucceeded:
			cmd = ledger.RecordRefundSubmission{RefundID: r.ID, DepositID: r.DepositID, GatewayRefundID: found.GatewayRefundID, Succeeded: true}
			rep.Settled++
		case found.Status == gateways.RefundStatusFailed:
			cmd = ledger.FailRefund{RefundID: r.ID, DepositID: r.DepositID, Reason: gw.Name() + " reports the refund failed"}
			rep.Failed++
		case r.GatewayRefundID == "" && found.GatewayRefundID != "":
			cmd = ledger.RecordRefundSubmission{RefundID: r.ID, DepositID: r.DepositID, GatewayRefundID: found.GatewayRefundID}
			rep.Identified++
		default:
			rep.Unknown++ // still pending at the gateway
		}
		if cmd == nil {
			continue
		}
		if _, err := s.journal.Submit(ctx, pgjournal.Request{Command: cmd, Book: r.Book, Render: renderRefund(r.ID)}); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// RunRefundReconciler runs ReconcileRefunds every interval until ctx ends.
// Several processes may run it at once: each command it appends changes a
// refund only while it is pending, so a second process's pass records nothing.
func (s *Server) RunRefundReconciler(ctx context.Context, interval time.Duration, opt ReconcileOptions) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rep, err := s.ReconcileRefunds(ctx, opt)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reconciler: pass failed", "err", err)
		}
		if rep.Settled+rep.Failed+rep.Identified > 0 {
			s.log.Info("reconciler: refunds reconciled with their gateways", "asked", rep.Asked, "settled", rep.Settled,
				"failed", rep.Failed, "identified", rep.Identified, "still_unknown", rep.Unknown)
		}
	}
}
