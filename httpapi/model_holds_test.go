package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tallyledger/tally/ledger"
	"pgregory.net/rapid"
)

// The model's holds, transactions and batches (see model_test.go).

type mHold struct {
	id       string
	from, to *mAccount
	amount   int64
	status   ledger.HoldStatus
}

// paymentCode is the code the ledger refuses a payment of amt cur from
// from to to with (transfer, hold, one leg), or "" if it goes through; funds
// are checked only with checkFunds.
func paymentCode(from, to *mAccount, cur string, amt int64, checkFunds bool) ledger.Code {
	switch {
	case from == to:
		return ledger.ESameAccount
	case from.currency != cur || to.currency != cur:
		return ledger.ECurrencyMismatch
	case usable(from) != "":
		return usable(from)
	case usable(to) != "":
		return usable(to)
	case checkFunds && from.balance+from.limit < amt:
		return ledger.EInsufficientFunds
	}
	return ""
}

// pickPair picks a sender and, mostly, a recipient in its currency.
func (m *ledgerModel) pickPair(rt *rapid.T) (from, to *mAccount) {
	from = m.pickAccount(rt, "from")
	to = m.pickAccount(rt, "to")
	if rapid.IntRange(0, 9).Draw(rt, "any recipient") < 9 {
		for _, a := range m.accounts {
			if a.currency == from.currency && a != from {
				return from, a
			}
		}
	}
	return from, to
}

func (m *ledgerModel) hold(rt *rapid.T) {
	from, to := m.pickPair(rt)
	cur := m.otherCurrency(rt, from.currency)
	amt := amount(rt, "amount", from.balance)
	key := m.key()
	body := fmt.Sprintf(`{"from":%q,"to":%q,"amount":%q,"currency":%q}`, ref(rt, from, "from"), ref(rt, to, "to"), money(amt, cur), cur)
	r := m.send(rt, "POST", "/v1/holds", []byte(body), key)
	what := fmt.Sprintf("hold %s %s from %s (%s, %s) to %s (%s, %s)", money(amt, cur), cur, from.id, from.status, money(from.balance, from.currency), to.id, to.status, to.currency)
	if code := paymentCode(from, to, cur, amt, true); code != "" {
		m.refuse(rt, "hold", what, r, code)
	} else {
		m.expect(rt, "hold", what, r, http.StatusCreated, "")
		var v struct{ ID string }
		_ = json.Unmarshal(r.body, &v)
		from.balance -= amt
		from.held += amt
		m.holds = append(m.holds, &mHold{id: v.ID, from: from, to: to, amount: amt, status: ledger.HoldStatusPending})
	}
	m.remember("/v1/holds", key, []byte(body), []byte(strings.Replace(body, `{`, `{"description":"changed",`, 1)), r)
}

func (m *ledgerModel) pickHold(rt *rapid.T) *mHold {
	if len(m.holds) == 0 {
		rt.Skip("no hold yet")
	}
	return rapid.SampledFrom(m.holds).Draw(rt, "hold")
}

func (m *ledgerModel) capture(rt *rapid.T) {
	h := m.pickHold(rt)
	amt, all := refundAmount(rt, h.amount)
	body := "{}"
	if all {
		amt = h.amount
	} else {
		body = fmt.Sprintf(`{"amount":%q}`, money(amt, h.from.currency))
	}
	path := "/v1/holds/" + h.id + "/capture"
	key := m.key()
	r := m.send(rt, "POST", path, []byte(body), key)
	what := fmt.Sprintf("capture %s of hold %s (%s, %s; recipient %s)", money(amt, h.from.currency), h.id, h.status, money(h.amount, h.from.currency), h.to.status)
	switch {
	case h.status != ledger.HoldStatusPending:
		m.refuse(rt, "capture", what, r, ledger.EHoldNotPending)
	case amt > h.amount:
		m.refuse(rt, "capture", what, r, ledger.ECaptureExceedsHold)
	case usable(h.to) != "":
		m.refuse(rt, "capture", what, r, usable(h.to))
	default:
		m.expect(rt, "capture", what, r, http.StatusOK, "")
		h.status = ledger.HoldStatusCaptured
		h.to.balance += amt
		h.from.balance += h.amount - amt
		h.from.held -= h.amount
	}
	other := `{"amount":"1"}` // valid in every currency
	if body == other {
		other = "{}"
	}
	m.remember(path, key, []byte(body), []byte(other), r)
}

func (m *ledgerModel) void(rt *rapid.T) {
	h := m.pickHold(rt)
	r := m.send(rt, "POST", "/v1/holds/"+h.id+"/void", nil, m.key())
	what := fmt.Sprintf("void hold %s (%s)", h.id, h.status)
	if h.status != ledger.HoldStatusPending {
		m.refuse(rt, "void", what, r, ledger.EHoldNotPending)
		return
	}
	m.expect(rt, "void", what, r, http.StatusOK, "")
	h.status = ledger.HoldStatusVoided
	h.from.balance += h.amount
	h.from.held -= h.amount
}

type mLeg struct {
	from, to *mAccount
	cur      string
	amount   int64
}

// legsCode is the code and field the ledger refuses a transaction with:
// the first leg failing the transfer rules, then the first leg at which a
// wallet's running total passes zero while its net change also does.
func legsCode(legs []mLeg) (ledger.Code, string) {
	for i, l := range legs {
		if code := paymentCode(l.from, l.to, l.cur, l.amount, false); code != "" {
			return code, fmt.Sprintf("legs[%d]", i)
		}
	}
	net := map[*mAccount]int64{}
	for _, l := range legs {
		net[l.from] -= l.amount
		net[l.to] += l.amount
	}
	running := map[*mAccount]int64{}
	for i, l := range legs {
		running[l.from] -= l.amount
		running[l.to] += l.amount
		if l.from.balance+l.from.limit+net[l.from] < 0 && l.from.balance+l.from.limit+running[l.from] < 0 {
			return ledger.EInsufficientFunds, fmt.Sprintf("legs[%d].amount", i)
		}
	}
	return "", ""
}

func (m *ledgerModel) transaction(rt *rapid.T) {
	n := rapid.IntRange(1, 3).Draw(rt, "legs")
	legs := make([]mLeg, n)
	var parts []string
	for i := range legs {
		from, to := m.pickPair(rt)
		cur := m.otherCurrency(rt, from.currency)
		legs[i] = mLeg{from, to, cur, amount(rt, "amount", from.balance/2)}
		parts = append(parts, fmt.Sprintf(`{"from":%q,"to":%q,"amount":%q,"currency":%q}`, from.id, to.id, money(legs[i].amount, cur), cur))
	}
	body := `{"legs":[` + strings.Join(parts, ",") + `]}`
	r := m.send(rt, "POST", "/v1/transactions", []byte(body), m.key())
	what := "transaction " + body
	code, field := legsCode(legs)
	if code == "" {
		m.expect(rt, "transaction", what, r, http.StatusCreated, "")
		for _, l := range legs {
			l.from.balance -= l.amount
			l.to.balance += l.amount
		}
		return
	}
	m.refuse(rt, "transaction", what, r, code)
	var p struct{ Errors []struct{ Field string } }
	if _ = json.Unmarshal(r.body, &p); len(p.Errors) == 0 || !strings.HasPrefix(p.Errors[0].Field, field) {
		rt.Fatalf("%s: refused with fields %v, the model says %s", what, p.Errors, field)
	}
}

// batch sends a few transfers in one batch, atomic or not: in order, each
// against what the earlier left; atomic, all or none.
func (m *ledgerModel) batch(rt *rapid.T) {
	atomic := rapid.Bool().Draw(rt, "atomic")
	n := rapid.IntRange(1, 4).Draw(rt, "items")
	type item struct {
		from, to *mAccount
		cur      string
		amount   int64
	}
	items := make([]item, n)
	var parts []string
	for i := range items {
		from, to := m.pickPair(rt)
		cur := m.otherCurrency(rt, from.currency)
		items[i] = item{from, to, cur, amount(rt, "amount", from.balance/2)}
		parts = append(parts, fmt.Sprintf(`{"type":"transfer","idempotency_key":%q,"body":{"from":%q,"to":%q,"amount":%q,"currency":%q}}`,
			m.key(), from.id, to.id, money(items[i].amount, cur), cur))
	}
	body := fmt.Sprintf(`{"atomic":%v,"items":[%s]}`, atomic, strings.Join(parts, ","))
	r := m.send(rt, "POST", "/v1/batch", []byte(body), m.key())
	what := "batch " + body
	// Decide on copies of the balances, kept only if the batch is.
	balance := map[*mAccount]int64{}
	bal := func(a *mAccount) int64 {
		if b, ok := balance[a]; ok {
			return b
		}
		return a.balance
	}
	want := make([]ledger.Code, n)
	failed := -1
	for i, it := range items {
		from := *it.from
		from.balance = bal(it.from)
		want[i] = paymentCode(&from, it.to, it.cur, it.amount, true)
		if it.from == it.to {
			want[i] = ledger.ESameAccount
		}
		if want[i] != "" {
			if failed < 0 {
				failed = i
			}
			if atomic {
				break
			}
			continue
		}
		balance[it.from] = bal(it.from) - it.amount
		balance[it.to] = bal(it.to) + it.amount
	}
	var v struct {
		Code    ledger.Code
		Results []struct {
			Status int
			Body   struct{ Code ledger.Code }
		}
	}
	_ = json.Unmarshal(r.body, &v)
	if atomic && failed >= 0 {
		m.expect(rt, "batch", what, r, http.StatusUnprocessableEntity, ledger.EBatchFailed)
		if len(v.Results) != n || v.Results[failed].Body.Code != want[failed] {
			rt.Fatalf("%s: results %+v; the model says item %d fails with %s", what, v.Results, failed, want[failed])
		}
		return
	}
	m.expect(rt, "batch", what, r, http.StatusOK, "")
	for i := range items {
		if got := v.Results[i]; (want[i] == "") != (got.Status == http.StatusCreated) || got.Body.Code != want[i] {
			rt.Fatalf("%s: item %d answered %d %s; the model says %q", what, i, got.Status, got.Body.Code, want[i])
		}
	}
	for a, b := range balance {
		a.balance = b
	}
}
