package loadsim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"
)

// Ratio is a policy's hot node-minutes over the baseline's: 0.4 is 60 %
// fewer. It is NaN when the baseline had none.
func (r *Report) Ratio(res *Result, baseline string) float64 {
	b := r.Result(baseline)
	if b == nil || b.HotNodeMinutes == 0 {
		return math.NaN()
	}
	return float64(res.HotNodeMinutes) / float64(b.HotNodeMinutes)
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// vsBaseline renders Ratio as "-62%" (or "-" without a baseline).
func (r *Report) vsBaseline(res *Result) string {
	ratio := r.Ratio(res, PolicyRequests)
	if math.IsNaN(ratio) {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*(ratio-1))
}

// WriteTable prints one row per policy: placements, hot node-minutes
// (count, share, change against requests-only), nodes ever hot,
// saturated node-minutes, p99, mean and max utilisation, and the mean
// requested CPU (the packing).
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tPLACED\tFAILED\tHOT NODE-MIN\tHOT %\tVS REQUESTS-ONLY\tHOT NODES\tSATURATED NODE-MIN\tP99 UTIL\tMEAN UTIL\tMAX UTIL\tREQUESTED")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%d/%d\t%d\t%s\t%s\t%s\t%s\n", res.Policy.Name, res.Placed, res.Failed,
			res.HotNodeMinutes, pct(res.HotFraction()), r.vsBaseline(res), res.HotNodes, r.Nodes, res.SaturatedNodeMinutes,
			pct(res.P99), pct(res.Mean), pct(res.Max), pct(res.MeanRequested))
	}
	return tw.Flush()
}

// WriteCSV writes the same columns as WriteTable, one row per policy,
// with fractions as plain numbers.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	rows := [][]string{{"policy", "placed", "failed", "node_minutes", "hot_node_minutes", "hot_fraction", "hot_ratio_vs_requests_only",
		"hot_nodes", "saturated_node_minutes", "p50_util", "p99_util", "mean_util", "max_util", "mean_requested", "max_requested", "wall_seconds"}}
	for _, res := range r.Results {
		ratio := ""
		if v := r.Ratio(res, PolicyRequests); !math.IsNaN(v) {
			ratio = f(v)
		}
		rows = append(rows, []string{res.Policy.Name, strconv.Itoa(res.Placed), strconv.Itoa(res.Failed), strconv.Itoa(res.NodeMinutes),
			strconv.Itoa(res.HotNodeMinutes), f(res.HotFraction()), ratio, strconv.Itoa(res.HotNodes), strconv.Itoa(res.SaturatedNodeMinutes),
			f(res.P50), f(res.P99), f(res.Mean), f(res.Max), f(res.MeanRequested), f(res.MaxRequested),
			strconv.FormatFloat(res.Wall.Round(time.Millisecond).Seconds(), 'f', 3, 64)})
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// WriteJSON writes the whole report, the policies' LoadAware args
// included, indented.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
