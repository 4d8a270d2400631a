package simulate

import (
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteCSV writes the runs' curves, one row per run and arrived-demand
// level: policy, workload, trace, seed, tune, tie_break, arrived_pct,
// gpu_alloc_pct.
// It is the table the paper's plots are drawn from, so other tools can
// compare runs without re-running them.
func WriteCSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"policy", "workload", "trace", "seed", "tune", "tie_break", "arrived_pct", "gpu_alloc_pct"}); err != nil {
		return err
	}
	for _, r := range results {
		for _, c := range r.Curve() {
			if err := cw.Write([]string{
				r.Policy, string(r.Workload), r.Trace,
				strconv.FormatInt(r.Seed, 10), strconv.FormatFloat(r.Tune, 'f', -1, 64), string(r.TieBreak),
				strconv.Itoa(c.ArrivedPct), strconv.FormatFloat(c.AllocPct, 'f', 2, 64),
			}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// palette colours the runs' lines, distinguishable in print and for the
// common colour-vision deficiencies (Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 800, 500
	plotL, plotR   = 70, 600
	plotT, plotB   = 50, 440
)

// WriteSVG draws the runs' curves as a line chart: x is the arrived GPU
// demand and y the GPU allocation, both in percent of the capacity, one
// line per run, with the ideal (everything that arrived is allocated,
// up to the capacity) dashed for reference and a legend giving each run's
// allocation at 100% arrived demand. Both axes start 10 points below the
// lowest allocation at 100% (rounded down to 10), where the policies part:
// below, every curve is the ideal. It is plain SVG with no scripts or
// external resources, so it can be committed, diffed and viewed anywhere.
func WriteSVG(w io.Writer, title string, results []*Result) error {
	bw := bufio.NewWriter(w)
	xMax, lo := 100, 100.0
	for _, r := range results {
		xMax = max(xMax, r.MaxArrivedPct())
		if v, ok := r.AllocAt(100); ok {
			lo = min(lo, v)
		}
	}
	xMax = (xMax + 9) / 10 * 10
	xMin := max(0, int(lo)/10*10-10)
	yMin, yMax := xMin, 100
	xTick, yTick := tickStep(xMax-xMin), tickStep(yMax-yMin)
	x := func(v float64) float64 { return plotL + (v-float64(xMin))/float64(xMax-xMin)*(plotR-plotL) }
	y := func(v float64) float64 { return plotB - (v-float64(yMin))/float64(yMax-yMin)*(plotB-plotT) }

	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(bw, `<defs><clipPath id="plot"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath></defs>`+"\n", plotL, plotT, plotR-plotL, plotB-plotT)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(bw, `<text x="%d" y="25" font-size="15" font-weight="bold">%s</text>`+"\n", plotL, esc(title))

	// Grid, ticks and tick labels.
	fmt.Fprintf(bw, `<g stroke="#e5e5e5" stroke-width="1">`+"\n")
	for v := xMin; v <= xMax; v += xTick {
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", x(float64(v)), plotT, x(float64(v)), plotB)
	}
	for v := yMin; v <= yMax; v += yTick {
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", plotL, y(float64(v)), plotR, y(float64(v)))
	}
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<g stroke="black" stroke-width="1">`+"\n")
	fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d"/>`+"\n", plotL, plotB, plotR, plotB)
	fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d"/>`+"\n", plotL, plotT, plotL, plotB)
	for v := xMin; v <= xMax; v += xTick {
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", x(float64(v)), plotB, x(float64(v)), plotB+5)
	}
	for v := yMin; v <= yMax; v += yTick {
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", plotL-5, y(float64(v)), plotL, y(float64(v)))
	}
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<g text-anchor="middle">`+"\n")
	for v := xMin; v <= xMax; v += xTick {
		fmt.Fprintf(bw, `<text x="%.1f" y="%d">%d</text>`+"\n", x(float64(v)), plotB+19, v)
	}
	fmt.Fprintf(bw, `<text x="%d" y="%d">Arrived GPU demand (%% of cluster GPU capacity)</text>`+"\n", (plotL+plotR)/2, plotB+42)
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<g text-anchor="end">`+"\n")
	for v := yMin; v <= yMax; v += yTick {
		fmt.Fprintf(bw, `<text x="%d" y="%.1f">%d</text>`+"\n", plotL-8, y(float64(v))+4, v)
	}
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<text transform="translate(22 %d) rotate(-90)" text-anchor="middle">GPU allocation (%% of cluster GPU capacity)</text>`+"\n", (plotT+plotB)/2)

	// The ideal: all arrived demand allocated, up to the capacity.
	fmt.Fprintf(bw, `<g clip-path="url(#plot)">`+"\n")
	fmt.Fprintf(bw, `<polyline fill="none" stroke="#999999" stroke-width="1" stroke-dasharray="4 3" points="%.1f,%.1f %.1f,%.1f %.1f,%.1f"/>`+"\n",
		x(0), y(0), x(100), y(100), x(float64(xMax)), y(100))

	// One line per run, then the legend.
	for i, r := range results {
		var pts []string
		for _, c := range r.Curve() {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(c.ArrivedPct)), y(c.AllocPct)))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round" points="%s"><title>%s</title></polyline>`+"\n",
			palette[i%len(palette)], strings.Join(pts, " "), esc(r.Label()))
	}
	fmt.Fprintf(bw, "</g>\n")
	const legendX, legendY, legendStep = plotR + 20, plotT + 10, 22
	fmt.Fprintf(bw, `<text x="%d" y="%d" font-weight="bold">at 100%% arrived</text>`+"\n", legendX, legendY)
	for i, r := range results {
		ly := legendY + legendStep*(i+1)
		label := r.Label()
		if v, ok := r.AllocAt(100); ok {
			label += fmt.Sprintf(" %.2f%%", v)
		}
		fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", legendX, ly-4, legendX+24, ly-4, palette[i%len(palette)])
		fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", legendX+30, ly, esc(label))
	}
	ly := legendY + legendStep*(len(results)+1)
	fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999" stroke-dasharray="4 3"/>`+"\n", legendX, ly-4, legendX+24, ly-4)
	fmt.Fprintf(bw, `<text x="%d" y="%d">ideal</text>`+"\n", legendX+30, ly)
	fmt.Fprintf(bw, "</svg>\n")
	return bw.Flush()
}

// tickStep is the distance between ticks for an axis spanning span
// percent: about ten ticks, at round numbers.
func tickStep(span int) int {
	switch {
	case span <= 20:
		return 2
	case span <= 60:
		return 5
	}
	return 10
}

// esc escapes text for an XML text node or attribute.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
