package projections_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tallyledger/tally/projections"
)

// docs/audit.md names every projection `tally rebuild` takes, and only those.
func TestAuditDocNamesEveryProjection(t *testing.T) {
	doc, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\(names: ([a-z_, ]+)\)`).FindSubmatch(doc)
	if m == nil {
		t.Fatal(`docs/audit.md no longer lists the projections as "(names: …)"`)
	}
	documented := strings.Split(string(m[1]), ", ")
	set := projections.Default(nil)
	var names []string
	for _, p := range append(set.Inline(), set.Async()...) {
		names = append(names, p.Name())
	}
	slices.Sort(documented)
	slices.Sort(names)
	if !slices.Equal(documented, names) {
		t.Fatalf("docs/audit.md names %v; the projections are %v", documented, names)
	}
}
