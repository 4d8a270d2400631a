package svgchart

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Chart is one panel's data.
type Chart struct {
	// Title heads the panel.
	Title string
	// Unit formats the y axis: "s" (seconds, shown as ms below 1 s), "%"
	// (the values are fractions), "/s", "B" (bytes, shown in KiB, MiB,
	// GiB) or "" (plain numbers).
	Unit string
	// Series are the lines, named in the legend.
	Series []Series
}

// Series is one line of a chart: Prometheus samples, as a range query
// returns them.
type Series struct {
	Name   string
	Points []model.SamplePair
}

// palette is Grafana's classic series colours.
var palette = []string{"#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300"}

const (
	panelW, panelH = 420, 230
	cols           = 3
	plotL, plotT   = 52, 34
	plotW, plotH   = panelW - plotL - 14, 130
)

// Render draws the charts as a grid of panels on a dark background, like
// Grafana's default theme, over the time range [from, to], under title.
func Render(title string, charts []Chart, from, to time.Time) string {
	rows := (len(charts) + cols - 1) / cols
	w, h := cols*panelW+(cols+1)*8, rows*panelH+(rows+1)*8+28
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="Helvetica,Arial,sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#111217"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="8" y="19" fill="#ccccdc" font-size="14">%s</text>`+"\n", html.EscapeString(title))
	for i, c := range charts {
		x, y := 8+(i%cols)*(panelW+8), 28+8+(i/cols)*(panelH+8)
		panel(&b, c, x, y, from, to)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func panel(b *strings.Builder, c Chart, x, y int, from, to time.Time) {
	fmt.Fprintf(b, `<g transform="translate(%d,%d)">`+"\n", x, y)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#181b1f" stroke="#2c3235"/>`+"\n", panelW, panelH)
	fmt.Fprintf(b, `<text x="8" y="18" fill="#ccccdc" font-size="12" font-weight="bold">%s</text>`+"\n", html.EscapeString(c.Title))
	scale := 1.0
	if c.Unit == "%" {
		scale = 100
	}
	maxV := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if v := float64(p.Value) * scale; !math.IsNaN(v) && !math.IsInf(v, 0) {
				maxV = math.Max(maxV, v)
			}
		}
	}
	top := niceCeil(maxV)
	// Grid and y labels.
	for i := 0; i <= 4; i++ {
		gy := plotT + plotH - plotH*i/4
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#2c3235"/>`+"\n", plotL, gy, plotL+plotW, gy)
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#8e8e8e" text-anchor="end">%s</text>`+"\n", plotL-4, gy+4, format(top*float64(i)/4, c.Unit))
	}
	span := to.Sub(from).Seconds()
	for i, sec := range []float64{0, span / 2, span} {
		gx := plotL + int(float64(plotW)*sec/span)
		anchor := []string{"start", "middle", "end"}[i]
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#8e8e8e" text-anchor="%s">%s</text>`+"\n", gx, plotT+plotH+14, anchor, from.Add(time.Duration(sec*float64(time.Second))).UTC().Format("15:04:05"))
	}
	if len(c.Series) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#8e8e8e" text-anchor="middle">No data</text>`+"\n", plotL+plotW/2, plotT+plotH/2)
	}
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			v := float64(p.Value) * scale
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			px := float64(plotL) + float64(plotW)*p.Timestamp.Time().Sub(from).Seconds()/span
			py := float64(plotT+plotH) - float64(plotH)*v/top
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		lx, ly := 8+(i%3)*136, plotT+plotH+30+(i/3)*14
		name := s.Name
		if name == "" {
			name = "value"
		}
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d" fill="#ccccdc">%s</text>`+"\n", lx, ly-4, color, lx+14, ly, html.EscapeString(trim(name, 20)))
	}
	b.WriteString("</g>\n")
}

// trim shortens s to n runes, ending with an ellipsis.
func trim(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func format(v float64, unit string) string {
	switch unit {
	case "s":
		if v < 1 && v > 0 {
			return fmt.Sprintf("%.0fms", v*1000)
		}
		return fmt.Sprintf("%gs", v)
	case "%":
		return fmt.Sprintf("%g%%", v)
	case "/s":
		return fmt.Sprintf("%g/s", v)
	case "B":
		for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
			if v < 1024 || u == "GiB" {
				return fmt.Sprintf("%g %s", math.Round(v*10)/10, u)
			}
			v /= 1024
		}
	}
	return fmt.Sprintf("%.4g", v)
}
