package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
	"github.com/tallyledger/tally/schema/testdb"
)

func TestKeysCommand(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	keys := pgjournal.NewKeys(pool)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runKeys(ctx, keys, args, &out)
		return out.String(), err
	}

	out, err := run("create", "--name", "mobile", "--scopes", "transfers:write, accounts:read", "--owner", "u1", "--expires-in", "720h")
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(`(?m)^key:\s+(\S+)$`).FindStringSubmatch(out)
	id := regexp.MustCompile(`(?m)^id:\s+(key_\S+)$`).FindStringSubmatch(out)
	if secret == nil || id == nil || !ledger.LooksLikeAPIKey(secret[1]) || !strings.Contains(out, "accounts:read,transfers:write") {
		t.Fatalf("create printed:\n%s", out)
	}
	if _, err := keys.Authenticate(ctx, ledger.HashAPIKey(secret[1])); err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}

	list, err := run("list")
	if err != nil || !strings.Contains(list, id[1]) || strings.Contains(list, secret[1]) || !strings.Contains(list, "active") {
		t.Fatalf("list (%v):\n%s", err, list)
	}
	if out, err := run("revoke", id[1]); err != nil || !strings.Contains(out, "revoked "+id[1]) {
		t.Fatalf("revoke (%v): %s", err, out)
	}
	if _, err := keys.Authenticate(ctx, ledger.HashAPIKey(secret[1])); ledger.ErrorCode(err) != ledger.EUnauthenticated {
		t.Fatalf("a revoked key authenticates: %v", err)
	}
	if list, _ := run("list", "--owner", "u1"); !strings.Contains(list, "revoked") {
		t.Fatalf("list after revoke:\n%s", list)
	}

	refused := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"create needs a name", []string{"create", "--scopes", "admin"}, false, "name is required"},
		{"create refuses unknown scopes", []string{"create", "--name", "n", "--scopes", "root"}, false, "unknown scope"},
		{"create refuses admin for an owner", []string{"create", "--name", "n", "--scopes", "admin", "--owner", "o"}, false, "cannot hold admin"},
		{"create refuses unknown flags", []string{"create", "--name", "n", "--scope", "admin"}, true, "scope"},
		{"revoke needs an id", []string{"revoke"}, true, "takes 1"},
		{"revoke refuses what is not a key id", []string{"revoke", "acc_1"}, false, "not a key id"},
		{"revoke of an unknown key fails", []string{"revoke", ledger.NewID(ledger.PrefixKey)}, false, "not found"},
		{"unknown subcommands are refused", []string{"delete"}, true, "unknown keys command"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(c.args...)
			if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
