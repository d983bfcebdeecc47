package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tallyledger/tally/gateways"
	"github.com/tallyledger/tally/gateways/sandbox"
	"github.com/tallyledger/tally/ledger"
	"pgregory.net/rapid"
)

// The model-based test: rapid draws random sequences of commands, runs each
// against the real API (over HTTP, on PostgreSQL, with the sandbox gateway
// sending real signed webhooks) and against a small in-memory model of the
// ledger's rules, and requires the two to agree on every answer's status and
// error code, on every wallet's balance and status, and on every deposit's
// and transfer's state. When they disagree, rapid shrinks the sequence to a
// minimal one that still does.

// modelChecks and modelSteps bound a run of `go test` (about 10-20 s with
// -race on two cores); -rapid.checks and -rapid.steps, or RAPID_CHECKS and
// RAPID_STEPS, override them for a longer hunt.
const (
	modelChecks = 20
	modelSteps  = 60
)

// boundRapid sets rapid's number of checks and steps unless the command line
// or the environment chose them.
func boundRapid(checks, steps int) {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["rapid.checks"] && os.Getenv("RAPID_CHECKS") == "" {
		_ = flag.Set("rapid.checks", fmt.Sprint(checks))
	}
	if !set["rapid.steps"] && os.Getenv("RAPID_STEPS") == "" {
		_ = flag.Set("rapid.steps", fmt.Sprint(steps))
	}
}

// modelCurrencies have 2, 0 and 3 minor-unit digits.
var modelCurrencies = []string{"USD", "JPY", "KWD"}

var exponents = map[string]int{"USD": 2, "JPY": 0, "KWD": 3}

// money renders an amount in minor units as the API writes it.
func money(minor int64, currency string) string {
	exp := exponents[currency]
	if exp == 0 {
		return fmt.Sprint(minor)
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	unit := int64(1)
	for range exp {
		unit *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, minor/unit, exp, minor%unit)
}

type mAccount struct {
	id, wallet, currency string
	balance, held, limit int64 // limit: the overdraft limit
	status               ledger.AccountStatus
}

type mDeposit struct {
	id, reference, checkout string
	account                 *mAccount
	amount, refunded        int64
	status                  ledger.DepositStatus
	webhooks                [][]byte // bodies we signed and sent, for duplicates
}

type mTransfer struct {
	id               string
	from, to         *mAccount
	amount, refunded int64
}

// keyed is an answered request with an Idempotency-Key, for retries.
type keyed struct {
	path, key   string
	body, other []byte // other: a different request under the same key
	status      int
	response    []byte
}

// ledgerModel is the in-memory model, one per rapid run, and the API it is
// compared with. Each run uses its own owner and key prefix on the shared
// database, so runs (and rapid's shrinking re-runs) never see each other.
type ledgerModel struct {
	h      *harness
	seen   map[string]int // outcomes met, by action and answer, for the log
	secret []byte
	nonce  string
	seq    int

	accounts  []*mAccount
	deposits  []*mDeposit
	transfers []*mTransfer
	refunds   []string // deposit refunds, settled later by the sandbox's webhook
	keyed     []keyed
	holds     []*mHold
}

// TestLedgerAgreesWithModel is the model-based test of the whole ledger.
func TestLedgerAgreesWithModel(t *testing.T) {
	boundRapid(modelChecks, modelSteps)
	h, secret := newSandboxHarness(t)
	seen := map[string]int{}
	rapid.Check(t, func(rt *rapid.T) {
		m := &ledgerModel{h: h, seen: seen, secret: secret, nonce: strings.ToLower(rand.Text()[:10])}
		actions := map[string]func(*rapid.T){"": m.checkAccounts}
		// (rapid leans towards small numbers and first elements, so the
		// common case of each choice below is the value 0 or the first one.)
		// Weights: rapid picks actions uniformly, so an action listed three
		// times runs three times as often. Closing is rare, or most runs
		// would be about closed accounts.
		for name, w := range map[string]struct {
			weight int
			action func(*rapid.T)
		}{
			"open": {2, m.open}, "adjust": {3, m.adjust}, "transfer": {5, m.transfer},
			"freeze": {1, m.status(ledger.Freeze)}, "unfreeze": {1, m.status(ledger.Unfreeze)}, "close": {1, m.status(ledger.Close)},
			"deposit": {3, m.deposit}, "pay": {2, m.checkout("pay")}, "decline": {1, m.checkout("decline")},
			"webhook": {2, m.webhook}, "duplicate webhook": {1, m.duplicateWebhook},
			"refund transfer": {2, m.refundTransfer}, "refund deposit": {2, m.refundDeposit}, "retry": {2, m.retry},
			"hold": {3, m.hold}, "capture": {2, m.capture}, "void": {1, m.void},
			"transaction": {2, m.transaction}, "batch": {2, m.batch},
		} {
			for i := range w.weight {
				actions[fmt.Sprintf("%s #%d", name, i+1)] = w.action
			}
		}
		// Start with a wallet: otherwise a run whose first draws all need
		// one skips them all, and rapid gives up ("can't find a valid action").
		m.open(rt)
		rt.Repeat(actions)
		m.checkSettled(rt)
	})
	h.checkJournal("main")
	var met []string
	for k, n := range seen {
		met = append(met, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(met)
	t.Logf("outcomes met:\n%s", strings.Join(met, "\n"))
}

// newSandboxHarness is a harness with the sandbox gateway, whose webhook
// secret the test knows so that it can sign webhooks of its own.
func newSandboxHarness(t *testing.T, options ...func(*Config)) (*harness, []byte) {
	var h *harness
	self := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.api.ServeHTTP(w, r) }))
	t.Cleanup(self.Close)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	var sb *sandbox.Gateway
	h = newHarness(t, func(cfg *Config) {
		var err error
		sb, err = sandbox.New(sandbox.Config{
			BaseURL: self.URL, Secret: secret,
			Lookup: SandboxLookup(cfg.Store),
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Gateways = gateways.Set{"sandbox": sb}
		cfg.Sandbox = sb.Handler()
		for _, o := range options {
			o(cfg)
		}
	})
	t.Cleanup(func() { _ = sb.Close() })
	return h, secret
}

func (m *ledgerModel) key() string {
	m.seq++
	return fmt.Sprintf("model-%s-%d", m.nonce, m.seq)
}

// send posts a JSON body (with an Idempotency-Key unless key is empty) and
// returns the answer.
func (m *ledgerModel) send(rt *rapid.T, method, path string, body []byte, key string) reply {
	rt.Helper()
	headers := []string{}
	if key != "" {
		headers = append(headers, "Idempotency-Key", key)
	}
	var b any
	if body != nil {
		b = body
	}
	return m.h.do(method, path, b, headers...)
}

// expect checks an answer's status and, for failures, its code.
func (m *ledgerModel) expect(rt *rapid.T, action, what string, r reply, status int, code ledger.Code) {
	rt.Helper()
	m.seen[fmt.Sprintf("%s: %d %s", action, status, code)]++
	var p struct{ Code ledger.Code }
	_ = json.Unmarshal(r.body, &p)
	if r.status != status || (code != "" && p.Code != code) {
		rt.Fatalf("%s: the API answered %d %s; the model says %d %s", what, r.status, r.body, status, code)
	}
}

// remember keeps a keyed request for the retry action.
func (m *ledgerModel) remember(path, key string, body, other []byte, r reply) {
	m.keyed = append(m.keyed, keyed{path: path, key: key, body: body, other: other, status: r.status, response: r.body})
}

func (m *ledgerModel) pickAccount(rt *rapid.T, label string) *mAccount {
	if len(m.accounts) == 0 {
		rt.Skip("no account yet")
	}
	return rapid.SampledFrom(m.accounts).Draw(rt, label)
}

// ref names an account by id or, sometimes, by wallet number.
func ref(rt *rapid.T, a *mAccount, label string) string {
	if rapid.IntRange(0, 3).Draw(rt, label+" by wallet number") == 3 {
		return a.wallet
	}
	return a.id
}

// usable mirrors ledger's rule for spending and receiving accounts.
func usable(a *mAccount) ledger.Code {
	switch a.status {
	case ledger.StatusClosed:
		return ledger.EAccountClosed
	case ledger.StatusFrozen:
		return ledger.EAccountFrozen
	}
	return ""
}

func (m *ledgerModel) refuse(rt *rapid.T, action, what string, r reply, code ledger.Code) {
	rt.Helper()
	status := http.StatusUnprocessableEntity
	if code == ledger.ENotFound {
		status = http.StatusNotFound
	}
	m.expect(rt, action, what, r, status, code)
}

func (m *ledgerModel) open(rt *rapid.T) {
	// Mostly one currency, so that transfers find partners.
	cur := rapid.SampledFrom([]string{"USD", "USD", "USD", "JPY", "KWD"}).Draw(rt, "currency")
	// Some wallets may go below zero, down to an overdraft limit.
	limit := rapid.SampledFrom([]int64{0, 0, 0, 0, 500}).Draw(rt, "overdraft limit")
	r := m.send(rt, "POST", "/v1/accounts", []byte(fmt.Sprintf(`{"owner":"model-%s","currency":%q,"overdraft_limit":%q}`, m.nonce, cur, money(limit, cur))), "")
	m.expect(rt, "open", "open", r, http.StatusCreated, "")
	var v struct {
		ID           string `json:"id"`
		WalletNumber string `json:"wallet_number"`
	}
	_ = json.Unmarshal(r.body, &v)
	m.accounts = append(m.accounts, &mAccount{id: v.ID, wallet: v.WalletNumber, currency: cur, status: ledger.StatusActive, limit: limit})
}

// amount draws an amount in minor units, mostly small, sometimes above what
// the account holds.
func amount(rt *rapid.T, label string, around int64) int64 {
	hi := around + around/4 + 1000
	return rapid.Int64Range(1, hi).Draw(rt, label)
}

func (m *ledgerModel) otherCurrency(rt *rapid.T, cur string) string {
	if rapid.IntRange(0, 9).Draw(rt, "currency differs") < 9 {
		return cur
	}
	return rapid.SampledFrom(modelCurrencies).Draw(rt, "currency")
}

func (m *ledgerModel) adjust(rt *rapid.T) {
	a := m.pickAccount(rt, "account")
	dir := rapid.SampledFrom([]ledger.Direction{ledger.Credit, ledger.Credit, ledger.Debit}).Draw(rt, "direction")
	cur := m.otherCurrency(rt, a.currency)
	amt := amount(rt, "amount", a.balance)
	key := m.key()
	body := fmt.Sprintf(`{"account":%q,"direction":%q,"amount":%q,"currency":%q,"reason":"model"}`, ref(rt, a, "account"), dir, money(amt, cur), cur)
	r := m.send(rt, "POST", "/v1/adjustments", []byte(body), key)
	what := fmt.Sprintf("%s %s %s of %s (%s, %s %s)", dir, money(amt, cur), cur, a.id, a.status, money(a.balance, a.currency), a.currency)
	switch {
	case cur != a.currency:
		m.refuse(rt, "adjust", what, r, ledger.ECurrencyMismatch)
	case a.status == ledger.StatusClosed:
		m.refuse(rt, "adjust", what, r, ledger.EAccountClosed)
	case dir == ledger.Debit && a.balance+a.limit < amt:
		m.refuse(rt, "adjust", what, r, ledger.EInsufficientFunds)
	default:
		m.expect(rt, "adjust", what, r, http.StatusCreated, "")
		if dir == ledger.Credit {
			a.balance += amt
		} else {
			a.balance -= amt
		}
	}
	m.remember("/v1/adjustments", key, []byte(body), []byte(strings.Replace(body, `"model"`, `"changed"`, 1)), r)
}

func (m *ledgerModel) transfer(rt *rapid.T) {
	from := m.pickAccount(rt, "from")
	to := m.pickAccount(rt, "to")
	if rapid.IntRange(0, 9).Draw(rt, "any recipient") < 9 {
		// Mostly a recipient in the sender's currency, if there is one.
		var same []*mAccount
		for _, a := range m.accounts {
			if a.currency == from.currency && a != from {
				same = append(same, a)
			}
		}
		if len(same) > 0 {
			to = rapid.SampledFrom(same).Draw(rt, "same-currency recipient")
		}
	}
	fromRef, toRef := ref(rt, from, "from"), ref(rt, to, "to")
	unknown := rapid.IntRange(0, 19).Draw(rt, "unknown recipient") == 19
	if unknown {
		toRef = ledger.NewID(ledger.PrefixAccount)
	}
	cur := m.otherCurrency(rt, from.currency)
	amt := amount(rt, "amount", from.balance)
	key := m.key()
	body := fmt.Sprintf(`{"from":%q,"to":%q,"amount":%q,"currency":%q}`, fromRef, toRef, money(amt, cur), cur)
	r := m.send(rt, "POST", "/v1/transfers", []byte(body), key)
	what := fmt.Sprintf("transfer %s %s from %s (%s, %s) to %s (%s, %s)", money(amt, cur), cur, from.id, from.status, money(from.balance, from.currency), toRef, to.status, to.currency)
	switch {
	case unknown:
		m.refuse(rt, "transfer", what, r, ledger.ENotFound)
	case from == to:
		m.refuse(rt, "transfer", what, r, ledger.ESameAccount)
	case from.currency != cur || to.currency != cur:
		m.refuse(rt, "transfer", what, r, ledger.ECurrencyMismatch)
	case usable(from) != "":
		m.refuse(rt, "transfer", what, r, usable(from))
	case usable(to) != "":
		m.refuse(rt, "transfer", what, r, usable(to))
	case from.balance+from.limit < amt:
		m.refuse(rt, "transfer", what, r, ledger.EInsufficientFunds)
	default:
		m.expect(rt, "transfer", what, r, http.StatusCreated, "")
		var v struct{ ID string }
		_ = json.Unmarshal(r.body, &v)
		from.balance -= amt
		to.balance += amt
		m.transfers = append(m.transfers, &mTransfer{id: v.ID, from: from, to: to, amount: amt})
	}
	m.remember("/v1/transfers", key, []byte(body), []byte(strings.Replace(body, `{`, `{"description":"changed",`, 1)), r)
}

func (m *ledgerModel) status(action ledger.StatusAction) func(*rapid.T) {
	return func(rt *rapid.T) {
		a := m.pickAccount(rt, "account")
		r := m.send(rt, "POST", "/v1/accounts/"+ref(rt, a, "account")+"/"+string(action), nil, "")
		what := fmt.Sprintf("%s %s (%s, %s)", action, a.id, a.status, money(a.balance, a.currency))
		switch {
		case a.status == ledger.StatusClosed:
			m.refuse(rt, string(action), what, r, ledger.EAccountClosed)
		case action == ledger.Close && (a.balance != 0 || a.held != 0):
			m.refuse(rt, string(action), what, r, ledger.EBalanceNotZero)
		default:
			m.expect(rt, string(action), what, r, http.StatusOK, "")
			a.status = map[ledger.StatusAction]ledger.AccountStatus{ledger.Freeze: ledger.StatusFrozen, ledger.Unfreeze: ledger.StatusActive, ledger.Close: ledger.StatusClosed}[action]
			var v struct{ Status ledger.AccountStatus }
			if _ = json.Unmarshal(r.body, &v); v.Status != a.status {
				rt.Fatalf("%s: the account is %s, the model says %s", what, v.Status, a.status)
			}
		}
	}
}

func (m *ledgerModel) deposit(rt *rapid.T) {
	a := m.pickAccount(rt, "account")
	cur := m.otherCurrency(rt, a.currency)
	amt := rapid.Int64Range(1, 100_000).Draw(rt, "amount")
	key := m.key()
	body := fmt.Sprintf(`{"account":%q,"amount":%q,"currency":%q,"gateway":"sandbox"}`, ref(rt, a, "account"), money(amt, cur), cur)
	r := m.send(rt, "POST", "/v1/deposits", []byte(body), key)
	what := fmt.Sprintf("deposit %s %s to %s (%s, %s)", money(amt, cur), cur, a.id, a.status, a.currency)
	switch {
	case cur != a.currency:
		m.refuse(rt, "deposit", what, r, ledger.ECurrencyMismatch)
	case usable(a) != "":
		m.refuse(rt, "deposit", what, r, usable(a))
	default:
		m.expect(rt, "deposit", what, r, http.StatusCreated, "")
		var v struct {
			ID, Reference, Status string
			CheckoutURL           string `json:"checkout_url"`
		}
		_ = json.Unmarshal(r.body, &v)
		if v.Status != string(ledger.DepositPending) || v.CheckoutURL == "" {
			rt.Fatalf("%s: %s", what, r.body)
		}
		m.deposits = append(m.deposits, &mDeposit{id: v.ID, reference: v.Reference, checkout: v.CheckoutURL, account: a, amount: amt, status: ledger.DepositPending})
	}
	m.remember("/v1/deposits", key, []byte(body), []byte(strings.Replace(body, `{`, `{"email":"changed@example.com",`, 1)), r)
}

func (m *ledgerModel) pickDeposit(rt *rapid.T) *mDeposit {
	if len(m.deposits) == 0 {
		rt.Skip("no deposit yet")
	}
	return rapid.SampledFrom(m.deposits).Draw(rt, "deposit")
}

// settle applies a success notification for paid (in minor units) to the
// model, with the ledger's rules: a settled deposit changes no more; a wrong
// amount or a closed wallet flags it; anything else (pending, failed or
// expired) is credited, to a frozen wallet too.
func (d *mDeposit) settle(paid int64) string {
	switch {
	case d.status == ledger.DepositSucceeded || d.status == ledger.DepositFlagged:
		return "already " + string(d.status)
	case paid != d.amount || d.account.status == ledger.StatusClosed:
		d.status = ledger.DepositFlagged
		return "flagged"
	default:
		d.status = ledger.DepositSucceeded
		d.account.balance += d.amount
		return "credited to a " + string(d.account.status) + " wallet"
	}
}

// checkout presses Pay or Decline on the sandbox's checkout page, which
// sends the sandbox's signed webhook through Tally's pipeline.
func (m *ledgerModel) checkout(button string) func(*rapid.T) {
	return func(rt *rapid.T) {
		d := m.pickDeposit(rt)
		resp, err := m.h.srv.Client().Post(d.checkout+"/"+button, "application/x-www-form-urlencoded", nil)
		if err != nil {
			rt.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		what := fmt.Sprintf("%s %s (%s)", button, d.id, d.status)
		m.seen[fmt.Sprintf("%s: page %d", button, resp.StatusCode)]++
		if d.status != ledger.DepositPending {
			if resp.StatusCode != http.StatusConflict {
				rt.Fatalf("%s: the page answered %d; the model says it is no longer payable (409)", what, resp.StatusCode)
			}
			return
		}
		if resp.StatusCode != http.StatusOK {
			rt.Fatalf("%s: the page answered %d", what, resp.StatusCode)
		}
		if button == "pay" {
			m.seen["pay: "+d.settle(d.amount)]++
		} else {
			d.status = ledger.DepositFailed
		}
		m.checkDeposit(rt, d, what)
	}
}

// webhook sends a success notification of our own, signed as the sandbox
// signs: a new event for the payment, sometimes for less than was asked.
func (m *ledgerModel) webhook(rt *rapid.T) {
	d := m.pickDeposit(rt)
	paid := d.amount
	if rapid.IntRange(0, 4).Draw(rt, "underpaid") == 4 && d.amount > 1 {
		paid = d.amount - 1
	}
	body, _ := json.Marshal(map[string]any{"id": "sbxevt_" + m.key(), "type": "payment.succeeded", "created": time.Now().Unix(),
		"data": map[string]any{"reference": d.reference, "amount": money(paid, d.account.currency), "currency": d.account.currency}})
	m.deliver(rt, body)
	what := fmt.Sprintf("webhook paying %s of %s (%s)", money(paid, d.account.currency), d.id, d.status)
	was := d.status
	m.seen[fmt.Sprintf("webhook (was %s): %s", was, d.settle(paid))]++
	d.webhooks = append(d.webhooks, body)
	m.checkDeposit(rt, d, what)
}

// duplicateWebhook delivers one of our webhooks again: nothing changes.
func (m *ledgerModel) duplicateWebhook(rt *rapid.T) {
	d := m.pickDeposit(rt)
	if len(d.webhooks) == 0 {
		rt.Skip("no webhook sent for this deposit")
	}
	m.deliver(rt, rapid.SampledFrom(d.webhooks).Draw(rt, "webhook"))
	m.checkDeposit(rt, d, "duplicate webhook for "+d.id)
}

func (m *ledgerModel) deliver(rt *rapid.T, body []byte) {
	rt.Helper()
	r := m.h.webhook("sandbox", body, sandbox.SignatureHeader, sandbox.Sign(m.secret, body, time.Now()))
	m.expect(rt, "webhook", "webhook", r, http.StatusOK, "")
}

func (m *ledgerModel) checkDeposit(rt *rapid.T, d *mDeposit, what string) {
	rt.Helper()
	r := m.h.do("GET", "/v1/deposits/"+d.id, nil)
	var v struct {
		Status         ledger.DepositStatus
		RefundedAmount string `json:"refunded_amount"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &v) != nil {
		rt.Fatalf("%s: GET deposit: %d %s", what, r.status, r.body)
	}
	if v.Status != d.status || v.RefundedAmount != money(d.refunded, d.account.currency) {
		rt.Fatalf("%s: the deposit is %s, refunded %s; the model says %s, refunded %s", what, v.Status, v.RefundedAmount, d.status, money(d.refunded, d.account.currency))
	}
}

// refundAmount draws a refund amount: empty (everything left) or up to a
// little more than the original.
func refundAmount(rt *rapid.T, original int64) (int64, bool) {
	if rapid.Bool().Draw(rt, "refund all that is left") {
		return 0, true
	}
	return rapid.Int64Range(1, original+original/4+1).Draw(rt, "refund amount"), false
}

func (m *ledgerModel) refundTransfer(rt *rapid.T) {
	if len(m.transfers) == 0 {
		rt.Skip("no transfer yet")
	}
	t := rapid.SampledFrom(m.transfers).Draw(rt, "transfer")
	amt, all := refundAmount(rt, t.amount)
	cur := t.from.currency
	body := fmt.Sprintf(`{"transfer":%q,"reason":"model"}`, t.id)
	if !all {
		body = fmt.Sprintf(`{"transfer":%q,"amount":%q,"reason":"model"}`, t.id, money(amt, cur))
	}
	key := m.key()
	r := m.send(rt, "POST", "/v1/refunds", []byte(body), key)
	left := t.amount - t.refunded
	if all {
		amt = left
	}
	what := fmt.Sprintf("refund %s of transfer %s (%s, %s refunded; recipient %s holds %s)", money(amt, cur), t.id, money(t.amount, cur), money(t.refunded, cur), t.to.status, money(t.to.balance, cur))
	switch {
	case amt <= 0 || amt > left:
		m.refuse(rt, "refund transfer", what, r, ledger.ERefundExceedsOriginal)
	case usable(t.to) != "":
		m.refuse(rt, "refund transfer", what, r, usable(t.to))
	case usable(t.from) != "":
		m.refuse(rt, "refund transfer", what, r, usable(t.from))
	case t.to.balance+t.to.limit < amt: // the funds rule of a transfer
		m.refuse(rt, "refund transfer", what, r, ledger.EInsufficientFunds)
	default:
		m.expect(rt, "refund transfer", what, r, http.StatusCreated, "")
		t.to.balance -= amt
		t.from.balance += amt
		t.refunded += amt
	}
	m.remember("/v1/refunds", key, []byte(body), []byte(strings.Replace(body, `"model"`, `"changed"`, 1)), r)
	got := m.h.do("GET", "/v1/transfers/"+t.id, nil)
	var v struct {
		RefundedAmount string `json:"refunded_amount"`
	}
	if _ = json.Unmarshal(got.body, &v); v.RefundedAmount != money(t.refunded, cur) {
		rt.Fatalf("%s: the transfer has %s refunded; the model says %s", what, v.RefundedAmount, money(t.refunded, cur))
	}
}

func (m *ledgerModel) refundDeposit(rt *rapid.T) {
	d := m.pickDeposit(rt)
	amt, all := refundAmount(rt, d.amount)
	cur := d.account.currency
	body := fmt.Sprintf(`{"deposit":%q,"reason":"model"}`, d.id)
	if !all {
		body = fmt.Sprintf(`{"deposit":%q,"amount":%q,"reason":"model"}`, d.id, money(amt, cur))
	}
	key := m.key()
	r := m.send(rt, "POST", "/v1/refunds", []byte(body), key)
	left := d.amount - d.refunded
	if all {
		amt = left
	}
	w := d.account
	what := fmt.Sprintf("refund %s of deposit %s (%s, %s, %s refunded; wallet %s holds %s)", money(amt, cur), d.id, d.status, money(d.amount, cur), money(d.refunded, cur), w.status, money(w.balance, cur))
	switch {
	case d.status != ledger.DepositSucceeded:
		m.refuse(rt, "refund deposit", what, r, ledger.ENotRefundable)
	case amt <= 0 || amt > left:
		m.refuse(rt, "refund deposit", what, r, ledger.ERefundExceedsOriginal)
	case usable(w) != "":
		m.refuse(rt, "refund deposit", what, r, usable(w))
	case w.balance+w.limit < amt: // the funds rule of a transfer
		m.refuse(rt, "refund deposit", what, r, ledger.EInsufficientFunds)
	default:
		m.expect(rt, "refund deposit", what, r, http.StatusCreated, "")
		var v struct{ ID, Status string }
		_ = json.Unmarshal(r.body, &v)
		// The sandbox reports the refund's success by a webhook of its own,
		// which may arrive before or after this answer is rendered.
		if v.Status != string(ledger.RefundStatusPending) && v.Status != string(ledger.RefundStatusSucceeded) {
			rt.Fatalf("%s: refund status %s", what, v.Status)
		}
		w.balance -= amt
		d.refunded += amt
		m.refunds = append(m.refunds, v.ID)
	}
	m.remember("/v1/refunds", key, []byte(body), []byte(strings.Replace(body, `"model"`, `"changed"`, 1)), r)
	m.checkDeposit(rt, d, what)
}

// retry repeats an earlier request under its Idempotency-Key: the same
// request gets the same answer, byte for byte, and changes nothing; another
// request under the same key is refused.
func (m *ledgerModel) retry(rt *rapid.T) {
	if len(m.keyed) == 0 {
		rt.Skip("no keyed request yet")
	}
	k := rapid.SampledFrom(m.keyed).Draw(rt, "request")
	if rapid.IntRange(0, 3).Draw(rt, "a different request") == 3 {
		r := m.send(rt, "POST", k.path, k.other, k.key)
		m.refuse(rt, "retry", "a different request under "+k.key, r, ledger.EIdempotencyKeyReused)
		return
	}
	r := m.send(rt, "POST", k.path, k.body, k.key)
	m.seen[fmt.Sprintf("retry: replayed %d", k.status)]++
	if r.status != k.status || !bytes.Equal(r.body, k.response) || r.header.Get("Idempotent-Replayed") != "true" {
		rt.Fatalf("retry of %s %s: %d %s (replayed=%q); first answer %d %s", k.path, k.body, r.status, r.body, r.header.Get("Idempotent-Replayed"), k.status, k.response)
	}
}

// checkAccounts runs after every action: each wallet's balance and status
// are the model's.
func (m *ledgerModel) checkAccounts(rt *rapid.T) {
	if len(m.accounts) == 0 {
		return
	}
	r := m.h.do("GET", "/v1/accounts?limit=500&owner="+url.QueryEscape("model-"+m.nonce), nil)
	var page struct {
		Data []struct {
			ID      string
			Balance string
			Held    string
			Status  ledger.AccountStatus
		}
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &page) != nil {
		rt.Fatalf("list accounts: %d %s", r.status, r.body)
	}
	got := map[string]int{}
	for i, a := range page.Data {
		got[a.ID] = i
	}
	for _, a := range m.accounts {
		i, ok := got[a.id]
		if !ok {
			rt.Fatalf("account %s is missing", a.id)
		}
		if g := page.Data[i]; g.Balance != money(a.balance, a.currency) || g.Held != money(a.held, a.currency) || g.Status != a.status {
			rt.Fatalf("account %s is %s holding %s %s (%s held); the model says %s holding %s (%s held)", a.id, g.Status, g.Balance, a.currency, g.Held,
				a.status, money(a.balance, a.currency), money(a.held, a.currency))
		}
	}
	if len(page.Data) != len(m.accounts) {
		rt.Fatalf("%d accounts, the model has %d", len(page.Data), len(m.accounts))
	}
}

// checkSettled waits for the sandbox's refund webhooks, then checks every
// deposit and refund of the run.
func (m *ledgerModel) checkSettled(rt *rapid.T) {
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range m.refunds {
		for {
			r := m.h.do("GET", "/v1/refunds/"+id, nil)
			var v struct{ Status string }
			_ = json.Unmarshal(r.body, &v)
			if v.Status == string(ledger.RefundStatusSucceeded) {
				break
			}
			if time.Now().After(deadline) {
				rt.Fatalf("refund %s is still %s", id, v.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, d := range m.deposits {
		m.checkDeposit(rt, d, "at the end")
	}
	m.checkAccounts(rt)
}
