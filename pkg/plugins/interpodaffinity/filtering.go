package interpodaffinity

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// preFilterState is what Filter reads. It is written in PreFilter and then
// only read, except by AddPod/RemovePod, which preemption calls on a clone.
type preFilterState struct {
	pod *v1.Pod
	// nsLabels are the labels of the pod's namespace, for existing pods'
	// terms with a namespaceSelector.
	nsLabels labels.Set
	// affinity and antiAffinity are the pod's required terms, namespaces
	// resolved.
	affinity     []resolvedTerm
	antiAffinity []resolvedTerm
	// matchesOwnAffinity: the pod matches all its own affinity terms.
	matchesOwnAffinity bool

	// affinityCounts counts, for each affinity term's topology key, the
	// pods matching all affinity terms.
	affinityCounts topologyCounts
	// antiAffinityCounts counts the pods matching each anti-affinity term.
	antiAffinityCounts topologyCounts
	// existingAntiAffinityCounts counts existing pods whose required
	// anti-affinity terms match the incoming pod.
	existingAntiAffinityCounts topologyCounts
	// existingKeys are the topology keys of existingAntiAffinityCounts
	// (possibly with keys whose counts dropped to zero), so Filter looks up
	// only those among the node's labels.
	existingKeys []string
	// shared is set while the count maps are shared (with the incremental
	// cache or other clones) and must be copied before any change.
	shared bool
}

// Clone shares shared counts and copies private ones; the rest is never
// modified.
func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return nil
	}
	c := *s
	if !s.shared {
		c.own()
	}
	return &c
}

// own gives the state private copies of its counts.
func (s *preFilterState) own() {
	s.affinityCounts = s.affinityCounts.clone()
	s.antiAffinityCounts = s.antiAffinityCounts.clone()
	s.existingAntiAffinityCounts = s.existingAntiAffinityCounts.clone()
	s.shared = false
}

// updateWithPod counts (sign +1) or uncounts (-1) an existing pod on node.
func (s *preFilterState) updateWithPod(existing *podTerms, pod *v1.Pod, node *v1.Node, sign int64) {
	if s.shared {
		s.own()
	}
	for _, t := range existing.requiredAntiAffinity {
		if t.matches(s.pod, s.nsLabels) {
			s.existingAntiAffinityCounts.add(node, t.topologyKey, sign)
			if !slices.Contains(s.existingKeys, t.topologyKey) {
				// Never append into an array a clone may share.
				s.existingKeys = append(s.existingKeys[:len(s.existingKeys):len(s.existingKeys)], t.topologyKey)
			}
		}
	}
	if matchesAll(s.affinity, pod) {
		for i := range s.affinity {
			s.affinityCounts.add(node, s.affinity[i].topologyKey, sign)
		}
	}
	for i := range s.antiAffinity {
		if s.antiAffinity[i].matches(pod) {
			s.antiAffinityCounts.add(node, s.antiAffinity[i].topologyKey, sign)
		}
	}
}

// PreFilter counts, per topology pair, the pods matching the pod's
// required terms and the existing pods whose required anti-affinity
// rejects the pod. It returns Skip when neither side has anything.
func (pl *InterPodAffinity) PreFilter(ctx context.Context, cycleState *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	pt := pl.terms.get(pod)
	if pt.err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("parsing pod: %+v", pt.err))
	}
	r := resolver{lister: pl.nsLister}
	s := &preFilterState{pod: pod}
	var err error
	if s.affinity, err = r.resolveAll(pt.requiredAffinity); err != nil {
		return nil, framework.AsStatus(err)
	}
	if s.antiAffinity, err = r.resolveAll(pt.requiredAntiAffinity); err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(s.affinity) == 0 && len(s.antiAffinity) == 0 &&
		len(pl.handle.SnapshotSharedLister().NodeInfos().HavePodsWithRequiredAntiAffinityList()) == 0 {
		// Nothing to count on either side: the pod has no required terms
		// and no existing pod has required anti-affinity.
		return nil, framework.NewStatus(framework.Skip)
	}
	s.nsLabels = namespaceLabels(klog.FromContext(ctx), pl.nsLister, pod.Namespace)
	s.matchesOwnAffinity = matchesAll(s.affinity, pod)

	if pl.counts != nil {
		memo := matchMemo{pod: pod, nsLabels: s.nsLabels}
		anti := make([]int64, len(s.antiAffinity))
		pl.counts.fill(signature(pod, s), s, nodes, func(ni *framework.NodeInfo, out []contribution) []contribution {
			return pl.nodeContributions(s, &memo, anti, ni, out)
		})
	} else {
		s.affinityCounts, s.antiAffinityCounts, s.existingAntiAffinityCounts = topologyCounts{}, topologyCounts{}, topologyCounts{}
		pl.countExistingAntiAffinity(s, pl.handle.SnapshotSharedLister().NodeInfos().HavePodsWithRequiredAntiAffinityList())
		if len(s.affinity) > 0 || len(s.antiAffinity) > 0 {
			countIncomingTerms(s, nodes)
		}
	}
	for key := range s.existingAntiAffinityCounts {
		s.existingKeys = append(s.existingKeys, key)
	}
	if len(s.existingAntiAffinityCounts) == 0 && len(s.affinity) == 0 && len(s.antiAffinity) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	cycleState.Write(preFilterStateKey, s)
	return nil, nil
}

// countExistingAntiAffinity reads only the pods with required
// anti-affinity. Their terms are interned, so each distinct term is
// matched against the incoming pod once.
func (pl *InterPodAffinity) countExistingAntiAffinity(s *preFilterState, nodes []*framework.NodeInfo) {
	memo := matchMemo{pod: s.pod, nsLabels: s.nsLabels}
	for _, ni := range nodes {
		node := ni.Node()
		if node == nil {
			continue
		}
		for _, pi := range ni.PodsWithRequiredAntiAffinity {
			for _, t := range pl.terms.get(pi.Pod).requiredAntiAffinity {
				if memo.matches(t) {
					s.existingAntiAffinityCounts.add(node, t.topologyKey, 1)
				}
			}
		}
	}
}

// countIncomingTerms matches the pod's own required terms against every
// pod of every node. Counts are accumulated per node first so each node
// costs at most one map update per term.
func countIncomingTerms(s *preFilterState, nodes []*framework.NodeInfo) {
	anti := make([]int64, len(s.antiAffinity))
	for _, ni := range nodes {
		node := ni.Node()
		if node == nil || len(ni.Pods) == 0 {
			continue
		}
		aff := s.matchNodePods(ni, anti)
		if aff > 0 {
			for i := range s.affinity {
				s.affinityCounts.add(node, s.affinity[i].topologyKey, aff)
			}
		}
		for i, n := range anti {
			if n > 0 {
				s.antiAffinityCounts.add(node, s.antiAffinity[i].topologyKey, n)
			}
		}
	}
}

// matchNodePods matches the incoming pod's own required terms against the
// pods of one node: it returns how many match every affinity term and
// fills anti (len(s.antiAffinity), cleared first) with the matches per
// anti-affinity term.
func (s *preFilterState) matchNodePods(ni *framework.NodeInfo, anti []int64) (aff int64) {
	clear(anti)
	for _, pi := range ni.Pods {
		p := pi.Pod
		if matchesAll(s.affinity, p) {
			aff++
		}
		for i := range s.antiAffinity {
			if s.antiAffinity[i].matches(p) {
				anti[i]++
			}
		}
	}
	return aff
}

// PreFilterExtensions returns the plugin: its counts follow pods that
// preemption adds or removes.
func (pl *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts a pod added to nodeInfo.
func (pl *InterPodAffinity) AddPod(_ context.Context, cycleState *framework.CycleState, _ *v1.Pod, podInfoToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(cycleState)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pl.terms.get(podInfoToAdd.Pod), podInfoToAdd.Pod, nodeInfo.Node(), 1)
	return nil
}

// RemovePod uncounts a pod removed from nodeInfo.
func (pl *InterPodAffinity) RemovePod(_ context.Context, cycleState *framework.CycleState, _ *v1.Pod, podInfoToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(cycleState)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pl.terms.get(podInfoToRemove.Pod), podInfoToRemove.Pod, nodeInfo.Node(), -1)
	return nil
}

func getPreFilterState(cycleState *framework.CycleState) (*preFilterState, error) {
	return framework.ReadState[*preFilterState](cycleState, preFilterStateKey)
}

// Filter applies the three checks in kube-scheduler's order. A failed
// affinity is UnschedulableAndUnresolvable (evicting pods cannot create a
// matching pod); the anti-affinity checks are Unschedulable, since
// preemption can remove the offending pods.
func (pl *InterPodAffinity) Filter(_ context.Context, cycleState *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(cycleState)
	if err != nil {
		return framework.AsStatus(err)
	}
	node := nodeInfo.Node()
	if node == nil {
		return framework.NewStatus(framework.Error, "node not found")
	}
	if !s.satisfiesAffinity(node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	if !s.satisfiesAntiAffinity(node) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	}
	if len(s.existingAntiAffinityCounts) > 0 && s.rejectedByExisting(node) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
	}
	return nil
}

// satisfiesAffinity: the node has every term's topology key, and each of
// its domains holds a pod matching all terms — unless no such pod exists
// anywhere and the pod matches its own terms (the first pod of a group
// that wants to be together may go anywhere the keys exist).
func (s *preFilterState) satisfiesAffinity(node *v1.Node) bool {
	if len(s.affinity) == 0 {
		return true
	}
	podsExist := true
	for i := range s.affinity {
		key := s.affinity[i].topologyKey
		value, ok := node.Labels[key]
		if !ok {
			return false
		}
		if s.affinityCounts.get(key, value) <= 0 {
			podsExist = false
		}
	}
	if podsExist {
		return true
	}
	return len(s.affinityCounts) == 0 && s.matchesOwnAffinity
}

// rejectedByExisting: a domain of the node holds an existing pod whose
// anti-affinity selects the pod.
func (s *preFilterState) rejectedByExisting(node *v1.Node) bool {
	for _, key := range s.existingKeys {
		if value, ok := node.Labels[key]; ok && s.existingAntiAffinityCounts.get(key, value) > 0 {
			return true
		}
	}
	return false
}

// satisfiesAntiAffinity: no domain of the node on an anti-affinity term's
// key holds a pod matching that term.
func (s *preFilterState) satisfiesAntiAffinity(node *v1.Node) bool {
	if len(s.antiAffinityCounts) == 0 {
		return true
	}
	for i := range s.antiAffinity {
		key := s.antiAffinity[i].topologyKey
		if value, ok := node.Labels[key]; ok && s.antiAffinityCounts.get(key, value) > 0 {
			return false
		}
	}
	return true
}
