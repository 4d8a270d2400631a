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
	"github.com/berthsched/berth/pkg/plugins/podtopologyspread"
)

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
