package httpapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// newKey creates an API key through the API and returns its response.
func (h *harness) newKey(owner string, scopes ...string) map[string]any {
	h.t.Helper()
	req := map[string]any{"name": "test key", "scopes": scopes}
	if owner != "" {
		req["owner"] = owner
	}
	return h.must(h.do("POST", "/v1/keys", req), 201).json(h.t)
}

// key creates an API key and returns its secret.
func (h *harness) key(owner string, scopes ...string) string {
	h.t.Helper()
	return h.newKey(owner, scopes...)["key"].(string)
}

// as is the Authorization header for key, followed by more header pairs.
func as(key string, more ...string) []string {
	return append([]string{"Authorization", "Bearer " + key}, more...)
}

// concretePath fills a route's parameters with a placeholder id.
func concretePath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

// authenticatedRoutes are the routes that need a key, with the scope each needs.
func (h *harness) authenticatedRoutes() map[string]Scope {
	if len(h.api.routeScopes) < 10 {
		h.t.Fatalf("only %d authenticated routes registered", len(h.api.routeScopes))
	}
	return h.api.routeScopes
}

func TestEveryRouteRefusesMissingOrUnknownKeys(t *testing.T) {
	h := newHarness(t)
	revoked := h.newKey("", "accounts:read")
	h.must(h.do("DELETE", "/v1/keys/"+revoked["id"].(string), nil), 204)
	unknown, _ := ledger.NewAPIKeySecret()
	credentials := []struct {
		name   string
		header []string
	}{
		{"no Authorization header", []string{"Authorization", ""}},
		{"not a bearer token", []string{"Authorization", "Basic " + adminKey}},
		{"an empty bearer token", []string{"Authorization", "Bearer "}},
		{"a token that is not a Tally key", as("sk_live_not-a-tally-key")},
		{"a well-formed key that does not exist", as(unknown)},
		{"a revoked key", as(revoked["key"].(string))},
	}
	for route := range h.authenticatedRoutes() {
		method, path, _ := strings.Cut(route, " ")
		for _, cred := range credentials {
			t.Run(route+": "+cred.name+" is 401", func(t *testing.T) {
				r := h.do(method, concretePath(path), nil, cred.header...)
				if r.status != 401 || r.str(t, "code") != "unauthenticated" {
					t.Fatalf("%d %s", r.status, r.body)
				}
			})
		}
	}
}

func TestEveryRouteNeedsItsScope(t *testing.T) {
	h := newHarness(t)
	byScope := map[Scope][]string{}
	for route, scope := range h.authenticatedRoutes() {
		byScope[scope] = append(byScope[scope], route)
	}
	for scope, routes := range byScope {
		if scope == "" {
			continue // POST /v1/batch checks each item's scope: see TestBatchItemsNeedTheirScopes
		}
		var others []string
		for _, s := range allScopes {
			if s != scope && s != ScopeAdmin {
				others = append(others, string(s))
			}
		}
		without := h.newKey("", others...)
		with := h.newKey("", string(scope))
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			t.Run(route+" without "+string(scope)+" is 403", func(t *testing.T) {
				r := h.do(method, concretePath(path), nil, as(without["key"].(string))...)
				if r.status != 403 || r.str(t, "code") != "forbidden" {
					t.Fatalf("%d %s", r.status, r.body)
				}
			})
			t.Run(route+" with "+string(scope)+" passes authorization", func(t *testing.T) {
				r := h.do(method, concretePath(path), nil, as(with["key"].(string))...)
				if r.status == 401 || r.status == 403 {
					t.Fatalf("%d %s", r.status, r.body)
				}
			})
		}
		// Keys without an owner share a limit of five: make room for the next scope.
		h.must(h.do("DELETE", "/v1/keys/"+without["id"].(string), nil), 204)
		h.must(h.do("DELETE", "/v1/keys/"+with["id"].(string), nil), 204)
	}
}

func TestOwnerIsolation(t *testing.T) {
	h := newHarness(t)
	alice := h.key("alice", "accounts:read", "accounts:write", "transfers:write")
	bobKey := h.key("bob", "accounts:read")
	a := h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN"}, as(alice)...), 201).json(t)
	if a["owner"] != "alice" {
		t.Fatalf("an account opened by alice's key belongs to %v", a["owner"])
	}
	aliceAcc, aliceWallet := a["id"].(string), a["wallet_number"].(string)
	bob, carol := h.open("bob", "NGN"), h.open("carol", "NGN")
	bobWallet := h.must(h.do("GET", "/v1/accounts/"+bob, nil), 200).str(t, "wallet_number")
	h.fund(aliceAcc, "100", "NGN")
	h.fund(bob, "100", "NGN")
	transfer := func(from, to string, key ...string) string {
		t.Helper()
		return h.must(h.do("POST", "/v1/transfers", map[string]any{"from": from, "to": to, "amount": "1", "currency": "NGN"},
			append(key, "Idempotency-Key", ledger.NewID("k"))...), 201).str(t, "id")
	}
	bobToCarol := transfer(bob, carol)
	bobToAlice := transfer(bob, aliceAcc)
	aliceToBob := transfer(aliceAcc, bob, as(alice)...)

	events := h.eventCount()
	hidden := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"another owner's account is not found", "GET", "/v1/accounts/" + bob, nil, 404, "not_found"},
		{"another owner's account by wallet number is not found", "GET", "/v1/accounts/" + bobWallet, nil, 404, "not_found"},
		{"another owner's balance is not found", "GET", "/v1/accounts/" + bob + "/balance", nil, 404, "not_found"},
		{"another owner's past balance is not found", "GET", "/v1/accounts/" + bob + "/balance?position=1", nil, 404, "not_found"},
		{"another owner's balance at a time is not found", "GET", "/v1/accounts/" + bob + "/balance?at=2030-01-01T00:00:00Z", nil, 404, "not_found"},
		{"another owner's entries are not found", "GET", "/v1/accounts/" + bob + "/entries", nil, 404, "not_found"},
		{"another owner's transfers list is not found", "GET", "/v1/transfers?account=" + bob, nil, 404, "not_found"},
		{"a transfer between other owners is not found", "GET", "/v1/transfers/" + bobToCarol, nil, 404, "not_found"},
		{"sending from another owner's account is not found", "POST", "/v1/transfers", map[string]any{"from": bob, "to": aliceAcc, "amount": "1", "currency": "NGN"}, 404, "not_found"},
		{"sending from another owner's wallet number is not found", "POST", "/v1/transfers", map[string]any{"from": bobWallet, "to": carol, "amount": "1", "currency": "NGN"}, 404, "not_found"},
		{"sending from an unknown account is not found", "POST", "/v1/transfers", map[string]any{"from": "acc_01J00000000000000000000000", "to": carol, "amount": "1", "currency": "NGN"}, 404, "not_found"},
		{"opening an account for another owner is forbidden", "POST", "/v1/accounts", map[string]any{"owner": "bob", "currency": "NGN"}, 403, "forbidden"},
		{"freezing needs admin", "POST", "/v1/accounts/" + bob + "/freeze", nil, 403, "forbidden"},
		{"closing needs admin", "POST", "/v1/accounts/" + aliceAcc + "/close", nil, 403, "forbidden"},
		{"adjustments need admin", "POST", "/v1/adjustments", map[string]any{"account": aliceAcc, "direction": "credit", "amount": "1", "currency": "NGN", "reason": "x"}, 403, "forbidden"},
		{"the journal needs events:read", "GET", "/v1/events", nil, 403, "forbidden"},
		{"keys need admin", "GET", "/v1/keys", nil, 403, "forbidden"},
	}
	for _, c := range hidden {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, c.body, as(alice, "Idempotency-Key", ledger.NewID("k"))...)
			if r.status != c.status || r.str(t, "code") != c.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if strings.Contains(string(r.body), "bob") {
				t.Fatalf("the answer mentions the other owner: %s", r.body)
			}
		})
	}
	if n, b := h.eventCount(), h.balance(bob); n != events || b != "99.00" {
		t.Fatalf("refused requests left %d events (want %d) and bob with %s (want 99.00)", n, events, b)
	}

	t.Run("the own account, its balance and entries are visible", func(t *testing.T) {
		for _, path := range []string{"/v1/accounts/" + aliceAcc, "/v1/accounts/" + aliceWallet, "/v1/accounts/" + aliceAcc + "/balance", "/v1/accounts/" + aliceAcc + "/entries", "/v1/transfers?account=" + aliceAcc} {
			h.must(h.do("GET", path, nil, as(alice)...), 200)
		}
	})
	t.Run("the account list holds only the owner's accounts", func(t *testing.T) {
		ids := func(r reply) (out []string) {
			for _, d := range r.json(t)["data"].([]any) {
				out = append(out, d.(map[string]any)["id"].(string))
			}
			return out
		}
		if got := ids(h.must(h.do("GET", "/v1/accounts", nil, as(alice)...), 200)); !slices.Equal(got, []string{aliceAcc}) {
			t.Fatalf("alice lists %v", got)
		}
		if got := ids(h.must(h.do("GET", "/v1/accounts?owner=bob", nil, as(alice)...), 200)); len(got) != 0 {
			t.Fatalf("alice lists bob's accounts: %v", got)
		}
		if got := ids(h.must(h.do("GET", "/v1/accounts?owner=alice", nil, as(alice)...), 200)); !slices.Equal(got, []string{aliceAcc}) {
			t.Fatalf("alice lists %v with owner=alice", got)
		}
	})
	t.Run("transfers sent and received are visible, others are not listed", func(t *testing.T) {
		h.must(h.do("GET", "/v1/transfers/"+aliceToBob, nil, as(alice)...), 200)
		h.must(h.do("GET", "/v1/transfers/"+bobToAlice, nil, as(alice)...), 200)
		h.must(h.do("GET", "/v1/transfers/"+aliceToBob, nil, as(bobKey)...), 200)
		var got []string
		for _, d := range h.must(h.do("GET", "/v1/transfers", nil, as(alice)...), 200).json(t)["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, []string{bobToAlice, aliceToBob}) {
			t.Fatalf("alice lists transfers %v, want %v", got, []string{bobToAlice, aliceToBob})
		}
	})
	t.Run("paying into another owner's account is allowed", func(t *testing.T) {
		transfer(aliceWallet, carol, as(alice)...)
	})
	t.Run("keys of one owner share Idempotency-Keys", func(t *testing.T) {
		alice2 := h.key("alice", "transfers:write")
		body := map[string]any{"from": aliceAcc, "to": bob, "amount": "2", "currency": "NGN"}
		first := h.must(h.do("POST", "/v1/transfers", body, as(alice, "Idempotency-Key", "shared")...), 201)
		again := h.must(h.do("POST", "/v1/transfers", body, as(alice2, "Idempotency-Key", "shared")...), 201)
		if again.header.Get("Idempotent-Replayed") != "true" || string(first.body) != string(again.body) {
			t.Fatalf("the second key of the owner did not replay: %s", again.body)
		}
	})
	t.Run("a key bound to an owner cannot hold book-wide scopes", func(t *testing.T) {
		for _, scope := range []string{"admin", "events:read"} {
			r := h.must(h.do("POST", "/v1/keys", map[string]any{"name": "n", "owner": "alice", "scopes": []string{"accounts:read", scope}}), 400)
			if r.str(t, "code") != "invalid_request" {
				t.Fatalf("%s", r.body)
			}
		}
	})
	h.checkJournal("main")
}

func TestKeyLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	t.Run("a key is shown once and stored as its SHA-256", func(t *testing.T) {
		r := h.must(h.do("POST", "/v1/keys", map[string]any{"name": "mobile app", "owner": "u1", "scopes": []string{"transfers:write", "accounts:read", "accounts:read"}, "expires_in": "720h"}), 201)
		k := r.json(t)
		secret := k["key"].(string)
		if !strings.HasPrefix(secret, k["prefix"].(string)+"_") || !ledger.LooksLikeAPIKey(secret) || !ledger.HasPrefix(k["id"].(string), "key") {
			t.Fatalf("key %v", k)
		}
		if fmt.Sprint(k["scopes"]) != "[accounts:read transfers:write]" || k["owner"] != "u1" || k["name"] != "mobile app" {
			t.Fatalf("key %v", k)
		}
		expires, err := time.Parse(time.RFC3339, k["expires_at"].(string))
		if err != nil || time.Until(expires) < 719*time.Hour || time.Until(expires) > 721*time.Hour {
			t.Fatalf("expires_at %v", k["expires_at"])
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatal("the secret may be cached")
		}
		var hash []byte
		var row string
		if err := h.pool.QueryRow(ctx, `SELECT secret_hash, k::text FROM api_keys k WHERE id = $1`, k["id"]).Scan(&hash, &row); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256([]byte(secret)); string(hash) != string(sum[:]) {
			t.Fatal("the stored hash is not the SHA-256 of the secret")
		}
		if strings.Contains(row, secret[len(k["prefix"].(string)):]) {
			t.Fatal("the secret is stored")
		}
		list := h.must(h.do("GET", "/v1/keys?owner=u1", nil), 200)
		if strings.Contains(string(list.body), secret) || !strings.Contains(string(list.body), k["prefix"].(string)) {
			t.Fatalf("the list shows the secret or lacks the prefix: %s", list.body)
		}
	})

	t.Run("revocation is in force at once", func(t *testing.T) {
		k := h.newKey("u2", "accounts:read")
		h.must(h.do("GET", "/v1/accounts", nil, as(k["key"].(string))...), 200)
		h.must(h.do("DELETE", "/v1/keys/"+k["id"].(string), nil), 204)
		r := h.must(h.do("GET", "/v1/accounts", nil, as(k["key"].(string))...), 401)
		if !strings.Contains(r.str(t, "detail"), "revoked") {
			t.Fatalf("%s", r.body)
		}
		h.must(h.do("DELETE", "/v1/keys/"+k["id"].(string), nil), 204)
		listed := h.must(h.do("GET", "/v1/keys?owner=u2", nil), 200).json(t)["data"].([]any)[0].(map[string]any)
		if listed["status"] != "revoked" || listed["revoked_at"] == nil {
			t.Fatalf("listed %v", listed)
		}
	})

	t.Run("unknown keys are not found", func(t *testing.T) {
		for _, path := range []string{"/v1/keys/" + ledger.NewID("key"), "/v1/keys/nope"} {
			h.must(h.do("DELETE", path, nil), 404)
			h.must(h.do("POST", path+"/rotate", nil), 404)
		}
	})

	t.Run("rotation replaces the secret at once and keeps scopes, owner and lifetime", func(t *testing.T) {
		old := h.must(h.do("POST", "/v1/keys", map[string]any{"name": "server", "owner": "u3", "scopes": []string{"accounts:read"}, "expires_in": "24h"}), 201).json(t)
		next := h.must(h.do("POST", "/v1/keys/"+old["id"].(string)+"/rotate", nil), 201).json(t)
		if next["id"] == old["id"] || next["key"] == old["key"] || fmt.Sprint(next["scopes"]) != fmt.Sprint(old["scopes"]) || next["owner"] != "u3" || next["name"] != "server" {
			t.Fatalf("rotated %v into %v", old, next)
		}
		if e, _ := time.Parse(time.RFC3339, next["expires_at"].(string)); time.Until(e) < 23*time.Hour {
			t.Fatalf("the new key expires at %v", next["expires_at"])
		}
		h.must(h.do("GET", "/v1/accounts", nil, as(old["key"].(string))...), 401)
		h.must(h.do("GET", "/v1/accounts", nil, as(next["key"].(string))...), 200)
		h.must(h.do("POST", "/v1/keys/"+old["id"].(string)+"/rotate", nil), 404)
		for _, d := range h.must(h.do("GET", "/v1/keys?owner=u3", nil), 200).json(t)["data"].([]any) {
			k := d.(map[string]any)
			if k["id"] == old["id"] && (k["status"] != "revoked" || k["replaced_by"] != next["id"]) {
				t.Fatalf("the old key is listed as %v", k)
			}
		}
	})

	t.Run("retries through a rotated key replay", func(t *testing.T) {
		for _, owner := range []string{"", "u8"} {
			a := h.open(ledger.NewID("o"), "NGN")
			h.fund(a, "5", "NGN")
			old := h.newKey(owner, "transfers:write", "accounts:write")
			if owner != "" {
				a = h.must(h.do("POST", "/v1/accounts", map[string]any{"currency": "NGN"}, as(old["key"].(string))...), 201).str(t, "id")
				h.fund(a, "5", "NGN")
			}
			body := map[string]any{"from": a, "to": h.open("x", "NGN"), "amount": "1", "currency": "NGN"}
			first := h.must(h.do("POST", "/v1/transfers", body, as(old["key"].(string), "Idempotency-Key", "across-rotation")...), 201)
			next := h.must(h.do("POST", "/v1/keys/"+old["id"].(string)+"/rotate", nil), 201).json(t)
			again := h.must(h.do("POST", "/v1/transfers", body, as(next["key"].(string), "Idempotency-Key", "across-rotation")...), 201)
			if again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
				t.Fatalf("owner %q: the retry through the rotated key did not replay: %s", owner, again.body)
			}
		}
	})

	t.Run("an expired key is refused and no longer counts", func(t *testing.T) {
		k := h.newKey("u4", "accounts:read")
		if _, err := h.pool.Exec(ctx, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, k["id"]); err != nil {
			t.Fatal(err)
		}
		r := h.must(h.do("GET", "/v1/accounts", nil, as(k["key"].(string))...), 401)
		if !strings.Contains(r.str(t, "detail"), "expired") {
			t.Fatalf("%s", r.body)
		}
		for range ledger.MaxActiveKeys {
			h.newKey("u4", "accounts:read")
		}
	})

	t.Run("the sixth active key of an owner is refused", func(t *testing.T) {
		var ids []string
		for range ledger.MaxActiveKeys {
			ids = append(ids, h.newKey("u5", "accounts:read")["id"].(string))
		}
		r := h.must(h.do("POST", "/v1/keys", map[string]any{"name": "sixth", "owner": "u5", "scopes": []string{"accounts:read"}}), 422)
		if r.str(t, "code") != "key_limit_reached" {
			t.Fatalf("%s", r.body)
		}
		// Rotating at the limit swaps one active key for another.
		h.must(h.do("POST", "/v1/keys/"+ids[0]+"/rotate", nil), 201)
		h.must(h.do("DELETE", "/v1/keys/"+ids[1], nil), 204)
		h.newKey("u5", "accounts:read")
		// Another owner has a limit of its own.
		h.newKey("u6", "accounts:read")
	})

	t.Run("concurrent creations cannot pass the limit", func(t *testing.T) {
		var created atomic.Int32
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.do("POST", "/v1/keys", map[string]any{"name": "race", "owner": "u7", "scopes": []string{"accounts:read"}})
				switch r.status {
				case 201:
					created.Add(1)
				case 422:
				default:
					t.Errorf("%d %s", r.status, r.body)
				}
			}()
		}
		wg.Wait()
		if created.Load() != ledger.MaxActiveKeys {
			t.Fatalf("%d keys created, want %d", created.Load(), ledger.MaxActiveKeys)
		}
	})
}

func TestKeyRequestsAreChecked(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name  string
		body  string
		field string
	}{
		{"a name is required", `{"scopes":["accounts:read"]}`, "name"},
		{"scopes are required", `{"name":"n"}`, "scopes"},
		{"scopes may not be empty", `{"name":"n","scopes":[]}`, "scopes"},
		{"unknown scopes are refused", `{"name":"n","scopes":["accounts:delete"]}`, "scopes"},
		{"an owner-bound key cannot be admin", `{"name":"n","owner":"o","scopes":["admin"]}`, "scopes"},
		{"an owner-bound key cannot read the journal", `{"name":"n","owner":"o","scopes":["events:read"]}`, "scopes"},
		{"expires_in must be a duration", `{"name":"n","scopes":["admin"],"expires_in":"tomorrow"}`, "expires_in"},
		{"expires_in must be positive", `{"name":"n","scopes":["admin"],"expires_in":"-1h"}`, "expires_in"},
		{"expires_in is at most ten years", `{"name":"n","scopes":["admin"],"expires_in":"100000h"}`, "expires_in"},
		{"a long name is refused", `{"name":"` + strings.Repeat("n", 101) + `","scopes":["admin"]}`, "name"},
		{"unknown fields are refused", `{"name":"n","scopes":["admin"],"role":"root"}`, "role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.must(h.do("POST", "/v1/keys", c.body), 400)
			j := r.json(t)
			errs, _ := j["errors"].([]any)
			if j["code"] != "invalid_request" || len(errs) == 0 || errs[0].(map[string]any)["field"] != c.field {
				t.Fatalf("%s", r.body)
			}
		})
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys stored (%v)", n, err)
	}
}

// A key cannot be checked while the database is down: that is 503, which
// clients retry, not 401, which tells them their key is bad.
func TestKeysWhileTheDatabaseIsDown(t *testing.T) {
	down, err := pgxpool.New(context.Background(), "postgres://tally@127.0.0.1:1/tally?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	h := newHarness(t, func(c *Config) { c.Keys = pgjournal.NewKeys(down) })
	key, _ := ledger.NewAPIKeySecret()
	r := h.must(h.do("GET", "/v1/accounts", nil, as(key)...), 503)
	if r.str(t, "code") != "unavailable" {
		t.Fatalf("%s", r.body)
	}
	// The bootstrap key needs no lookup.
	h.must(h.do("GET", "/v1/accounts", nil), 200)
}
