package lint

import (
	"fmt"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The operators the API server accepts, for messages and suggestions.
var (
	nodeSelectorOps  = []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}
	labelSelectorOps = []string{"In", "NotIn", "Exists", "DoesNotExist"}
)

// checkNodeAffinity checks every node selector requirement of the
// required and preferred node affinity the way the API server validates
// them (BL001, BL002, BL003 with more or fewer than one value, BL004 for
// matchFields keys) and, beyond that, what it accepts but the scheduler
// cannot use: a Gt/Lt value that is not an integer, an empty term.
func checkNodeAffinity(w *Workload, _ *env, r *reporter) {
	a := w.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return
	}
	na := a.NodeAffinity
	base := w.SpecPath.Child("affinity", "nodeAffinity")
	if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
		p := base.Child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
		if len(req.NodeSelectorTerms) == 0 {
			r.add(RuleNodeSelectorTermEmpty, p, "required node affinity has no nodeSelectorTerms; the API server rejects it", "Add a term, or remove requiredDuringSchedulingIgnoredDuringExecution.")
		}
		for i := range req.NodeSelectorTerms {
			checkNodeSelectorTerm(&req.NodeSelectorTerms[i], p.Index(i), len(req.NodeSelectorTerms) == 1, r)
		}
	}
	for i := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		t := &na.PreferredDuringSchedulingIgnoredDuringExecution[i]
		checkNodeSelectorTerm(&t.Preference, base.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i).Child("preference"), false, r)
	}
}

func checkNodeSelectorTerm(t *v1.NodeSelectorTerm, p *field.Path, only bool, r *reporter) {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		msg := "this node selector term is empty and matches no node"
		if only {
			msg += "; it is the only required term, so the pods can never be scheduled"
		}
		r.add(RuleNodeSelectorTermEmpty, p, msg, "")
		return
	}
	for i, rq := range t.MatchExpressions {
		checkNodeSelectorRequirement(rq, p.Child("matchExpressions").Index(i), r)
	}
	for i, rq := range t.MatchFields {
		fp := p.Child("matchFields").Index(i)
		if rq.Key != metav1.ObjectNameField {
			r.add(RuleNodeSelectorOperator, fp.Child("key"), fmt.Sprintf("matchFields key %q is not supported; the API server rejects it (only %s is)", rq.Key, metav1.ObjectNameField),
				"Use matchExpressions for node labels; matchFields only selects by node name.")
		}
		switch rq.Operator {
		case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
			if len(rq.Values) != 1 {
				r.add(RuleNodeSelectorValues, fp.Child("values"), fmt.Sprintf("matchFields with %s needs exactly one value, has %d; the API server rejects it", rq.Operator, len(rq.Values)),
					"Give one node name per requirement; use several terms to allow several nodes.")
			}
		default:
			r.add(RuleNodeSelectorOperator, fp.Child("operator"), fmt.Sprintf("matchFields operator %q is not supported; the API server rejects it (In or NotIn)", rq.Operator), "")
		}
	}
}

func checkNodeSelectorRequirement(rq v1.NodeSelectorRequirement, p *field.Path, r *reporter) {
	switch rq.Operator {
	case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
		if len(rq.Values) == 0 {
			r.add(RuleNodeSelectorValues, p.Child("values"), fmt.Sprintf("operator %s needs at least one value; the API server rejects it", rq.Operator),
				"List the label values to match, or use Exists to match any value.")
		}
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		if len(rq.Values) > 0 {
			r.add(RuleNodeSelectorValues, p.Child("values"), fmt.Sprintf("operator %s takes no values, has %d; the API server rejects it", rq.Operator, len(rq.Values)),
				"Remove values, or use In to match specific values.")
		}
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if len(rq.Values) != 1 {
			r.add(RuleNodeSelectorGtLt, p.Child("values"), fmt.Sprintf("operator %s needs exactly one value, has %d; the API server rejects it", rq.Operator, len(rq.Values)),
				"Give a single integer, e.g. values: [\"4\"].")
			return
		}
		if _, err := strconv.ParseInt(rq.Values[0], 10, 64); err != nil {
			r.add(RuleNodeSelectorGtLt, p.Child("values").Index(0), fmt.Sprintf("operator %s compares integers but the value %q is not one; the API server accepts it, yet the scheduler cannot parse it and this term matches no node", rq.Operator, rq.Values[0]),
				"Use an integer value (\"4\"), and a node label whose values are integers.")
		}
	default:
		r.add(RuleNodeSelectorOperator, p.Child("operator"), fmt.Sprintf("unknown operator %q; the API server rejects it%s", rq.Operator, suggest(string(rq.Operator), nodeSelectorOps)),
			"Use one of "+strings.Join(nodeSelectorOps, ", ")+" (case-sensitive).")
	}
}

// suggest returns "; did you mean X?" when s is a case or small spelling
// variant of one of valid.
func suggest(s string, valid []string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if strings.EqualFold(s, v) {
			return fmt.Sprintf(" (did you mean %q?)", v)
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(v)); d < bestD {
			best, bestD = v, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// podAffinityTerms calls f for every pod affinity and anti-affinity term,
// required and preferred, with its path and whether it is a required
// anti-affinity term.
func podAffinityTerms(w *Workload, f func(t *v1.PodAffinityTerm, p *field.Path, required, anti bool)) {
	a := w.Pod.Spec.Affinity
	if a == nil {
		return
	}
	base := w.SpecPath.Child("affinity")
	visit := func(name string, required []v1.PodAffinityTerm, preferred []v1.WeightedPodAffinityTerm, anti bool) {
		for i := range required {
			f(&required[i], base.Child(name, "requiredDuringSchedulingIgnoredDuringExecution").Index(i), true, anti)
		}
		for i := range preferred {
			f(&preferred[i].PodAffinityTerm, base.Child(name, "preferredDuringSchedulingIgnoredDuringExecution").Index(i).Child("podAffinityTerm"), false, anti)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		visit("podAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, false)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		visit("podAntiAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, true)
	}
}

// checkLabelSelectors validates the label selectors of pod (anti-)affinity
// terms and topology spread constraints as the API server does (BL005).
func checkLabelSelectors(w *Workload, _ *env, r *reporter) {
	podAffinityTerms(w, func(t *v1.PodAffinityTerm, p *field.Path, _, _ bool) {
		checkLabelSelector(t.LabelSelector, p.Child("labelSelector"), r)
		checkLabelSelector(t.NamespaceSelector, p.Child("namespaceSelector"), r)
	})
	for i := range w.Pod.Spec.TopologySpreadConstraints {
		checkLabelSelector(w.Pod.Spec.TopologySpreadConstraints[i].LabelSelector, w.SpecPath.Child("topologySpreadConstraints").Index(i).Child("labelSelector"), r)
	}
}

func checkLabelSelector(s *metav1.LabelSelector, p *field.Path, r *reporter) {
	if s == nil {
		return
	}
	for i, e := range s.MatchExpressions {
		ep := p.Child("matchExpressions").Index(i)
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				r.add(RuleLabelSelector, ep.Child("values"), fmt.Sprintf("operator %s needs at least one value; the API server rejects it", e.Operator), "List the label values, or use Exists.")
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(e.Values) > 0 {
				r.add(RuleLabelSelector, ep.Child("values"), fmt.Sprintf("operator %s takes no values, has %d; the API server rejects it", e.Operator, len(e.Values)), "Remove values, or use In.")
			}
		default:
			r.add(RuleLabelSelector, ep.Child("operator"), fmt.Sprintf("unknown label selector operator %q; the API server rejects it%s", e.Operator, suggest(string(e.Operator), labelSelectorOps)),
				"Use one of "+strings.Join(labelSelectorOps, ", ")+" (Gt and Lt exist only for node affinity).")
		}
	}
}
