package podtopologyspread

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// preFilterState is what Filter reads: the pod's DoNotSchedule constraints
// and, per constraint, the matching pods per domain and the global minimum.
type preFilterState struct {
	constraints []constraint
	// selfMatch[i] is 1 when the pod matches constraint i's selector: it
	// would add itself to the domain it lands in.
	selfMatch []int
	// lay maps nodes to domains; shared with the tally, never modified.
	lay *layout
	// slotOfInfo finds the slot of a NodeInfo PreFilter was given (nil
	// when unknown, e.g. a copy made by preemption: lay.slotOf then).
	slotOfInfo map[*framework.NodeInfo]int32
	// totals[i][d] is the number of matching pods in domain d of constraint
	// i over the nodes that take part, or -1 when no such node is in d (d
	// is then not a domain: it neither counts for minDomains nor bounds
	// the minimum).
	totals [][]int32
	// minMatch[i] is the global minimum the skew is measured from: 0 when
	// there are fewer domains than minDomains.
	minMatch []int
	// adj are AddPod/RemovePod changes on top of totals (preemption).
	adj []adjustment
	// details[i] name constraint i in a rejection, built once per pod
	// rather than once per rejected node.
	details []rejectionDetail
}

// rejectionDetail is berth's fuller wording of the two rejections.
type rejectionDetail struct {
	skew, missingLabel error
}

// adjustment is a change of a domain's count made by AddPod or RemovePod.
// dom is -1 for a value the layout does not know; val names it then.
type adjustment struct {
	constraint int
	dom        int32
	val        string
	delta      int
}

// Clone shares the immutable parts and copies what AddPod/RemovePod change.
func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return nil
	}
	out := *s
	out.minMatch = slices.Clone(s.minMatch)
	out.adj = slices.Clone(s.adj)
	return &out
}

// PreFilter brings the tally for the pod's DoNotSchedule constraints up to
// date and snapshots it into the cycle state. A pod without such
// constraints skips Filter.
func (pl *PodTopologySpread) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	cs, err := pl.getConstraints(pod, v1.DoNotSchedule)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{
		constraints: cs,
		selfMatch:   make([]int, len(cs)),
		totals:      make([][]int32, len(cs)),
		minMatch:    make([]int, len(cs)),
		details:     make([]rejectionDetail, len(cs)),
	}
	podLabels := labels.Set(pod.Labels)
	for i := range cs {
		if cs[i].Selector.Matches(podLabels) {
			s.selfMatch[i] = 1
		}
		s.details[i] = rejectionDetail{
			skew:         fmt.Errorf("%s (%s, maxSkew %d)", ErrReasonConstraintsNotMatch, cs[i].TopologyKey, cs[i].MaxSkew),
			missingLabel: fmt.Errorf("%s (missing required label %s)", ErrReasonConstraintsNotMatch, cs[i].TopologyKey),
		}
	}

	pl.tallies.mu.Lock()
	t := pl.tallies.syncedTally(klog.FromContext(ctx), pod, cs, true, nodes)
	s.lay = t.publish()
	s.slotOfInfo = t.slotOfInfo
	size := 0
	for i := range cs {
		size += len(t.domNodes[i])
	}
	buf := make([]int32, size)
	for i := range cs {
		n := len(t.domNodes[i])
		tot := buf[:n:n]
		buf = buf[n:]
		for d, nodes := range t.domNodes[i] {
			if nodes > 0 {
				tot[d] = t.domTotals[i][d]
			} else {
				tot[d] = -1
			}
		}
		s.totals[i] = tot
	}
	pl.tallies.mu.Unlock()

	for i := range cs {
		s.computeMin(i)
	}
	state.Write(preFilterStateKey, s)
	return nil, nil
}

// computeMin sets minMatch[i] from the totals and adjustments.
func (s *preFilterState) computeMin(i int) {
	lowest, domains := math.MaxInt32, 0
	var byDom map[int32]int
	var byVal map[string]int
	for _, a := range s.adj {
		if a.constraint != i {
			continue
		}
		if a.dom >= 0 {
			if byDom == nil {
				byDom = map[int32]int{}
			}
			byDom[a.dom] += a.delta
		} else {
			if byVal == nil {
				byVal = map[string]int{}
			}
			byVal[a.val] += a.delta
		}
	}
	for d, tot := range s.totals[i] {
		n, present := int(tot), tot >= 0
		if delta, ok := byDom[int32(d)]; ok {
			n, present = max(n, 0)+delta, true
		}
		if present {
			domains++
			lowest = min(lowest, n)
		}
	}
	// Values outside the layout became domains through AddPod.
	for _, n := range byVal {
		domains++
		lowest = min(lowest, n)
	}
	if domains < int(s.constraints[i].MinDomains) {
		lowest = 0
	}
	s.minMatch[i] = lowest
}

// matchNum is the number of matching pods in the node's domain d of
// constraint i (val is the node's value, needed only for adjustments to
// values outside the layout).
func (s *preFilterState) matchNum(i int, d int32, node *v1.Node) int {
	n := 0
	if d >= 0 && s.totals[i][d] > 0 {
		n = int(s.totals[i][d])
	}
	if len(s.adj) == 0 {
		return n
	}
	val := node.Labels[s.constraints[i].TopologyKey]
	for _, a := range s.adj {
		if a.constraint == i && ((d >= 0 && a.dom == d) || (d < 0 && a.dom < 0 && a.val == val)) {
			n += a.delta
		}
	}
	return n
}

func getPreFilterState(state *framework.CycleState) (*preFilterState, error) {
	return framework.ReadState[*preFilterState](state, preFilterStateKey)
}

// Filter rejects the node when it lacks a constraint's topology key
// (unresolvable) or when the pod there would put its domain more than
// maxSkew above the global minimum (unschedulable: pods leaving may help).
// Constraints are checked in the pod's order and the first failure wins.
//
// The status carries kube-scheduler's reason only, so reasons stay
// comparable and countable across nodes; which constraint failed (its
// topology key and maxSkew) is attached as the status's error, readable
// with Status.AsError, and logged at V(5).
func (pl *PodTopologySpread) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(errors.New("node not found"))
	}
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.constraints) == 0 {
		return nil
	}
	lay := s.lay
	slot, synced := s.slotOfInfo[nodeInfo]
	if !synced {
		slot, synced = lay.slotOf[node.Name]
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		var d int32
		var missing bool
		if synced {
			j := int(slot)*lay.nc + i
			d, missing = lay.dom[j], lay.missing[j]
		} else {
			d, missing = lay.domainOfNode(node, i, c.TopologyKey, true)
		}
		if missing {
			if logger := klog.FromContext(ctx).V(5); logger.Enabled() {
				logger.Info("Node lacks a topology key of the pod's spread constraints",
					"pod", klog.KObj(pod), "node", klog.KObj(node), "topologyKey", c.TopologyKey)
			}
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch).
				WithError(s.details[i].missingLabel)
		}
		match := s.matchNum(i, d, node)
		if skew := match + s.selfMatch[i] - s.minMatch[i]; skew > int(c.MaxSkew) {
			if logger := klog.FromContext(ctx).V(5); logger.Enabled() {
				logger.Info("Node would exceed maxSkew of a topology spread constraint",
					"pod", klog.KObj(pod), "node", klog.KObj(node), "topologyKey", c.TopologyKey,
					"matchNum", match, "selfMatch", s.selfMatch[i], "minMatchNum", s.minMatch[i], "maxSkew", c.MaxSkew)
			}
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch).
				WithError(s.details[i].skew)
		}
	}
	return nil
}

// PreFilterExtensions returns the plugin: it updates its state when
// preemption adds or removes pods.
func (pl *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts podInfoToAdd as if it ran on nodeInfo.
func (pl *PodTopologySpread) AddPod(ctx context.Context, state *framework.CycleState, podToSchedule *v1.Pod, podInfoToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return pl.updateWithPod(ctx, state, podToSchedule, podInfoToAdd.Pod, nodeInfo.Node(), 1)
}

// RemovePod stops counting podInfoToRemove on nodeInfo.
func (pl *PodTopologySpread) RemovePod(ctx context.Context, state *framework.CycleState, podToSchedule *v1.Pod, podInfoToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return pl.updateWithPod(ctx, state, podToSchedule, podInfoToRemove.Pod, nodeInfo.Node(), -1)
}

// updateWithPod applies kube-scheduler's rules: only pods of the incoming
// pod's namespace, on nodes with every topology key, for the constraints
// whose selector matches the pod and whose inclusion policies admit the
// node. (Terminating pods and empty selectors are not special here, as
// upstream.)
func (pl *PodTopologySpread) updateWithPod(ctx context.Context, state *framework.CycleState, podToSchedule, changed *v1.Pod, node *v1.Node, delta int) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if changed.Namespace != podToSchedule.Namespace || node == nil || !hasAllKeys(node.Labels, s.constraints) {
		return nil
	}
	needAffinity, needTaints := policyNeeds(s.constraints)
	var aff nodeaffinity.RequiredNodeAffinity
	if needAffinity {
		aff = nodeaffinity.GetRequiredNodeAffinity(podToSchedule)
	}
	elig := eligibilityOf(klog.FromContext(ctx), podToSchedule, node, aff, needAffinity, needTaints)
	podLabels := labels.Set(changed.Labels)
	for i := range s.constraints {
		c := &s.constraints[i]
		if !c.Selector.Matches(podLabels) || !c.includes(elig) {
			continue
		}
		d, _ := s.lay.domainOfNode(node, i, c.TopologyKey, true)
		a := adjustment{constraint: i, dom: d, delta: delta}
		if d < 0 {
			a.val = node.Labels[c.TopologyKey]
		}
		s.adj = append(s.adj, a)
		s.computeMin(i)
	}
	return nil
}
