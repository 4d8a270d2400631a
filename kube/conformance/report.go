package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Format writes the disagreement with its reproducer: the verdicts of both
// sides, then the nodes, the pods bound to them and the pending pod as YAML
// (as generated, before API defaulting).
func (d Disagreement) Format(w io.Writer) {
	fmt.Fprintf(w, "=== %s disagrees (seed %d, pod %s/%s; %d node(s), %d bound pod(s) after shrinking)\n",
		d.Plugin, d.Seed, d.Pod.Namespace, d.Pod.Name, len(d.Cluster.Nodes), len(d.Cluster.Pods))
	for _, df := range d.Diffs {
		fmt.Fprintln(w, df.String())
	}
	fmt.Fprintln(w, "--- reproducer")
	for _, n := range d.Cluster.Nodes {
		writeYAML(w, "node", n)
	}
	for _, p := range d.Cluster.Pods {
		writeYAML(w, "bound pod", p)
	}
	writeYAML(w, "pending pod", d.Pod)
}

func (d Disagreement) String() string {
	var b strings.Builder
	d.Format(&b)
	return b.String()
}

func writeYAML(w io.Writer, what string, obj any) {
	js, err := json.Marshal(obj)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(js, &m)
	}
	var out []byte
	if err == nil {
		out, err = yaml.Marshal(prune(m))
	}
	if err != nil {
		fmt.Fprintf(w, "# %s: %v\n", what, err)
		return
	}
	fmt.Fprintf(w, "---\n# %s\n%s", what, out)
}

// prune drops what serialising a Go struct adds but nobody wrote: nulls,
// empty strings and the all-zero node status structs. Empty maps stay: an
// empty label selector means "everything".
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = prune(e)
			if isEmpty(e) || (k == "daemonEndpoints" || k == "nodeInfo") && allZero(e) {
				delete(t, k)
				continue
			}
			t[k] = e
		}
		return t
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
		return t
	}
	return v
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	}
	return false
}

func allZero(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if !allZero(e) {
				return false
			}
		}
		return true
	case string:
		return t == ""
	case float64:
		return t == 0
	}
	return isEmpty(v)
}

// FormatStats writes the agreement rate of each plugin.
func (h *Harness) FormatStats(w io.Writer) {
	fmt.Fprintf(w, "%d pending pods over %d (pod, node) pairs; %d pods had a feasible node and had scores compared\n", h.Pods, h.Nodes, h.Scored)
	fmt.Fprintf(w, "%-34s %9s %9s %8s %7s %11s %11s %8s %10s\n", "plugin", "cases", "agreed", "rate", "known", "points", "agreed", "rate", "rejected")
	names := make([]string, 0, len(h.Stats))
	for _, p := range h.plugins {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		s := h.Stats[n]
		fmt.Fprintf(w, "%-34s %9d %9d %7.3f%% %7d %11d %11d %7.3f%% %10d\n", n, s.Cases, s.Agreed, pct(s.Agreed, s.Cases), s.Known, s.Points, s.PointsAgreed, pct(s.PointsAgreed, s.Points), s.Rejections)
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
