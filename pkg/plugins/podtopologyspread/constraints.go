package podtopologyspread

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// constraint is a topology spread constraint ready to evaluate: the
// selector parsed (with matchLabelKeys folded in) and the API's defaults
// for minDomains and the node inclusion policies filled in.
type constraint struct {
	MaxSkew     int32
	TopologyKey string
	Selector    labels.Selector
	// MinDomains is 1 when the pod leaves it unset.
	MinDomains int32
	// HonorAffinity: only nodes matching the pod's nodeSelector and required
	// node affinity form and count in domains (the default, Honor).
	HonorAffinity bool
	// HonorTaints: only nodes whose NoSchedule/NoExecute taints the pod
	// tolerates form and count in domains (default Ignore).
	HonorTaints bool
}

// enableComparisonOperators mirrors kube-scheduler v1.37's default for the
// alpha TaintTolerationComparisonOperators gate, as TaintToleration does.
const enableComparisonOperators = false

// isDoNotScheduleTaint selects the taints a NodeTaintsPolicy of Honor
// looks at: the ones TaintToleration's Filter enforces.
func isDoNotScheduleTaint(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// nodeEligibility is what the inclusion policies need to know about a node
// for one pod, computed once per node and applied per constraint.
type nodeEligibility struct {
	affinityOK, taintsOK bool
}

// eligibilityOf evaluates the pod's required node affinity and tolerations
// against node, but only the parts some constraint honours (need*).
// Affinity parse errors count as a mismatch, as kube-scheduler does.
func eligibilityOf(logger klog.Logger, pod *v1.Pod, node *v1.Node, aff nodeaffinity.RequiredNodeAffinity, needAffinity, needTaints bool) nodeEligibility {
	e := nodeEligibility{affinityOK: true, taintsOK: true}
	if needAffinity {
		e.affinityOK, _ = aff.Match(node)
	}
	if needTaints {
		_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, isDoNotScheduleTaint, enableComparisonOperators)
		e.taintsOK = !untolerated
	}
	return e
}

// includes applies the constraint's inclusion policies.
func (c *constraint) includes(e nodeEligibility) bool {
	return (!c.HonorAffinity || e.affinityOK) && (!c.HonorTaints || e.taintsOK)
}

// policyNeeds reports whether any constraint honours affinity or taints.
func policyNeeds(cs []constraint) (affinity, taints bool) {
	for i := range cs {
		affinity = affinity || cs[i].HonorAffinity
		taints = taints || cs[i].HonorTaints
	}
	return affinity, taints
}

// hasAllKeys reports whether the node carries every constraint's topology
// key: a node lacking one takes part in none of the pod's constraints.
func hasAllKeys(nodeLabels map[string]string, cs []constraint) bool {
	for i := range cs {
		if _, ok := nodeLabels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts the pods of a node that the selector counts: in
// namespace ns, not terminating. An empty selector counts nothing (while
// still matching the incoming pod itself), as in kube-scheduler.
func countMatching(pods []*framework.PodInfo, sel labels.Selector, ns string) int {
	if sel.Empty() {
		return 0
	}
	n := 0
	for _, pi := range pods {
		p := pi.Pod
		if p.DeletionTimestamp != nil || p.Namespace != ns {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			n++
		}
	}
	return n
}

// parseConstraints keeps the constraints with the given action and prepares
// them. matchLabelKeys take the pod's own values for those keys and are
// ANDed into the selector (keys the pod does not carry are dropped).
func parseConstraints(specs []v1.TopologySpreadConstraint, podLabels map[string]string, action v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for i := range specs {
		spec := &specs[i]
		if spec.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(spec.LabelSelector)
		if err != nil {
			return nil, err
		}
		if len(spec.MatchLabelKeys) > 0 {
			sel = withPodValues(sel, spec.MatchLabelKeys, podLabels)
		}
		c := constraint{
			MaxSkew:       spec.MaxSkew,
			TopologyKey:   spec.TopologyKey,
			Selector:      sel,
			MinDomains:    1,
			HonorAffinity: true,
		}
		if spec.MinDomains != nil {
			c.MinDomains = *spec.MinDomains
		}
		if p := spec.NodeAffinityPolicy; p != nil {
			c.HonorAffinity = *p == v1.NodeInclusionPolicyHonor
		}
		if p := spec.NodeTaintsPolicy; p != nil {
			c.HonorTaints = *p == v1.NodeInclusionPolicyHonor
		}
		out = append(out, c)
	}
	return out, nil
}

// withPodValues adds key=podLabels[key] for each of keys the pod carries.
// A selector that cannot list its requirements (the match-nothing
// selector) is returned unchanged, as kube-scheduler does.
func withPodValues(sel labels.Selector, keys []string, podLabels map[string]string) labels.Selector {
	set := labels.Set{}
	for _, k := range keys {
		if v, ok := podLabels[k]; ok {
			set[k] = v
		}
	}
	if len(set) == 0 {
		return sel
	}
	reqs, selectable := sel.Requirements()
	if !selectable {
		return sel
	}
	return labels.SelectorFromSet(set).Add(reqs...)
}

// getConstraints returns the pod's constraints with the action: its own
// when it declares any (of any action), otherwise the defaults.
func (pl *PodTopologySpread) getConstraints(pod *v1.Pod, action v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		cs, err := parseConstraints(pod.Spec.TopologySpreadConstraints, pod.Labels, action)
		if err != nil {
			return nil, fmt.Errorf("parsing the pod's %s topology spread constraints: %w", action, err)
		}
		return cs, nil
	}
	return pl.defaultConstraintsFor(pod, action)
}

// defaultConstraintsFor applies the cluster's default constraints with the
// action, all with the selector derived from the pod's Services and
// controller. A pod that belongs to none gets no default constraints.
func (pl *PodTopologySpread) defaultConstraintsFor(pod *v1.Pod, action v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	cs, err := parseConstraints(pl.defaultConstraints, pod.Labels, action)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	sel := pl.defaultSelector(pod)
	if sel.Empty() {
		return nil, nil
	}
	for i := range cs {
		cs[i].Selector = sel
	}
	return cs, nil
}

var (
	replicationControllerKind = v1.SchemeGroupVersion.WithKind("ReplicationController")
	replicaSetKind            = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	statefulSetKind           = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
)

// defaultSelector is the selector of the pod's "workload": the union of
// the selectors of the Services in its namespace that select it, plus the
// selector of its controlling ReplicationController, ReplicaSet or
// StatefulSet. Lookup failures leave the parts found so far.
func (pl *PodTopologySpread) defaultSelector(pod *v1.Pod) labels.Selector {
	set := labels.Set{}
	if pl.services != nil {
		if svcs, err := pl.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
			podLabels := labels.Set(pod.Labels)
			for _, svc := range svcs {
				// A Service without a selector selects nothing.
				if svc.Spec.Selector == nil {
					continue
				}
				if labels.Set(svc.Spec.Selector).AsSelectorPreValidated().Matches(podLabels) {
					set = labels.Merge(set, svc.Spec.Selector)
				}
			}
		}
	}
	sel := set.AsSelector()

	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return sel
	}
	gv, err := schema.ParseGroupVersion(owner.APIVersion)
	if err != nil {
		return sel
	}
	addRequirementsOf := func(ls *metav1.LabelSelector) {
		other, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return
		}
		if reqs, ok := other.Requirements(); ok {
			sel = sel.Add(reqs...)
		}
	}
	switch gv.WithKind(owner.Kind) {
	case replicationControllerKind:
		if pl.replicationControllers == nil {
			break
		}
		if rc, err := pl.replicationControllers.ReplicationControllers(pod.Namespace).Get(owner.Name); err == nil {
			sel = labels.Merge(set, rc.Spec.Selector).AsSelector()
		}
	case replicaSetKind:
		if pl.replicaSets == nil {
			break
		}
		if rs, err := pl.replicaSets.ReplicaSets(pod.Namespace).Get(owner.Name); err == nil {
			addRequirementsOf(rs.Spec.Selector)
		}
	case statefulSetKind:
		if pl.statefulSets == nil {
			break
		}
		if ss, err := pl.statefulSets.StatefulSets(pod.Namespace).Get(owner.Name); err == nil {
			addRequirementsOf(ss.Spec.Selector)
		}
	}
	return sel
}
