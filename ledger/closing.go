package ledger

import "sort"

// Closing a wallet needs a zero balance and nothing else still holding its
// money: a pending deposit refund keeps the amount in refunds:pending, and
// if the gateway refuses it the money comes back to the wallet, which must
// then still be open. A pending hold is the wallet's own held amount
// (Account.Held, kept with its balance), which decideStatus checks first;
// further holders add their check to moneyHeldFor and their records to the
// close command's reads.

// Refunds implements RefundReader: closing a wallet reads its pending refunds.
func (c ChangeStatus) Refunds() []RefundKey {
	if c.Action != Close {
		return nil
	}
	return []RefundKey{{PendingOfRef: c.Account}}
}

// Transfers implements RefundReader.
func (c ChangeStatus) Transfers() []string { return nil }

// moneyHeldFor names what still holds money that may come back to the
// account, among the records the batch loaded.
func (s *State) moneyHeldFor(account string) []string {
	var held []string
	for _, r := range s.refunds {
		if r.Account == account && r.Status == RefundStatusPending && r.DepositID != "" {
			held = append(held, "pending refund "+r.ID)
		}
	}
	for _, id := range s.pendingWithdrawalsOf(account) {
		held = append(held, "pending withdrawal "+id)
	}
	sort.Strings(held)
	return held
}
