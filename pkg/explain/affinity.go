package explain

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	nodeaffinityplugin "github.com/berthsched/berth/pkg/plugins/nodeaffinity"
)

// labelValues counts, over every node, the values of label key.
func (a *analysis) labelValues(key string) map[string]int {
	out := map[string]int{}
	for _, ni := range a.eval.Snapshot.List() {
		if v, ok := ni.Node().Labels[key]; ok {
			out[v]++
		}
	}
	return out
}

// valuesString renders value counts biggest first: "30 nodes have
// disk-type=ssd, 2 have disk-type=hdd".
func valuesString(key string, counts map[string]int) string {
	vals := sortedByCount(counts)
	parts := make([]string, 0, len(vals))
	for i, v := range vals {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("%d more value(s)", len(vals)-4))
			break
		}
		if i == 0 {
			parts = append(parts, fmt.Sprintf("%d node(s) have %s=%s", counts[v], key, v))
		} else {
			parts = append(parts, fmt.Sprintf("%d have %s=%s", counts[v], key, v))
		}
	}
	return strings.Join(parts, ", ")
}

func sortedByCount(counts map[string]int) []string {
	vals := make([]string, 0, len(counts))
	for v := range counts {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool {
		if counts[vals[i]] != counts[vals[j]] {
			return counts[vals[i]] > counts[vals[j]]
		}
		return vals[i] < vals[j]
	})
	return vals
}

// suggestNodeAffinity looks at the pod's nodeSelector and required node
// affinity when NodeAffinity rejected nodes: every selector entry or
// requirement that no node satisfies is reported with the values the key
// does have, and the pod is tried with that entry changed to the most
// common value (nodeSelector) or the requirement dropped (affinity).
func (a *analysis) suggestNodeAffinity() ([]Suggestion, error) {
	if len(a.rejectedBy(nodeaffinityplugin.Name)) == 0 {
		return nil, nil
	}
	var out []Suggestion
	keys := make([]string, 0, len(a.pod.Spec.NodeSelector))
	for k := range a.pod.Spec.NodeSelector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := a.pod.Spec.NodeSelector[k]
		counts := a.labelValues(k)
		if counts[want] > 0 {
			continue
		}
		s := Suggestion{Cause: CauseNodeAffinity}
		if len(counts) == 0 {
			s.Message = fmt.Sprintf("no node has %s=%s; no node has a label %s at all", k, want, k)
			out = append(out, s)
			continue
		}
		s.Message = fmt.Sprintf("no node has %s=%s; %s", k, want, valuesString(k, counts))
		// Try the most common values first; the first that fits wins.
		var tried []string
		for _, val := range head(sortedByCount(counts), a.opts.MaxSuggestions) {
			pod := a.pod.DeepCopy()
			pod.Spec.NodeSelector[k] = val
			res, err := a.tryPod(pod)
			if err != nil {
				return nil, err
			}
			if len(res.feasible) > 0 {
				s.Verified, s.FitNodes, s.Nodes = true, len(res.feasible), head(res.feasible, a.opts.MaxNodes)
				s.Change = fmt.Sprintf("nodeSelector %s: %s -> %s", k, want, val)
				s.Message += fmt.Sprintf("; with %s=%s the pod fits on %d node(s)", k, val, len(res.feasible))
				break
			}
			tried = append(tried, fmt.Sprintf("%s=%s (%s)", k, val, countsString(reasonCounts(res))))
		}
		if !s.Verified {
			s.Message += "; it still fits nowhere with " + strings.Join(tried, ", ")
		}
		out = append(out, s)
	}
	if len(out) == 0 && len(keys) > 1 {
		// Each entry matches some node, just not all on one node.
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%s on %d", k, a.pod.Spec.NodeSelector[k], a.labelValues(k)[a.pod.Spec.NodeSelector[k]])
		}
		out = append(out, Suggestion{Cause: CauseNodeAffinity, Message: "each nodeSelector entry matches some nodes (" + strings.Join(parts, ", ") + ") but no node matches all of them"})
	}
	s, err := a.suggestRequiredAffinity()
	return append(out, s...), err
}

func (a *analysis) suggestRequiredAffinity() ([]Suggestion, error) {
	aff := a.pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil, nil
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var out []Suggestion
	for ti, term := range terms {
		check := func(req v1.NodeSelectorRequirement, field bool) (Suggestion, bool, error) {
			single := v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{req}}
			if field {
				single = v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{req}}
			}
			sel, err := nodeaffinity.NewNodeSelector(&v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{single}})
			if err != nil {
				return Suggestion{}, false, nil
			}
			matching := 0
			for _, ni := range a.eval.Snapshot.List() {
				if sel.Match(ni.Node()) {
					matching++
				}
			}
			if matching > 0 {
				return Suggestion{}, false, nil
			}
			rs := requirementString(req)
			s := Suggestion{Cause: CauseNodeAffinity, Message: fmt.Sprintf("no node matches the required node affinity %s", rs)}
			if !field {
				if counts := a.labelValues(req.Key); len(counts) > 0 {
					s.Message += "; " + valuesString(req.Key, counts)
				} else {
					s.Message += fmt.Sprintf("; no node has a label %s", req.Key)
				}
			}
			pod := a.pod.DeepCopy()
			t := &pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[ti]
			t.MatchExpressions, t.MatchFields = dropRequirement(t.MatchExpressions, rs, field), dropRequirement(t.MatchFields, rs, !field)
			if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
				// An empty term matches nothing: dropping the last
				// requirement means dropping the term.
				ts := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
				ts = append(ts[:ti:ti], ts[ti+1:]...)
				if len(ts) == 0 {
					pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
				} else {
					pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = ts
				}
			}
			res, err := a.tryPod(pod)
			if err != nil {
				return s, true, err
			}
			if len(res.feasible) > 0 {
				s.Verified, s.FitNodes, s.Nodes = true, len(res.feasible), head(res.feasible, a.opts.MaxNodes)
				s.Change = "drop node affinity requirement " + rs
				s.Message += fmt.Sprintf("; without it the pod fits on %d node(s)", len(res.feasible))
			}
			return s, true, nil
		}
		for _, req := range term.MatchExpressions {
			s, ok, err := check(req, false)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, s)
			}
		}
		for _, req := range term.MatchFields {
			s, ok, err := check(req, true)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// dropRequirement removes the requirement rendered as req from reqs
// (unless keep).
func dropRequirement(reqs []v1.NodeSelectorRequirement, req string, keep bool) []v1.NodeSelectorRequirement {
	if keep {
		return reqs
	}
	var out []v1.NodeSelectorRequirement
	for _, r := range reqs {
		if requirementString(r) != req {
			out = append(out, r)
		}
	}
	return out
}

func requirementString(r v1.NodeSelectorRequirement) string {
	switch r.Operator {
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		return fmt.Sprintf("%s %s", r.Key, r.Operator)
	}
	return fmt.Sprintf("%s %s [%s]", r.Key, r.Operator, strings.Join(r.Values, ","))
}

func reasonCounts(o outcome) map[string]int {
	counts := map[string]int{}
	for _, st := range o.rejected {
		for _, r := range st.Reasons() {
			counts[r]++
		}
	}
	return counts
}
