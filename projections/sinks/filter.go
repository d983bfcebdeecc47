package sinks

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/tallyledger/tally/ledger"
)

// eventName is an event type: dot-separated lower-case words.
var eventName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// checkFilters validates a subscription's event filters: "*" (every event),
// "prefix.*" (every type that starts with "prefix.") or an exact type. Types
// are not checked against a list, so a subscription may name types that a
// later version of Tally adds.
func checkFilters(filters []string) error {
	if len(filters) == 0 {
		return ledger.Errorf(ledger.EInvalidRequest, `events must list at least one event type, "prefix.*" or "*"`).WithField("events")
	}
	if len(filters) > 100 {
		return ledger.Errorf(ledger.EInvalidRequest, "events may list at most 100 filters").WithField("events")
	}
	for _, f := range filters {
		name := strings.TrimSuffix(f, ".*")
		if f != "*" && !eventName.MatchString(name) {
			return ledger.Errorf(ledger.EInvalidRequest, `%q is not an event filter: use an event type such as "deposit.succeeded", "deposit.*" or "*"`, f).WithField("events")
		}
	}
	return nil
}

// matchesType reports whether an event type passes a subscription's filters.
func matchesType(filters []string, typ ledger.EventType) bool {
	t := string(typ)
	for _, f := range filters {
		switch {
		case f == "*" || f == t:
			return true
		case strings.HasSuffix(f, ".*") && strings.HasPrefix(t, f[:len(f)-1]):
			return true
		}
	}
	return false
}

// accountsOf lists the accounts an event concerns: those it posts to and
// those its data names (any string value that is an account id, such as
// "account_id", "from" or "to"). An owner-bound subscription receives the
// events that concern one of the owner's accounts, so a client learns of
// its deposit.failed or account.frozen as well as of money that moved.
func accountsOf(e ledger.Event) []string {
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, p := range e.Postings {
		add(p.Account)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, ledger.PrefixAccount+"_") {
				add(v)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var data any
	if json.Unmarshal(e.Data, &data) == nil {
		walk(data)
	}
	return out
}
