package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/tallyledger/tally/ledger"
	"github.com/tallyledger/tally/ledger/pgjournal"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartW, chartH = 600.0, 160.0
	chartPad       = 4.0
)

// balanceChart draws the running balance after each entry as a step line,
// server-side, as inline SVG. Amounts become float64 only to place points on
// the drawing; every figure the page states is the exact decimal string.
func balanceChart(entries []pgjournal.Entry) template.HTML {
	if len(entries) == 0 {
		return ""
	}
	values := make([]float64, len(entries))
	lo, hi := 0.0, 0.0
	for i, e := range entries {
		v, _ := strconv.ParseFloat(e.BalanceAfter.String(), 64)
		values[i] = v
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo {
		hi = lo + 1
	}
	x := func(i int) float64 {
		if len(values) == 1 {
			return chartW - chartPad
		}
		return chartPad + float64(i)*(chartW-2*chartPad)/float64(len(values)-1)
	}
	y := func(v float64) float64 { return chartPad + (hi-v)*(chartH-2*chartPad)/(hi-lo) }
	var pts strings.Builder
	prev := y(0)
	fmt.Fprintf(&pts, "%.1f,%.1f", chartPad, prev)
	for i, v := range values {
		fmt.Fprintf(&pts, " %.1f,%.1f %.1f,%.1f", x(i), prev, x(i), y(v))
		prev = y(v)
	}
	first, last := entries[0], entries[len(entries)-1]
	label := fmt.Sprintf("Balance after each of %d entries, from %s at position %d to %s at position %d; lowest %s, highest %s.",
		len(entries), first.BalanceAfter, first.Position, last.BalanceAfter, last.Position,
		minMoney(entries), maxMoney(entries))
	svg := fmt.Sprintf(`<svg class="chart" viewBox="0 0 %g %g" preserveAspectRatio="none" role="img" aria-label="%s">`+
		`<line class="zero" x1="0" x2="%g" y1="%.1f" y2="%.1f"/><polyline points="%s"/></svg>`,
		chartW, chartH, template.HTMLEscapeString(label), chartW, y(0), y(0), pts.String())
	return template.HTML(svg) // built from numbers and an escaped label only
}

func minMoney(es []pgjournal.Entry) ledger.Money {
	m := es[0].BalanceAfter
	for _, e := range es[1:] {
		if e.BalanceAfter.Cmp(m) < 0 {
			m = e.BalanceAfter
		}
	}
	return m
}

func maxMoney(es []pgjournal.Entry) ledger.Money {
	m := es[0].BalanceAfter
	for _, e := range es[1:] {
		if e.BalanceAfter.Cmp(m) > 0 {
			m = e.BalanceAfter
		}
	}
	return m
}

func decodeData(raw json.RawMessage) (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(raw, &m)
	return m, err
}
