package explain

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/berthsched/berth/pkg/plugins/interpodaffinity"
	nodeaffinityplugin "github.com/berthsched/berth/pkg/plugins/nodeaffinity"
	"github.com/berthsched/berth/pkg/plugins/podtopologyspread"
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

// suggestTopologySpread reports, for each DoNotSchedule constraint, how
// many matching pods each domain holds (the counts behind the skew), and
// tries the pod with that constraint relaxed to ScheduleAnyway.
func (a *analysis) suggestTopologySpread() ([]Suggestion, error) {
	if len(a.rejectedBy(podtopologyspread.Name)) == 0 {
		return nil, nil
	}
	var out []Suggestion
	req := nodeaffinity.GetRequiredNodeAffinity(a.pod)
	for ci, c := range a.pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != v1.DoNotSchedule {
			continue
		}
		sel, err := spreadSelector(c, a.pod.Labels)
		if err != nil {
			continue
		}
		counts := map[string]int{}
		for _, ni := range a.eval.Snapshot.List() {
			node := ni.Node()
			dom, ok := node.Labels[c.TopologyKey]
			if !ok {
				continue
			}
			if c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor {
				if m, _ := req.Match(node); !m {
					continue
				}
			}
			if _, seen := counts[dom]; !seen {
				counts[dom] = 0
			}
			for _, pi := range ni.Pods {
				if pi.Pod.Namespace == a.pod.Namespace && pi.Pod.DeletionTimestamp == nil && sel.Matches(labels.Set(pi.Pod.Labels)) {
					counts[dom]++
				}
			}
		}
		s := Suggestion{Cause: CauseTopologySpread}
		s.Message = fmt.Sprintf("topology spread on %s (maxSkew %d, selector %s): matching pods per domain: %s", c.TopologyKey, c.MaxSkew, sel, domainCounts(counts))
		pod := a.pod.DeepCopy()
		pod.Spec.TopologySpreadConstraints[ci].WhenUnsatisfiable = v1.ScheduleAnyway
		res, err := a.tryPod(pod)
		if err != nil {
			return nil, err
		}
		if len(res.feasible) > 0 {
			s.Verified, s.FitNodes, s.Nodes = true, len(res.feasible), head(res.feasible, a.opts.MaxNodes)
			s.Change = fmt.Sprintf("topologySpreadConstraints[%d].whenUnsatisfiable: ScheduleAnyway", ci)
			s.Message += fmt.Sprintf("; with whenUnsatisfiable: ScheduleAnyway the pod fits on %d node(s)", len(res.feasible))
		}
		out = append(out, s)
	}
	return out, nil
}

func spreadSelector(c v1.TopologySpreadConstraint, podLabels map[string]string) (labels.Selector, error) {
	ls := c.LabelSelector
	if ls == nil {
		return labels.Nothing(), nil
	}
	if len(c.MatchLabelKeys) > 0 {
		ls = ls.DeepCopy()
		for _, k := range c.MatchLabelKeys {
			if v, ok := podLabels[k]; ok {
				ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpIn, Values: []string{v}})
			}
		}
	}
	return metav1.LabelSelectorAsSelector(ls)
}

func domainCounts(counts map[string]int) string {
	doms := make([]string, 0, len(counts))
	for d := range counts {
		doms = append(doms, d)
	}
	sort.Strings(doms)
	parts := make([]string, len(doms))
	for i, d := range doms {
		parts[i] = fmt.Sprintf("%s=%d", d, counts[d])
	}
	if len(parts) == 0 {
		return "no eligible node has the topology key"
	}
	return strings.Join(parts, ", ")
}

// suggestPodAffinity reports where the pods a required (anti-)affinity
// term matches are, and tries the pod without that term. Rejections by
// other pods' anti-affinity name those pods.
func (a *analysis) suggestPodAffinity() ([]Suggestion, error) {
	nodes := a.rejectedBy(interpodaffinity.Name)
	if len(nodes) == 0 {
		return nil, nil
	}
	var out []Suggestion
	aff := a.pod.Spec.Affinity
	try := func(kind string, idx int, term v1.PodAffinityTerm, drop func(p *v1.Pod)) error {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			return nil
		}
		doms := map[string]int{}
		for _, ni := range a.eval.Snapshot.List() {
			dom, ok := ni.Node().Labels[term.TopologyKey]
			if !ok {
				continue
			}
			for _, pi := range ni.Pods {
				if termNamespaceMatches(term, a.pod, pi.Pod) && sel.Matches(labels.Set(pi.Pod.Labels)) {
					doms[dom]++
				}
			}
		}
		s := Suggestion{Cause: CausePodAffinity}
		where := "no pod matches it"
		if len(doms) > 0 {
			where = "matching pods per " + term.TopologyKey + ": " + domainCounts(doms)
		}
		if term.NamespaceSelector != nil {
			where += " (namespaceSelector not evaluated: counts cover the listed namespaces only)"
		}
		s.Message = fmt.Sprintf("required pod %s term %d (%s over %s): %s", kind, idx, sel, term.TopologyKey, where)
		pod := a.pod.DeepCopy()
		drop(pod)
		res, err := a.tryPod(pod)
		if err != nil {
			return err
		}
		if len(res.feasible) > 0 {
			s.Verified, s.FitNodes, s.Nodes = true, len(res.feasible), head(res.feasible, a.opts.MaxNodes)
			s.Change = fmt.Sprintf("drop required pod %s term %d", kind, idx)
			s.Message += fmt.Sprintf("; without this term the pod fits on %d node(s)", len(res.feasible))
		}
		out = append(out, s)
		return nil
	}
	if aff != nil && aff.PodAffinity != nil {
		for i, t := range aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			i := i
			if err := try("affinity", i, t, func(p *v1.Pod) {
				ts := p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
				p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(ts[:i:i], ts[i+1:]...)
			}); err != nil {
				return nil, err
			}
		}
	}
	if aff != nil && aff.PodAntiAffinity != nil {
		for i, t := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			i := i
			if err := try("anti-affinity", i, t, func(p *v1.Pod) {
				ts := p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
				p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(ts[:i:i], ts[i+1:]...)
			}); err != nil {
				return nil, err
			}
		}
	}
	if blockers := a.antiAffinityBlockers(); len(blockers) > 0 {
		out = append(out, Suggestion{Cause: CausePodAffinity,
			Message: fmt.Sprintf("existing pods whose required anti-affinity excludes this pod: %s", strings.Join(head(blockers, a.opts.MaxNodes), ", "))})
	}
	return out, nil
}

// antiAffinityBlockers lists "ns/name on node" for existing pods whose
// required anti-affinity terms select the pod.
func (a *analysis) antiAffinityBlockers() []string {
	var out []string
	for _, ni := range a.eval.Snapshot.List() {
		for _, pi := range ni.PodsWithRequiredAntiAffinity {
			for _, t := range pi.Pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
				if err != nil || !termNamespaceMatches(t, pi.Pod, a.pod) || !sel.Matches(labels.Set(a.pod.Labels)) {
					continue
				}
				out = append(out, fmt.Sprintf("%s/%s on %s (%s)", pi.Pod.Namespace, pi.Pod.Name, ni.Node().Name, t.TopologyKey))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// termNamespaceMatches reports whether other is in the namespaces term
// (declared by owner) names; an empty list means owner's namespace. A
// namespaceSelector is not evaluated here (explain does not list
// namespaces): only the listed namespaces count.
func termNamespaceMatches(term v1.PodAffinityTerm, owner, other *v1.Pod) bool {
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		return other.Namespace == owner.Namespace
	}
	for _, ns := range term.Namespaces {
		if ns == other.Namespace {
			return true
		}
	}
	return false
}
