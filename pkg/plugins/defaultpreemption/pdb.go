package defaultpreemption

import (
	policy "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	policylisters "k8s.io/client-go/listers/policy/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// listPDBs returns every PodDisruptionBudget the informer holds.
func listPDBs(l policylisters.PodDisruptionBudgetLister) ([]*policy.PodDisruptionBudget, error) {
	if l == nil {
		return nil, nil
	}
	return l.List(labels.Everything())
}

// splitByPDBViolation splits pods (in the order given) into those whose
// eviction would exceed a matching PDB's status.disruptionsAllowed, counted
// cumulatively over the list, and the others. Pods the PDB already lists
// as disrupted do not consume its budget again.
func splitByPDBViolation(pods []*framework.PodInfo, pdbs []*policy.PodDisruptionBudget) (violating, others []*framework.PodInfo) {
	if len(pdbs) == 0 {
		return nil, pods
	}
	allowed := make([]int32, len(pdbs))
	selectors := make([]labels.Selector, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() {
			// An invalid, nil or empty selector matches no pod.
			sel = labels.Nothing()
		}
		selectors[i] = sel
	}
	for _, pi := range pods {
		p := pi.Pod
		violates := false
		if len(p.Labels) > 0 {
			for i, pdb := range pdbs {
				if pdb.Namespace != p.Namespace || !selectors[i].Matches(labels.Set(p.Labels)) {
					continue
				}
				if _, done := pdb.Status.DisruptedPods[p.Name]; done {
					continue
				}
				allowed[i]--
				if allowed[i] < 0 {
					violates = true
					break
				}
			}
		}
		if violates {
			violating = append(violating, pi)
		} else {
			others = append(others, pi)
		}
	}
	return violating, others
}
