package ledger

import (
	"fmt"
	"strconv"
)

// TransactionPosted is the event type of a transaction: several legs, one event.
const TransactionPosted EventType = "transaction.posted"

// MaxLegs is the most legs one transaction may have.
const MaxLegs = 64

// Leg is one movement of a transaction, between two wallets, in one currency.
type Leg struct {
	From, To string
	Amount   Money
}

// TransactionRecord is a posted transaction as a reversal needs it.
type TransactionRecord struct {
	ID         string
	Book       string
	Legs       []Leg // account ids
	ReversedBy string
}

// TransactionReader is implemented by commands that decide on posted
// transactions, so the journal loads (and locks) them with the batch.
type TransactionReader interface {
	Transactions() []string
}

// PostTransaction moves money over several legs at once: all or none.
type PostTransaction struct {
	TransactionID string
	Legs          []Leg
	Description   string
	Metadata      map[string]string
}

// ReverseTransaction posts a new transaction with every leg of Original
// reversed. A transaction is reversed at most once.
type ReverseTransaction struct {
	TransactionID string
	Original      string
	Description   string
}

// AccountRefs implements Command.
func (c PostTransaction) AccountRefs() []string {
	refs := make([]string, 0, 2*len(c.Legs))
	for _, l := range c.Legs {
		refs = append(refs, l.From, l.To)
	}
	return refs
}

// SystemAccounts implements Command.
func (c PostTransaction) SystemAccounts() []SystemRef { return nil }

// AccountRefs implements Command: the original's accounts are loaded with it.
func (c ReverseTransaction) AccountRefs() []string { return nil }

// SystemAccounts implements Command.
func (c ReverseTransaction) SystemAccounts() []SystemRef { return nil }

// Transactions implements TransactionReader.
func (c ReverseTransaction) Transactions() []string { return []string{c.Original} }

// LegData is one leg of transaction.posted.
type LegData struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Amount   string   `json:"amount"`
	Currency Currency `json:"currency"`
}

// TransactionData is the data of transaction.posted. Reverses names the
// transaction a reversal undoes.
type TransactionData struct {
	TransactionID string            `json:"transaction_id"`
	Legs          []LegData         `json:"legs"`
	Description   string            `json:"description,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	Reverses      string            `json:"reverses,omitempty"`
}

// AddTransaction puts a loaded transaction into the state.
func (s *State) AddTransaction(t TransactionRecord) { s.transactions[t.ID] = &t }

func (s *State) decidePostTransaction(c PostTransaction, env Env) ([]Event, error) {
	return s.post(c.TransactionID, c.Legs, c.Description, c.Metadata, "", env)
}

func (s *State) decideReverseTransaction(c ReverseTransaction, env Env) ([]Event, error) {
	t := s.transactions[c.Original]
	if t == nil {
		return nil, Errorf(ENotFound, "transaction %s not found", c.Original)
	}
	if t.ReversedBy != "" {
		return nil, Errorf(ENotRefundable, "transaction %s was already reversed by %s", t.ID, t.ReversedBy)
	}
	legs := make([]Leg, len(t.Legs))
	for i, l := range t.Legs {
		legs[i] = Leg{From: l.To, To: l.From, Amount: l.Amount}
	}
	return s.post(c.TransactionID, legs, c.Description, nil, t.ID, env)
}

// post decides a transaction: every leg obeys the transfer rules, and funds
// are checked on each wallet's net change over all legs.
func (s *State) post(id string, legs []Leg, description string, metadata map[string]string, reverses string, env Env) ([]Event, error) {
	if len(legs) == 0 || len(legs) > MaxLegs {
		return nil, Errorf(EInvalidRequest, "a transaction has 1 to %d legs", MaxLegs).WithField("legs")
	}
	book := ""
	data := TransactionData{TransactionID: id, Legs: make([]LegData, len(legs)), Description: description, Metadata: metadata, Reverses: reverses}
	postings := make([]Posting, 0, 2*len(legs))
	resolved := make([][2]*Account, len(legs))
	for i, l := range legs {
		prefix := "legs[" + strconv.Itoa(i) + "]."
		from, to, err := s.payment(l.From, l.To, l.Amount, prefix)
		if err != nil {
			return nil, err
		}
		if book == "" {
			book = from.Book
		} else if from.Book != book {
			return nil, Errorf(ECurrencyMismatch, "legs are in different books (%s, %s); money moves only within a book", book, from.Book).WithField(prefix + "from")
		}
		resolved[i] = [2]*Account{from, to}
		data.Legs[i] = LegData{From: from.ID, To: to.ID, Amount: l.Amount.String(), Currency: l.Amount.Currency()}
		postings = append(postings, Posting{Account: from.ID, Amount: l.Amount.Neg()}, Posting{Account: to.ID, Amount: l.Amount})
	}
	if err := fundsByNetChange(legs, resolved); err != nil {
		return nil, err
	}
	e := newEvent(book, TransactionPosted, data, env)
	e.Postings = postings
	return []Event{e}, nil
}

// fundsByNetChange refuses a transaction that takes a wallet below minus its
// overdraft limit once all legs are counted. The leg named is the first at
// which that wallet's running total, taken in leg order, passes the limit.
func fundsByNetChange(legs []Leg, resolved [][2]*Account) error {
	net := map[string]Money{}
	for i, l := range legs {
		from, to := resolved[i][0], resolved[i][1]
		net[from.ID] = addTo(net, from.ID, l.Amount.Neg())
		net[to.ID] = addTo(net, to.ID, l.Amount)
	}
	short := map[string]bool{}
	for i := range legs {
		from := resolved[i][0]
		if n := net[from.ID]; n.Sign() < 0 && !from.covers(n.Neg()) {
			short[from.ID] = true
		}
	}
	if len(short) == 0 {
		return nil
	}
	running := map[string]Money{}
	for i, l := range legs {
		from, to := resolved[i][0], resolved[i][1]
		running[from.ID] = addTo(running, from.ID, l.Amount.Neg())
		running[to.ID] = addTo(running, to.ID, l.Amount)
		if r := running[from.ID]; short[from.ID] && r.Sign() < 0 && !from.covers(r.Neg()) {
			return from.insufficient(net[from.ID].Neg()).WithField("legs[" + strconv.Itoa(i) + "].amount")
		}
	}
	return fmt.Errorf("ledger: transaction short of funds, but no leg found")
}

func addTo(sums map[string]Money, id string, m Money) Money {
	if s, ok := sums[id]; ok {
		return s.Add(m)
	}
	return m
}

// applyTransaction records a posted transaction, and a reversal on the
// transaction it reverses.
func (s *State) applyTransaction(e *Event) error {
	var d TransactionData
	if err := DecodeData(e, &d); err != nil {
		return err
	}
	t := TransactionRecord{ID: d.TransactionID, Book: e.Book, Legs: make([]Leg, len(d.Legs))}
	for i, l := range d.Legs {
		amount, err := ParseMoney(l.Amount, string(l.Currency))
		if err != nil {
			return err
		}
		t.Legs[i] = Leg{From: l.From, To: l.To, Amount: amount}
	}
	s.AddTransaction(t)
	if d.Reverses != "" {
		if orig := s.transactions[d.Reverses]; orig != nil {
			orig.ReversedBy = d.TransactionID
		}
	}
	return nil
}
