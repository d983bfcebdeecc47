package main

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
)

// chartSeries is one line of a chart panel.
type chartSeries struct {
	Name   string
	Color  string
	Dashed bool
	Points map[int]float64 // clients → value
}

// chartPanel is one plot: a y quantity against the number of clients.
type chartPanel struct {
	Title  string
	YLabel string
	Series []chartSeries
}

// Chart geometry, in SVG user units.
const (
	panelW, panelH = 460.0, 320.0
	padL, padR     = 70.0, 20.0
	padT, padB     = 40.0, 50.0
	legendH        = 22.0
)

var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#7f7f7f", "#9467bd", "#ff7f0e"}

// renderChart draws the panels side by side as one self-contained SVG. The
// x axis is logarithmic in the number of clients, since sweeps double.
func renderChart(title string, panels []chartPanel) []byte {
	var b strings.Builder
	width := panelW * float64(len(panels))
	nSeries := 0
	for _, p := range panels {
		nSeries = max(nSeries, len(p.Series))
	}
	height := 30 + panelH + legendH*float64(nSeries)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", width/2, html.EscapeString(title))
	for i, p := range panels {
		drawPanel(&b, p, float64(i)*panelW, 30)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func drawPanel(b *strings.Builder, p chartPanel, ox, oy float64) {
	var xs []int
	seen := map[int]bool{}
	ymax := 0.0
	for _, s := range p.Series {
		for x, y := range s.Points {
			if !seen[x] {
				seen[x] = true
				xs = append(xs, x)
			}
			ymax = math.Max(ymax, y)
		}
	}
	sort.Ints(xs)
	if len(xs) == 0 {
		return
	}
	step := niceStep(ymax / 5)
	top := math.Max(step, math.Ceil(ymax*1.05/step)*step)
	x0, x1 := ox+padL, ox+panelW-padR
	y0, y1 := oy+panelH-padB, oy+padT
	lx := func(c int) float64 {
		lo, hi := math.Log2(float64(xs[0])), math.Log2(float64(xs[len(xs)-1]))
		if hi == lo {
			return (x0 + x1) / 2
		}
		return x0 + (math.Log2(float64(c))-lo)/(hi-lo)*(x1-x0)
	}
	ly := func(v float64) float64 { return y0 - v/top*(y0-y1) }

	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="13" font-weight="bold">%s</text>`+"\n", (x0+x1)/2, oy+20, html.EscapeString(p.Title))
	for v := 0.0; v <= top+step/2; v += step {
		y := ly(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, formatTick(v))
	}
	for _, c := range xs {
		x := lx(c)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x, y0, x, y1)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x, y0+16, c)
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x1, y0)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0, y1)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">concurrent clients</text>`+"\n", (x0+x1)/2, y0+36)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", ox+16, (y0+y1)/2, html.EscapeString(p.YLabel))

	for i, s := range p.Series {
		color := s.Color
		if color == "" {
			color = chartColors[i%len(chartColors)]
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, c := range xs {
			if v, ok := s.Points[c]; ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", lx(c), ly(v)))
			}
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
		for _, pt := range pts {
			xy := strings.Split(pt, ",")
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], color)
		}
		ly := oy + panelH + float64(i)*legendH
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", x0, ly, x0+24, ly, color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x0+30, ly+4, html.EscapeString(s.Name))
	}
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
