package pgjournal

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tallyledger/tally/ledger"
)

// Proposal is an adjustment proposal as the adjustment_proposals projection
// holds it.
type Proposal struct {
	ledger.AdjustmentProposal
	ProposedPosition int64
	ProposedAt       time.Time
	DecidedBy        string // empty while pending
	DecisionReason   string // a rejection's reason
	DecidedPosition  int64
	DecidedAt        time.Time
}

const proposalColumns = `p.id, p.book, p.account_id, p.direction, p.currency, p.amount::text, p.reason, p.proposed_by, p.status,
	p.proposed_position, p.proposed_at, coalesce(p.decided_by, ''), coalesce(p.decision_reason, ''),
	coalesce(p.decided_position, 0), p.decided_at`

func scanProposal(row pgx.Row) (Proposal, error) {
	var p Proposal
	var cur, amount string
	var decided *time.Time
	if err := row.Scan(&p.ID, &p.Book, &p.Account, &p.Direction, &cur, &amount, &p.Reason, &p.ProposedBy, &p.Status,
		&p.ProposedPosition, &p.ProposedAt, &p.DecidedBy, &p.DecisionReason, &p.DecidedPosition, &decided); err != nil {
		return p, err
	}
	if decided != nil {
		p.DecidedAt = *decided
	}
	var err error
	p.Amount, err = parseMoney(amount, ledger.Currency(cur))
	return p, err
}

// Proposal finds an adjustment proposal by id. Returns ENotFound if there is none.
func (s *Store) Proposal(ctx context.Context, id string) (Proposal, error) {
	p, err := scanProposal(s.pool.QueryRow(ctx, `SELECT `+proposalColumns+` FROM adjustment_proposals p WHERE p.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ledger.Errorf(ledger.ENotFound, "adjustment proposal %s not found", id)
	}
	return p, classify(err)
}

// ProposalFilter selects proposals for a list. Empty fields do not filter.
type ProposalFilter struct {
	Book    string
	Account string
	Status  string
	Period  // on proposed_at
	After   Cursor
	Limit   int
}

// Proposals lists adjustment proposals in the order they were proposed.
func (s *Store) Proposals(ctx context.Context, f ProposalFilter) ([]Listed[Proposal], error) {
	return list(ctx, s, scanProposal, `SELECT `+proposalColumns+`, p.book, p.proposed_position FROM adjustment_proposals p
		WHERE ($1 = '' OR p.book = $1) AND ($2 = '' OR p.status = $2) AND ($6 = '' OR p.account_id = $6)
		  AND ($7::timestamptz IS NULL OR p.proposed_at >= $7) AND ($8::timestamptz IS NULL OR p.proposed_at < $8)
		  AND (p.book, p.proposed_position) > ($3, $4)
		ORDER BY p.book, p.proposed_position LIMIT $5`, f.Book, f.Status, f.After.Book, f.After.Position, f.Limit, f.Account, f.From, f.To)
}

// queueProposals reads the adjustment proposals the batch decides on.
func (l *loader) queueProposals(p *pipeline) {
	p.query("read proposals", `SELECT `+proposalColumns+` FROM adjustment_proposals p
		WHERE p.book = $1 AND p.id = ANY($2) ORDER BY p.id`, []any{l.book, l.proposalIDs},
		func(rows pgx.Rows) error {
			pr, err := scanProposal(rows)
			if err != nil {
				return err
			}
			l.proposals = append(l.proposals, pr.AdjustmentProposal)
			return nil
		})
}
