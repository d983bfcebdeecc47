package pgjournal

import (
	"sync"

	"github.com/tallyledger/tally/ledger"
)

// maxCachedAccounts bounds a book's cache (its accounts, holds, deposits);
// past it the next batch is appended carefully and the cache starts again
// from what that batch read.
const maxCachedAccounts = 100_000

// maxCachedRecords bounds the idempotency records a book's cache keeps; past
// it the oldest go first. Retries come soon after the request they repeat.
const maxCachedRecords = 50_000

// bookCache is what a sequencer knows of its book as the batches it has
// decided left it: the head (position, hash, time) and the accounts, holds
// and deposits those batches loaded or made, as their events left them, and
// the answers they recorded.
// The latest batches may not have committed yet: the cache runs ahead of
// the database, which is what lets the next batch decide while the one
// before it is still running (see launch).
//
// It is only ever an assumption. An optimistic append writes under
// conditions PostgreSQL checks (the head it decided on is still the head;
// its idempotency keys are new), so a wrong cache costs a retry, never a
// wrong journal; and any failure empties it.
type bookCache struct {
	mu       sync.Mutex
	gen      uint64 // changes whenever the cache is reset or emptied
	valid    bool
	head     head
	accounts map[string]ledger.Account // by id
	byRef    map[string]string         // wallet number or systemKey → id
	holds    map[string]ledger.Hold    // by id
	deposits map[string]ledger.Deposit // by id
	// depositKeys finds cached deposits by reference and by gateway
	// reference (see depositKey).
	depositKeys map[string]string
	// records are the idempotency records of the requests the latest
	// batches decided in one step (see putRecords), so that a retry (a
	// client's after a timeout, a gateway's redelivery) is answered from
	// its record in an optimistic batch rather than failing the batch on
	// the key's insert. recordOrder is their insertion order,
	// a ring of maxCachedRecords, for evicting the oldest.
	records     map[scopedKey]record
	recordOrder []scopedKey
	nextRecord  int
}

// depositKey keys depositKeys: our reference, or the gateway and its
// reference.
func depositKey(reference, gateway, gatewayReference string) string {
	if reference != "" {
		return "ref\x00" + reference
	}
	return "gw\x00" + gateway + "\x00" + gatewayReference
}

// lookupDeposits returns the cached deposits keys name, and the keys whose
// first match (by id, else by reference, else by gateway reference: as
// ledger.State looks them up) the cache does not have, to be read. It
// fails if the cache is no longer of generation gen.
func (c *bookCache) lookupDeposits(gen uint64, keys []ledger.DepositKey) (found []ledger.Deposit, unread []ledger.DepositKey, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.gen != gen {
		return nil, nil, false
	}
	seen := map[string]bool{}
	add := func(id string) bool {
		d, hit := c.deposits[id]
		if hit && !seen[id] {
			seen[id] = true
			found = append(found, d)
		}
		return hit
	}
	for _, k := range keys {
		first := false
		switch {
		case k.ID != "":
			first = add(k.ID)
		case k.Reference != "":
			first = add(c.depositKeys[depositKey(k.Reference, "", "")])
			if k.GatewayReference != "" {
				add(c.depositKeys[depositKey("", k.Gateway, k.GatewayReference)])
			}
		case k.GatewayReference != "":
			first = add(c.depositKeys[depositKey("", k.Gateway, k.GatewayReference)])
		default:
			first = true // names no deposit
		}
		if !first {
			unread = append(unread, k)
		}
	}
	return found, unread, true
}

// lookupRecords returns the cached records of keys, as decide takes them
// (keyed, and a fresh map it may add to). It fails if the cache is no longer
// of generation gen.
func (c *bookCache) lookupRecords(gen uint64, keys []scopedKey) (map[scopedKey]record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.gen != gen {
		return nil, false
	}
	stored := map[scopedKey]record{}
	for _, k := range keys {
		if r, hit := c.records[k]; hit {
			stored[k] = r
		}
	}
	return stored, true
}

// lookupHolds returns the holds ids name, if the cache holds every one
// and is still of generation gen.
func (c *bookCache) lookupHolds(gen uint64, ids []string) ([]ledger.Hold, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.gen != gen {
		return nil, false
	}
	found := make([]ledger.Hold, 0, len(ids))
	for _, id := range ids {
		h, hit := c.holds[id]
		if !hit {
			return nil, false
		}
		found = append(found, h)
	}
	return found, true
}

// snapshot returns the cache's generation and head if it can be decided on.
func (c *bookCache) snapshot() (gen uint64, h head, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.head, c.valid && c.head.position > 0
}

// lookup returns the accounts r names that the cache holds, and r less
// them: what is left to read. It fails if the cache is no longer of
// generation gen.
func (c *bookCache) lookup(gen uint64, r accountRefs) (found []ledger.Account, missing accountRefs, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.gen != gen {
		return nil, missing, false
	}
	missing.book = r.book
	for _, id := range r.ids {
		if a, hit := c.accounts[id]; hit {
			found = append(found, a)
		} else {
			missing.ids = append(missing.ids, id)
		}
	}
	for _, ref := range r.others {
		if a, hit := c.accounts[c.byRef[ref]]; hit {
			found = append(found, a)
		} else {
			missing.others = append(missing.others, ref)
		}
	}
	for i, name := range r.names {
		if a, hit := c.accounts[c.byRef[r.systemKey(i)]]; hit {
			found = append(found, a)
		} else {
			missing.books = append(missing.books, r.books[i])
			missing.currencies = append(missing.currencies, r.currencies[i])
			missing.names = append(missing.names, name)
		}
	}
	return found, missing, true
}

// systemKey is the systemKey of r's i-th system account.
func (r accountRefs) systemKey(i int) string {
	return systemKey(ledger.SystemRef{Book: r.books[i], Currency: ledger.Currency(r.currencies[i]), Name: r.names[i]})
}

// empty reports whether r names no account.
func (r accountRefs) empty() bool { return len(r.ids)+len(r.others)+len(r.names) == 0 }

// advance records a decided batch's outcome on top of generation gen: its
// new head and its accounts as they now stand. It reports false, changing
// nothing, if the cache has since been emptied or reset.
func (c *bookCache) advance(gen uint64, h head, accounts []ledger.Account, holds []ledger.Hold, deposits []ledger.Deposit, records []record) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.gen != gen {
		return false
	}
	c.head = h
	c.put(accounts, holds, deposits)
	c.putRecords(records)
	if c.full() {
		c.invalidateLocked()
	}
	return true
}

// reset makes the cache what a batch that read its book under the lock
// saw, plus that batch's outcome. If the cache was valid and the batch read
// exactly the head the cache expected, no one else has written the book
// since, and what the cache held stays; otherwise it starts again.
func (c *bookCache) reset(read, after head, accounts []ledger.Account, holds []ledger.Hold, deposits []ledger.Deposit, records []record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := c.valid && c.head.position == read.position && c.head.hash == read.hash && !c.full()
	if !keep {
		c.empty()
	}
	c.gen++
	c.valid = true
	c.head = after
	c.put(accounts, holds, deposits)
	c.putRecords(records)
}

// full says the cache has grown past its bound.
func (c *bookCache) full() bool {
	return len(c.accounts) > maxCachedAccounts || len(c.holds) > maxCachedAccounts || len(c.deposits) > maxCachedAccounts
}

func (c *bookCache) empty() {
	c.accounts, c.byRef, c.holds, c.deposits, c.depositKeys = nil, nil, nil, nil, nil
	c.records, c.recordOrder, c.nextRecord = nil, nil, 0
}

// invalidate empties the cache: something it assumed may be false.
func (c *bookCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidateLocked()
}

func (c *bookCache) invalidateLocked() {
	c.gen++
	c.valid = false
	c.empty()
}

// putRecords keeps the records of requests decided in one step, evicting
// the oldest past maxCachedRecords. An in-progress record is not an
// answer, and the answer that finishes a two-step request (a deposit, a
// refund, a withdrawal) may be rewritten later, outside any batch
// (EraseDestination): a retry of one is answered from the database.
func (c *bookCache) putRecords(records []record) {
	for _, r := range records {
		if r.Response.Status == InProgress || r.finishes {
			continue
		}
		if c.records == nil {
			c.records = map[scopedKey]record{}
		}
		k := scopedKey{r.Scope, r.Key}
		if _, hit := c.records[k]; !hit {
			if len(c.recordOrder) < maxCachedRecords {
				c.recordOrder = append(c.recordOrder, k)
			} else {
				delete(c.records, c.recordOrder[c.nextRecord])
				c.recordOrder[c.nextRecord] = k
				c.nextRecord = (c.nextRecord + 1) % maxCachedRecords
			}
		}
		c.records[k] = r
	}
}

func (c *bookCache) put(accounts []ledger.Account, holds []ledger.Hold, deposits []ledger.Deposit) {
	if c.accounts == nil {
		c.accounts, c.byRef, c.holds = map[string]ledger.Account{}, map[string]string{}, map[string]ledger.Hold{}
		c.deposits, c.depositKeys = map[string]ledger.Deposit{}, map[string]string{}
	}
	for _, h := range holds {
		c.holds[h.ID] = h
	}
	for _, d := range deposits {
		c.deposits[d.ID] = d
		if d.Reference != "" {
			c.depositKeys[depositKey(d.Reference, "", "")] = d.ID
		}
		if d.GatewayReference != "" {
			c.depositKeys[depositKey("", d.Gateway, d.GatewayReference)] = d.ID
		}
	}
	for _, a := range accounts {
		c.accounts[a.ID] = a
		if a.WalletNumber != "" {
			c.byRef[a.WalletNumber] = a.ID
		}
		if a.Kind == ledger.KindSystem {
			c.byRef[accountSystemKey(a)] = a.ID
		}
	}
}
