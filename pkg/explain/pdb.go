package explain

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berthsched/berth/pkg/framework"
)

// SetPodDisruptionBudgets gives the explainer the cluster's PDBs, so
// preemption what-ifs pick victims as berth's preemption does (sparing
// PDB-protected pods first, preferring nodes with the fewest violations)
// and say which victims a budget protects. Without them no pod counts as
// protected.
func (x *Explainer) SetPodDisruptionBudgets(pdbs []*policyv1.PodDisruptionBudget) {
	x.pdbs = pdbs
}

// budgetCheck tells which evictions, taken in order, would exceed a
// matching budget's status.disruptionsAllowed.
type budgetCheck struct {
	pdbs      []*policyv1.PodDisruptionBudget
	selectors []labels.Selector
}

func newBudgetCheck(pdbs []*policyv1.PodDisruptionBudget) *budgetCheck {
	b := &budgetCheck{pdbs: pdbs, selectors: make([]labels.Selector, len(pdbs))}
	for i, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() {
			// A budget with no usable selector protects nothing.
			sel = labels.Nothing()
		}
		b.selectors[i] = sel
	}
	return b
}

// protected returns, for pods evicted in the given order, which of them
// would break a budget: each eviction spends one allowed disruption of
// every budget selecting the pod (pods a budget already counts as
// disrupted spend nothing), and a pod breaks a budget once one it spends
// from is overdrawn.
func (b *budgetCheck) protected(pods []*framework.PodInfo) []bool {
	out := make([]bool, len(pods))
	if len(b.pdbs) == 0 {
		return out
	}
	left := make([]int32, len(b.pdbs))
	for i, pdb := range b.pdbs {
		left[i] = pdb.Status.DisruptionsAllowed
	}
	for j, pi := range pods {
		p := pi.Pod
		if len(p.Labels) == 0 {
			continue
		}
		for i, pdb := range b.pdbs {
			if pdb.Namespace != p.Namespace || !b.selectors[i].Matches(labels.Set(p.Labels)) {
				continue
			}
			if _, already := pdb.Status.DisruptedPods[p.Name]; already {
				continue
			}
			left[i]--
			if left[i] < 0 {
				out[j] = true
				break
			}
		}
	}
	return out
}
