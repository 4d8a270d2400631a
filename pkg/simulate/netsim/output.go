package netsim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// vsDefault is the change of a policy's mean cross-zone hops against
// the default profile's ("-62%"), or "-" without that row.
func (r *Report) vsDefault(res *Result) string {
	rel := r.Relative(res)
	if math.IsNaN(rel) {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*(rel-1))
}

// seedRange renders the lowest and highest per-seed mean ("0.41–0.52"),
// or "-" for a single seed.
func seedRange(res *Result) string {
	if len(res.SeedMeans) < 2 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(res.SeedMeans), slices.Max(res.SeedMeans))
}

// WriteTable prints one row per policy: pods placed and failed (over
// every seed), calls per request, mean cross-zone hops per request (with
// the change against the default profile and the range of the seeds'
// means), p95 of cross-zone hops per request, the fractions of calls
// that crossed zones and that stayed on a node, the multi-replica
// services confined to one zone, and the fullest zone's requested CPU.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tPLACED\tFAILED\tCALLS/REQ\tX-ZONE HOPS/REQ\tVS DEFAULT\tSEED RANGE\tP95 X-ZONE/REQ\tX-ZONE CALLS\tSAME-NODE CALLS\tONE-ZONE SERVICES\tFULLEST ZONE")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.3f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", res.Policy.Name, res.Placed, res.Failed,
			res.CallsPerRequest(), res.MeanCrossZoneHops(), r.vsDefault(res), seedRange(res), res.CrossZoneQuantile(0.95),
			pct(res.CrossZoneFraction()), pct(res.SameNodeFraction()), pct(res.OneZoneFraction()), pct(res.MaxZoneRequested))
	}
	return tw.Flush()
}

// WriteJSON writes the whole report, the application and each policy's
// configuration included, indented.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Relative is a policy's mean cross-zone hops over the default
// profile's (0.4 is 60 % fewer); NaN without a default row or when it
// had none.
func (r *Report) Relative(res *Result) float64 {
	b := r.Result(PolicyDefault)
	if b == nil || b.MeanCrossZoneHops() == 0 {
		return math.NaN()
	}
	return res.MeanCrossZoneHops() / b.MeanCrossZoneHops()
}
