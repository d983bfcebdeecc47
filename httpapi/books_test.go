package httpapi

import "testing"

// Opening an account in a book that does not exist yet creates the book,
// which costs the server work for as long as it runs: it needs admin. Keys
// without admin may open accounts in books that exist.
func TestOnlyAdminKeysCreateBooks(t *testing.T) {
	h := newHarness(t)
	owner := h.key("alice", "accounts:write", "accounts:read")
	service := h.key("", "accounts:write", "accounts:read")
	open := func(key, book string) reply {
		return h.do("POST", "/v1/accounts", map[string]any{"owner": "alice", "currency": "NGN", "book": book}, as(key)...)
	}
	before := h.eventCount()
	for _, c := range []struct{ name, key string }{
		{"an owner-bound key may not create a book", owner},
		{"a key without an owner but without admin may not create a book", service},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := open(c.key, "shop-eu")
			if r.status != 403 || r.str(t, "code") != "forbidden" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if h.eventCount() != before {
		t.Fatal("a refused book creation changed the journal")
	}
	t.Run("the admin key creates a book", func(t *testing.T) {
		h.must(open(adminKey, "shop-eu"), 201)
	})
	t.Run("then other keys may open accounts in it", func(t *testing.T) {
		if got := h.must(open(owner, "shop-eu"), 201).str(t, "book"); got != "shop-eu" {
			t.Fatalf("book %q", got)
		}
		h.must(open(service, "shop-eu"), 201)
	})
	t.Run("the default book always exists", func(t *testing.T) {
		h.must(open(owner, "main"), 201)
		h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN"}, as(owner)...), 201)
	})
}
