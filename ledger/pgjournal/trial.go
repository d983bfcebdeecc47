package pgjournal

import (
	"context"
	"sort"

	"github.com/tallyledger/tally/ledger"
)

// TrialLine is one account's line in a trial balance.
type TrialLine struct {
	Account string
	Kind    ledger.AccountKind
	Name    string // system accounts
	Owner   string // wallets
	Balance ledger.Money
}

// Total is the sum of every balance of one currency in a trial balance; in
// a sound ledger it is zero.
type Total struct {
	Currency ledger.Currency
	Sum      ledger.Money
}

// TrialBalance calls fn with every account of book opened at or before
// position, in id order, holding its balance as of that position: the
// balance_after of its last posting at or before it. It returns the sums per
// currency, in currency order. Each balance is an index lookup and the lines
// stream to fn, so memory stays constant in the number of accounts.
func (s *Store) TrialBalance(ctx context.Context, book string, position int64, fn func(TrialLine) error) ([]Total, error) {
	rows, err := s.reader(ctx).Query(ctx, `
		SELECT a.id, a.kind, coalesce(a.name, ''), coalesce(a.owner, ''), a.currency, coalesce(p.balance_after, 0)::text
		FROM accounts a
		LEFT JOIN LATERAL (
			SELECT balance_after FROM postings
			WHERE book = a.book AND account_id = a.id AND position <= $2
			ORDER BY position DESC, seq DESC LIMIT 1) p ON true
		WHERE a.book = $1 AND a.opened_position <= $2
		ORDER BY a.id`, book, position)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	sums := map[ledger.Currency]ledger.Money{}
	for rows.Next() {
		var l TrialLine
		var cur, balance string
		if err := rows.Scan(&l.Account, &l.Kind, &l.Name, &l.Owner, &cur, &balance); err != nil {
			return nil, err
		}
		c := ledger.Currency(cur)
		if l.Balance, err = parseMoney(balance, c); err != nil {
			return nil, err
		}
		if sum, ok := sums[c]; ok {
			sums[c] = sum.Add(l.Balance)
		} else {
			sums[c] = l.Balance
		}
		if err := fn(l); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	totals := make([]Total, 0, len(sums))
	for c, sum := range sums {
		totals = append(totals, Total{Currency: c, Sum: sum})
	}
	sort.Slice(totals, func(i, j int) bool { return totals[i].Currency < totals[j].Currency })
	return totals, nil
}

// Head returns the head of one book. Returns ENotFound for an unknown book.
func (s *Store) Head(ctx context.Context, book string) (Head, error) {
	return BookHead(ctx, s.reader(ctx), book)
}
