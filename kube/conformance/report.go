package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"sigs.k8s.io/yaml"
)

// Format writes the disagreement with its reproducer: the verdicts of both
// sides, then the nodes, the pods bound to them and the pending pod as YAML
// (as generated, before API defaulting).
func (d Disagreement) Format(w io.Writer) {
	fmt.Fprintf(w, "=== %s disagrees (seed %d, pod %s/%s; %d node(s), %d bound pod(s), %d storage object(s) after shrinking)\n",
		d.Plugin, d.Seed, d.Pod.Namespace, d.Pod.Name, len(d.Cluster.Nodes), len(d.Cluster.Pods), len(d.Cluster.Objects))
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
	for _, o := range d.Cluster.Objects {
		writeYAML(w, kindOf(o), o)
	}
	writeYAML(w, "pending pod", d.Pod)
}

func (d Disagreement) String() string {
	var b strings.Builder
	d.Format(&b)
	return b.String()
}

// kindOf names a storage object's kind for the reproducer.
func kindOf(o runtime.Object) string {
	t := reflect.TypeOf(o)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
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

// FormatCoverage writes, per plugin, the verdicts each side gave and in how
// many cases (pending pods) at least one node got them, and for score
// plugins the cases whose scores were compared and those with a non-zero
// kube-scheduler score. A reason only one side ever gave shows 0 on the
// other side; a reason kube-scheduler never gave was not exercised.
func (h *Harness) FormatCoverage(w io.Writer) {
	for _, p := range h.plugins {
		s := h.Stats[p.Name]
		fmt.Fprintf(w, "%s: %d cases", p.Name, s.Cases)
		if p.Score {
			fmt.Fprintf(w, ", %d scored, %d with a non-zero score", s.Scored, s.NonZero)
		}
		fmt.Fprintln(w)
		keys := map[string]bool{}
		for k := range s.Reasons {
			keys[k] = true
		}
		for k := range s.BerthReasons {
			keys[k] = true
		}
		if len(keys) > 0 {
			fmt.Fprintf(w, "  %9s %9s  verdict\n", "kube", "berth")
		}
		for _, k := range sortedKeys(keys) {
			fmt.Fprintf(w, "  %9d %9d  %s\n", s.Reasons[k], s.BerthReasons[k], k)
		}
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
